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
top of the module imports the standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "arm64"
HERE = Path(__file__).resolve().parent
SUITE = "bookworm"
PY = "python3.11"
PLATFORMS = ["manylinux_2_35_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"]
BACKEND_EXTRAS = ("onnxruntime", "openvino")
# executable -> the Debian package that provides it
TOOLS = {"qemu-aarch64-static": "qemu-user-static", "debootstrap": "debootstrap"}
# name -> (qemu -cpu model, fake /proc/cpuinfo, board, core describe() must name, features it must list)
CPUS = {
    "a72": ("cortex-a72", HERE / "arm" / "cpuinfo-a72.txt", "Raspberry Pi 4", "Cortex-A72", ["NEON"]),
    "a76": (
        "cortex-a76",
        HERE / "arm" / "cpuinfo-a76.txt",
        "Raspberry Pi 5",
        "Cortex-A76",
        ["NEON", "dotprod", "fp16"],
    ),
}
CHECKED_FEATURES = ("NEON", "dotprod", "i8mm", "fp16")
PROJECT_SOURCES = ("pyproject.toml", "README.md", "runtime", "export", "quantize", "profiles")


def log(msg: str) -> None:
    print(f"arm-check: {msg}", flush=True)


class CheckError(RuntimeError):
    """A setup step that cannot go on (missing tool, failed download, broken root)."""


# --------------------------------------------------------------------------------------------
# Host tools


def missing_packages() -> list[str]:
    """Debian packages whose tools this check needs and that are not installed."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return sorted({pkg for exe, pkg in TOOLS.items() if shutil.which(exe, path=path) is None})


def install_command(packages: list[str]) -> str:
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get update && {sudo}apt-get install -y {' '.join(packages)}"


def ensure_tools(install: bool = True) -> None:
    """Install qemu-user-static and debootstrap with apt-get when they are missing."""
    missing = missing_packages()
    if not missing:
        return
    cmd = install_command(missing)
    if not install:
        raise CheckError(f"the ARM64 check needs the Debian packages {' '.join(missing)}; run: {cmd}")
    log(f"installing the Debian packages {' '.join(missing)} (aarch64 emulation and root building): {cmd}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    ok = subprocess.run([*sudo, "apt-get", "update", "-qq"], env=env).returncode == 0
    ok = ok and subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], env=env).returncode == 0
    if not ok or missing_packages():
        raise CheckError(f"could not install {' '.join(missing)}; run: {cmd}")


def tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")
    if not found:
        raise CheckError(f"{name} not found; run: {install_command([TOOLS.get(name, name)])}")
    return found


def apt_mirror() -> str:
    """The Debian mirror apt is configured with for bookworm (one-line .list or deb822 .sources)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line and not line.startswith("#") and ":" in line:
                        k, _, v = line.partition(":")
                        fields[k.strip().lower()] = v.split()
                if "deb" in fields.get("types", []) and SUITE in fields.get("suites", []) and fields.get("uris"):
                    return fields["uris"][0]
        else:
            for line in text.splitlines():
                parts = [p for p in line.split() if not p.startswith("[")] if not line.startswith("#") else []
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                    return parts[1]
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def cache_lock(cache: Path):
    """One ARM check at a time per cache (they share the root and the site folder)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another ARM check that holds {cache / '.lock'}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------------------------
# The arm64 root


def ensure_root(cache: Path, mirror: str | None = None) -> Path:
    """A bookworm arm64 root with Python 3.11, built once (debootstrap --foreign + dpkg -x)."""
    root = cache / "root"
    if (root / ".edgeasr-root-ok").is_file():
        return root
    mirror = mirror or apt_mirror()
    part = cache / "root.partial"
    shutil.rmtree(part, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    log(f"building a Debian {SUITE} arm64 root in {root} from {mirror} (once; about a minute)")
    cmd = [
        tool("debootstrap"),
        "--foreign",
        "--arch=arm64",
        "--variant=minbase",
        "--include=python3,python3-venv",
        SUITE,
        str(part),
        mirror,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise CheckError(f"debootstrap failed ({res.returncode}):\n{(res.stdout + res.stderr)[-3000:]}")
    debs = sorted((part / "var/cache/apt/archives").glob("*.deb"))
    if not any(d.name.startswith("python3.11-minimal_") for d in debs):
        raise CheckError(f"debootstrap downloaded no python3.11 package into {part}/var/cache/apt/archives")
    dpkg = tool("dpkg")
    for deb in debs:
        res = subprocess.run([dpkg, "-x", str(deb), str(part)], capture_output=True, text=True)
        if res.returncode != 0:
            raise CheckError(f"dpkg -x {deb.name} failed: {res.stderr.strip()}")
        deb.unlink()
    part.rename(root)
    out = run_emulated(root, None, ["-c", "import sys, platform; print(platform.machine(), sys.version.split()[0])"])
    if out.returncode != 0 or "aarch64" not in out.stdout:
        raise CheckError(f"the arm64 root does not run Python:\n{out.stdout}{out.stderr}")
    (root / ".edgeasr-root-ok").write_text(out.stdout)
    log(f"arm64 root ready: Python {out.stdout.split()[1]} ({len(debs)} packages, {time.perf_counter() - t:.0f} s)")
    return root


# --------------------------------------------------------------------------------------------
# aarch64 wheels


def requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The runtime's dependencies as pinned in pyproject.toml, plus both backends' pins."""
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in BACKEND_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return reqs


def _pip() -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _platform_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
    for p in PLATFORMS:
        args += ["--platform", p]
    return args


def ensure_site(cache: Path) -> Path:
    """aarch64 wheels of the runtime's dependencies, downloaded once, installed into site/."""
    site = cache / "site"
    reqs = requirements()
    stamp = "\n".join(reqs) + "\n"
    if (site / ".edgeasr-reqs").is_file() and (site / ".edgeasr-reqs").read_text() == stamp:
        return site
    wheels = cache / "wheels"
    t = time.perf_counter()
    log(f"downloading aarch64 wheels into {wheels}: {' '.join(reqs)}")
    res = subprocess.run([*_pip(), "download", "-q", "--dest", str(wheels), *_platform_args(), *reqs])
    if res.returncode != 0:
        raise CheckError("pip download of the aarch64 wheels failed (see above)")
    part = cache / "site.partial"
    shutil.rmtree(part, ignore_errors=True)
    cmd = [*_pip(), "install", "-q", "--no-index", "--find-links", str(wheels), "--target", str(part)]
    res = subprocess.run([*cmd, *_platform_args(), *reqs])
    if res.returncode != 0:
        raise CheckError("pip install --target of the aarch64 wheels failed (see above)")
    shutil.rmtree(site, ignore_errors=True)
    part.rename(site)
    (site / ".edgeasr-reqs").write_text(stamp)
    log(f"aarch64 site ready in {site} ({time.perf_counter() - t:.0f} s)")
    return site


def _source_hash() -> str:
    h = hashlib.sha256()
    for name in PROJECT_SOURCES:
        p = REPO / name
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        for f in files:
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_project(cache: Path, site: Path) -> str:
    """The project's pure-Python wheel (`pip wheel --no-deps`), built from a copy of its sources
    (the working tree gets no build/ folder) and installed into site/ when the sources changed."""
    digest = _source_hash()
    stamp = site / ".edgeasr-project"
    if stamp.is_file() and stamp.read_text() == digest:
        return digest
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgeasr-wheel-") as tmp:
        src = Path(tmp) / "src"
        for name in PROJECT_SOURCES:
            p = REPO / name
            if p.is_file():
                src.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, src / name)
            else:
                shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = Path(tmp) / "dist"
        try:
            import setuptools  # noqa: F401

            isolation = ["--no-build-isolation"]  # the venv's setuptools: no download
        except ImportError:
            isolation = []
        cmd = [*_pip(), "wheel", "-q", "--no-deps", *isolation, "-w", str(out), str(src)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        built = sorted(out.glob("edgeasr-*.whl"))
        if res.returncode != 0 or not built:
            raise CheckError(f"pip wheel --no-deps . failed:\n{(res.stdout + res.stderr)[-3000:]}")
        if not built[0].name.endswith("-py3-none-any.whl"):
            raise CheckError(f"the project wheel is not pure Python: {built[0].name}")
        wheels = cache / "wheels" / "project"
        wheels.mkdir(parents=True, exist_ok=True)
        for old in wheels.glob("edgeasr-*.whl"):
            old.unlink()
        wheel = Path(shutil.copy2(built[0], wheels / built[0].name))
    cmd = [*_pip(), "install", "-q", "--no-deps", "--no-index", "--upgrade", "--target", str(site), str(wheel)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise CheckError(f"installing {wheel.name} into {site} failed:\n{res.stdout}{res.stderr}")
    stamp.write_text(digest)
    log(f"installed {wheel.name} into {site}")
    return digest


def prepare(cache: Path = CACHE, install_tools: bool = True, mirror: str | None = None) -> tuple[Path, Path]:
    """Everything the emulated runs need; returns (root, site). Call with the cache lock held."""
    ensure_tools(install_tools)
    root = ensure_root(cache, mirror)
    site = ensure_site(cache)
    ensure_project(cache, site)
    return root, site


# --------------------------------------------------------------------------------------------
# Running Python: emulated aarch64 or native


def emulated_command(root: Path, cpu: str | None, args: list[str]) -> list[str]:
    """`unshare -m` + a fake /proc/cpuinfo bind-mounted + qemu-aarch64-static running the root's
    Python 3.11 with `args`; cpu None runs qemu's default core with the host's /proc/cpuinfo."""
    qemu = [tool("qemu-aarch64-static")]
    if cpu is None:
        return [*qemu, "-L", str(root), str(root / "usr/bin" / PY), *args]
    model, fake = CPUS[cpu][0], CPUS[cpu][1]
    qemu += ["-cpu", model, "-L", str(root), str(root / "usr/bin" / PY), *args]
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    script = 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"'
    return [*unshare, "sh", "-c", script, "sh", str(fake), *qemu]


def run_emulated(
    root: Path, cpu: str | None, args: list[str], site: Path | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QEMU_"))}
    env["PYTHONNOUSERSITE"] = "1"
    # OpenVINO's compiled-model cache keys on the graph's path: the emulated CPU gets its own
    # folder (beside the arm64 root) so x86 and ARM compilations of one artifact never meet
    env["EDGEASR_OV_CACHE"] = str(root.parent / "ov-cache" / (cpu or "default"))
    from edgeasr.runtime.model import ARM_OVERRIDE

    env[ARM_OVERRIDE] = "1"  # run what the runtime refuses on ARM: is it still wrong?
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        emulated_command(root, cpu, args), env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def run_native(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


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


def wer_points(refs: list[str], hyps: list[str]) -> float:
    from edgeasr.runtime.metrics import error_rates, normalize

    return 100 * float(error_rates([normalize(r) for r in refs], [normalize(h) for h in hyps])["wer"])


def compare(run: dict, x86: dict, arm: dict, refs: list[str], tol: float) -> dict:
    """One table row: WERs, identical clips, and whether this run passes."""
    row = {"label": run["label"], "backend": run["backend"], "stored": run["stored"], "problems": []}
    row["x86_s"], row["arm_s"] = x86.get("seconds"), arm.get("seconds")
    row["x86_precision"] = _prec(x86)
    row["arm_precision"] = _prec(arm)
    for side, r in (("x86", x86), ("ARM", arm)):
        if r.get("error"):
            row["problems"].append(f"{side} run failed: {r['error']}")
    if row["problems"]:
        row["ok"] = False
        return row
    xt, at = x86["texts"], arm["texts"]
    row["x86_wer"], row["arm_wer"] = wer_points(refs, xt), wer_points(refs, at)
    row["delta"] = row["arm_wer"] - row["x86_wer"]
    row["identical"] = sum(a == b for a, b in zip(xt, at))
    row["n"] = len(refs)
    row["diffs"] = [(i, x, a) for i, (x, a) in enumerate(zip(xt, at)) if x != a]
    exact = run["backend"] == "onnxruntime" and run["stored"] == "fp32"
    row["rule"] = "identical" if exact else f"|dWER|<={tol:g}"
    if exact and row["identical"] != row["n"]:
        row["problems"].append(f"fp32 ONNX Runtime: {row['n'] - row['identical']} clip(s) differ from x86")
    if not exact and abs(row["delta"]) > tol + 1e-9:
        row["problems"].append(f"WER moved {row['delta']:+.2f} points on ARM (tolerance {tol:g})")
    from edgeasr.runtime.artifact import load_artifact
    from edgeasr.runtime.model import arm_unsupported

    known = arm_unsupported(load_artifact(run["artifact"]).manifest, run["backend"])
    if known and row["problems"]:  # still wrong, and the runtime refuses it on ARM: not a new failure
        row["known"], row["problems"], row["rule"] = row["problems"], [], "refused on ARM"
    elif known:
        row["known"] = ["matches x86 now: the runtime's ARM refusal of this method can be lifted"]
    want = run.get("precision") or run.get("hint")
    if run["backend"] == "openvino" and want:
        used = _used(arm)
        if used != {want}:
            row["problems"].append(f"asked OpenVINO for {want}, it computes in {'/'.join(sorted(used))}")
    row["ok"] = not row["problems"]
    return row


PRECISION_NAMES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16", "as stored": "stored"}


def short_precision(value: str) -> str:
    """OpenVINO's "<Type: 'float16'>" -> f16; ONNX Runtime's "as stored" -> stored."""
    v = value.strip()
    if v.startswith("<Type:"):
        v = v.split("'")[1] if "'" in v else v
    return PRECISION_NAMES.get(v, v)


def _used(r: dict) -> set[str]:
    return {short_precision(v) for v in (r.get("used_precision") or {}).values()}


def _prec(r: dict) -> str:
    return "/".join(sorted(_used(r))) or "-"


def check_probe(cpu: str, info: dict | None) -> list[str]:
    """describe() must name the core and exactly the features its /proc/cpuinfo lists."""
    if info is None:
        return ["no probe result"]
    problems = []
    _, _, _, core, feats = CPUS[cpu]
    if info.get("machine") != "aarch64":
        problems.append(f"platform.machine() is {info.get('machine')!r}, not aarch64")
    if not info["describe"].startswith(core):
        problems.append(f"describe() does not name {core}: {info['describe']!r}")
    seen = [f for f in info["cpu_info"]["features"] if f in CHECKED_FEATURES]
    if seen != [f for f in CHECKED_FEATURES if f in feats]:
        problems.append(f"features {seen}, expected {feats}")
    for backend in ("onnxruntime", "openvino"):
        if str(info.get(backend, "")).startswith("error"):
            problems.append(f"{backend} does not import: {info[backend]}")
    return problems


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict], cpu: str) -> None:
    head = (
        f"{'artifact':34s} {'backend':11s} {'stored':12s} {'ARM prec':8s} {'x86 WER':>7s} {'ARM WER':>7s} "
        f"{'delta':>6s} {'same':>5s} {'x86 s':>6s} {'ARM s':>6s}  result"
    )
    print(f"\nx86 (native) vs aarch64 ({cpu}: {CPUS[cpu][3]}, qemu -cpu {CPUS[cpu][0]})")
    print(head)
    print("-" * len(head))
    for r in rows:
        same = f"{r['identical']}/{r['n']}" if "n" in r else "-"
        verdict = "ok" if r["ok"] else "FAIL"
        print(
            f"{r['label']:34s} {r['backend']:11s} {r['stored']:12s} {r['arm_precision']:8s} "
            f"{_fmt(r.get('x86_wer'), '7.2f')} {_fmt(r.get('arm_wer'), '7.2f')} {_fmt(r.get('delta'), '+6.2f')} "
            f"{same:>5s} {_fmt(r['x86_s'], '6.1f')} {_fmt(r['arm_s'], '6.1f')}  {verdict} ({r.get('rule', '-')})"
        )
    for r in rows:
        for p in r["problems"]:
            print(f"  {r['label']}: {p}")
        for p in r.get("known", []):
            print(f"  {r['label']} (the runtime refuses it on ARM): {p}")
        for i, x, a in r.get("diffs", []):
            cut = (a[:200] + " ...") if len(a) > 200 else a
            print(f"  {r['label']} clip {i}:\n    x86: {x}\n    ARM: {cut}")


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
