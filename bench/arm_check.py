"""ARM64 check: run the torch-free runtime and every artifact on aarch64 under user-mode
emulation (qemu-aarch64-static, no binfmt_misc), and compare each transcript with the same
artifact run natively on x86.

    python bench/arm_check.py                       # every artifacts/tiny.en-* artifact
    python bench/arm_check.py artifacts/tiny.en-ort-int8-dynamic --clips 2

Built once and cached under .cache/arm64/ (git-ignored):
  root/    a Debian bookworm arm64 root: `debootstrap --foreign --variant=minbase
           --include=python3,python3-venv`, whose downloaded .debs are unpacked with `dpkg -x`
           (nothing is configured; the emulated Python 3.11 only needs the files);
  wheels/  aarch64 wheels of the runtime's dependencies (the versions pinned in pyproject.toml)
           plus onnxruntime and openvino;
  site/    those wheels installed with `pip install --target`, plus the project's own pure-Python
           wheel (rebuilt whenever its sources change).

The emulated interpreter runs inside `unshare -m` with a fake /proc/cpuinfo bind-mounted
(bench/arm/cpuinfo-a72.txt: Raspberry Pi 4, bench/arm/cpuinfo-a76.txt: Raspberry Pi 5), and qemu
emulates the matching core (`-cpu cortex-a72` / `cortex-a76`), so the instruction-set features
the kernels detect (HWCAP) agree with what /proc/cpuinfo says. Without an ARM /proc/cpuinfo
onnxruntime's cpuinfo library segfaults at import under qemu.

Checks (exit status 1 if one fails):
- for each emulated CPU, `edgeasr.runtime.system.describe()` from inside the emulated process
  names the core and its features (A72: NEON only; A76: NEON, dotprod, fp16; no i8mm);
- fp32 ONNX Runtime artifacts give identical text on ARM and x86, clip for clip;
- every other artifact (quantized; and OpenVINO, whose ARM kernels are not x86's) keeps its WER
  on the subset within --wer-tolerance points (default 0.5) of the x86 WER;
- OpenVINO artifacts run with the precision their manifest asks for (f32), and the ov-fp32
  artifact is also run at the ARM plugin's own default (f16 on cores with fp16 arithmetic),
  which must be what OpenVINO reports using and stay within the same WER tolerance.

This file is also the worker that the emulated (or native) interpreter runs (`--worker`): the
top of the module imports the standard library and its siblings only (arm_root: the arm64 root
and the emulated commands; arm_compare: the rows and the table), which import nothing else.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, also when loaded by path

from arm_compare import check_probe, compare, print_table
from arm_root import (
    CACHE,
    CPUS,
    REPO,
    CheckError,
    cache_lock,
    log,
    prepare,
    run_emulated,
    run_native,
)


def run_jobs(runner, runs: list[dict], clips: list[str], threads: int, workdir: Path, tag: str) -> dict[str, dict]:
    """Run `runs` through worker processes; a worker that dies (segfault, abort) loses only the
    run it was in: that one is recorded as failed and a new worker takes the rest."""
    results: dict[str, dict] = {}
    todo = list(runs)
    while todo:
        job, out = workdir / f"{tag}-job.json", workdir / f"{tag}-out.json"
        job.write_text(json.dumps({"runs": todo, "clips": clips, "threads": threads}))
        out.unlink(missing_ok=True)
        proc = runner([str(Path(__file__).resolve()), "--worker", str(job), str(out)])
        done = json.loads(out.read_text())["runs"] if out.is_file() else []
        for r in done:
            results[r["label"]] = r
        todo = [r for r in todo if r["label"] not in results]
        if proc.returncode != 0 and todo:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            lost = todo.pop(0)
            results[lost["label"]] = {**lost, "error": f"worker exited with status {proc.returncode}:\n{tail}"}
        elif todo:
            raise CheckError(f"the {tag} worker stopped without results for {todo[0]['label']}")
    return results


# --------------------------------------------------------------------------------------------
# The worker (runs under emulation or natively; imports edgeasr.runtime from its sys.path)


def probe() -> dict:
    """What the runtime and both backends see on this machine."""
    from edgeasr.runtime.system import cpu_info, describe

    info: dict = {"machine": platform.machine(), "python": sys.version.split()[0], "describe": describe()}
    info["cpu_info"] = cpu_info()
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
    except Exception as exc:  # report, do not stop: the checks say what failed
        info["onnxruntime"] = f"error: {exc}"
    try:
        import openvino as ov

        core = ov.Core()
        info["openvino"] = ov.get_version().split("-")[0]
        info["openvino_capabilities"] = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        info["openvino_default_precision"] = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
    except Exception as exc:
        info["openvino"] = f"error: {exc}"
    return info


def worker(job_path: str, out_path: str) -> int:
    """Transcribe the job's clips with each run's artifact; results are written after each run."""
    job = json.loads(Path(job_path).read_text())
    out = Path(out_path)
    results: dict = {"probe": None, "runs": []}
    if job.get("probe"):
        results["probe"] = probe()
        out.write_text(json.dumps(results))
    if not job.get("runs"):
        return 0
    from edgeasr.runtime import load_model

    for run in job["runs"]:
        t = time.perf_counter()
        rec = dict(run)
        try:
            model = load_model(run["artifact"], threads=job["threads"], precision=run.get("precision"))
            loaded = time.perf_counter()
            texts = [tr.text for tr in model.transcribe(list(job["clips"]))]
            rec.update(
                backend=model.backend,
                used_precision={name: g.precision for name, g in model.runtime.graphs.items()},
                texts=texts,
                load_s=loaded - t,
                error=None,
            )
        except Exception as exc:
            rec.update(error=f"{type(exc).__name__}: {exc}")
        rec["seconds"] = time.perf_counter() - t
        results["runs"].append(rec)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(results))
        tmp.replace(out)
    return 0


# --------------------------------------------------------------------------------------------
# Host side: what to run, comparison, table


def default_artifacts(model: str = "tiny.en") -> list[Path]:
    """Every artifacts/<model>-* with a manifest.json; the bare `-onnx`/`-openvino` exports are
    left out when a profile artifact holds the same graph files (same sha256), as ort-fp32 and
    ov-fp32 do: running them again would only repeat those rows."""
    arts = sorted(p for p in (REPO / "artifacts").glob(f"{model}-*") if (p / "manifest.json").is_file())

    def graphs(p: Path) -> tuple:
        m = json.loads((p / "manifest.json").read_text())
        files = {m["graphs"][g]["file"] for g in m["graphs"]}
        files |= {f.rsplit(".", 1)[0] + ".bin" for f in files if f.endswith(".xml")}
        return tuple(sorted((f, i["sha256"]) for f, i in m["files"].items() if f in files))

    profiles = [p for p in arts if p.name not in (f"{model}-onnx", f"{model}-openvino")]
    known = {graphs(p) for p in profiles}
    bare = [p for p in arts if p not in profiles]
    kept = [p for p in bare if graphs(p) not in known]
    for p in bare:
        if p not in kept:
            log(f"leaving out {p.name}: same graphs as a profile artifact")
    return sorted(kept + profiles, key=lambda p: p.name)


def plan_runs(artifacts: list[Path], arm_default: str = "f16") -> list[dict]:
    """One run per artifact at its own precision hint, plus OpenVINO fp32 artifacts again at the
    ARM plugin's default precision (`precision` = arm_default; ARM only, compared with x86 f32)."""
    runs = []
    for a in artifacts:
        m = json.loads((a / "manifest.json").read_text())
        prec = (m.get("profile") or {}).get("precision") or "fp32"
        hint = (m.get("runtime") or {}).get("inference_precision")
        base = {"artifact": str(a), "name": a.name, "backend": m["backend"], "stored": prec, "hint": hint}
        runs.append({**base, "label": a.name, "precision": None})
        if m["backend"] == "openvino" and prec == "fp32":
            runs.append({**base, "label": f"{a.name} @{arm_default}", "precision": arm_default, "arm_only": True})
    return runs


def pick_clips(manifest: Path, n: int, kind: str) -> list[tuple[str, str]]:
    """The first n clips of `kind`: (absolute audio path, reference text)."""
    out = []
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("kind", "clean") == kind:
            out.append((str((manifest.parent / row["audio"]).resolve()), row["text"]))
        if len(out) == n:
            break
    if not out:
        raise CheckError(f"{manifest}: no clip of kind {kind!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("artifacts", nargs="*", type=Path, help="artifact dirs (default: every artifacts/tiny.en-*)")
    ap.add_argument("--manifest", type=Path, default=REPO / "data/eval/manifest.jsonl")
    ap.add_argument("--kind", default="clean", help="clip kind to take from the manifest")
    ap.add_argument("--clips", type=int, default=5, help="first N clips of --kind")
    ap.add_argument("--cpus", default="a76", help="emulated cores the artifacts run on: a76, a72 or a76,a72")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wer-tolerance", type=float, default=0.5, help="WER points ARM may differ from x86")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--mirror", help="Debian mirror for debootstrap (default: the one apt uses)")
    ap.add_argument("--no-install", action="store_true", help="fail instead of apt-get installing missing tools")
    ap.add_argument("--json", type=Path, help="write every result here")
    ap.add_argument("--worker", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(*args.worker)

    t0 = time.perf_counter()
    cpus = [c.strip() for c in args.cpus.split(",") if c.strip()]
    if not cpus or any(c not in CPUS for c in cpus):
        ap.error(f"--cpus: choose from {', '.join(CPUS)}")
    artifacts = [a.resolve() for a in args.artifacts] or default_artifacts()
    if not artifacts:
        ap.error("no artifact given and none found under artifacts/ (make artifacts)")
    for a in artifacts:
        if not (a / "manifest.json").is_file():
            ap.error(f"{a}: not an artifact directory (no manifest.json)")
    clips = pick_clips(args.manifest, args.clips, args.kind)
    paths, refs = [c[0] for c in clips], [c[1] for c in clips]
    runs = plan_runs(artifacts)
    failures: list[str] = []
    report: dict = {"clips": paths, "refs": refs, "probes": {}, "rows": {}}

    with cache_lock(args.cache):
        try:
            root, site = prepare(args.cache, not args.no_install, args.mirror)
        except CheckError as exc:
            log(f"error: {exc}")
            return 2
        t_setup = time.perf_counter() - t0
        log(
            f"setup {t_setup:.0f} s; {len(artifacts)} artifacts, {len(paths)} {args.kind} clips, {args.threads} threads"
        )
        work = args.cache / "run"
        work.mkdir(exist_ok=True)

        # what the runtime sees on each emulated core
        for cpu in CPUS:
            job = work / f"probe-{cpu}.json"
            job.write_text(json.dumps({"probe": True, "runs": []}))
            out = work / f"probe-{cpu}-out.json"
            out.unlink(missing_ok=True)
            proc = run_emulated(root, cpu, [str(Path(__file__).resolve()), "--worker", str(job), str(out)], site)
            info = json.loads(out.read_text())["probe"] if out.is_file() else None
            report["probes"][cpu] = info
            problems = check_probe(cpu, info)
            if info is None:
                problems.append(f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-1500:]}")
            print(f"{cpu} ({CPUS[cpu][2]}, qemu -cpu {CPUS[cpu][0]}): describe() = {info and info['describe']}")
            if info:
                print(
                    f"    Python {info['python']} {info['machine']}; onnxruntime {info.get('onnxruntime')}; "
                    f"openvino {info.get('openvino')}, CPU capabilities {info.get('openvino_capabilities')}, "
                    f"default inference precision {info.get('openvino_default_precision')}"
                )
            for p in problems:
                print(f"    FAIL: {p}")
                failures.append(f"{cpu} probe: {p}")

        log("x86 (native) runs")
        t = time.perf_counter()
        x86 = run_jobs(run_native, [r for r in runs if not r.get("arm_only")], paths, args.threads, work, "x86")
        log(f"x86 done in {time.perf_counter() - t:.0f} s")
        for cpu in cpus:
            log(f"aarch64 runs under emulation ({CPUS[cpu][3]}); minutes per artifact")
            t = time.perf_counter()

            def runner(a: list[str], cpu: str = cpu) -> subprocess.CompletedProcess:
                return run_emulated(root, cpu, a, site)

            arm = run_jobs(runner, runs, paths, args.threads, work, f"arm-{cpu}")
            log(f"aarch64 ({cpu}) done in {time.perf_counter() - t:.0f} s")
            rows = []
            for run in runs:
                ref_run = x86[run["name"]] if run.get("arm_only") else x86[run["label"]]
                rows.append(compare(run, ref_run, arm[run["label"]], refs, args.wer_tolerance))
            print_table(rows, cpu)
            failures += [f"{cpu} {r['label']}: {p}" for r in rows for p in r["problems"]]
            report["rows"][cpu] = rows
            report.setdefault("arm", {})[cpu] = arm
        report["x86"] = x86

    total = time.perf_counter() - t0
    report.update(failures=failures, seconds=total, setup_seconds=t_setup)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\ntotal {total:.0f} s (setup {t_setup:.0f} s)")
    if failures:
        print(f"ARM check FAILED ({len(failures)}):")
        for f in failures:
            print(f"  {f}")
        return 1
    print("ARM check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
