"""The host side of bench/arm_check.py after the runs: one row per artifact (x86 vs aarch64 WER,
identical clips, the pass rule), the probe checks, and the printed table."""

from __future__ import annotations

from arm_root import CHECKED_FEATURES, CPUS


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
