"""`edgeasr report`: read run records (never runs a model) and write report.md (one table per
target, the best value of each column in bold, a recommendation), report.json and PNG plots:
WER against real-time factor, WER against size with the Pareto front, WER per condition."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from edgeasr.runtime.bench import SCHEMA
from edgeasr.runtime.errors import EdgeASRError

# key, header, lower is better (None: not ranked), format
COLUMNS: list[tuple[str, str, bool | None, str]] = [
    ("size_mb", "MB", True, "{:.1f}"),
    ("wer", "WER %", True, "{:.2f}"),
    ("wer_delta", "ΔWER", True, "{:+.2f}"),
    ("cer", "CER %", True, "{:.2f}"),
    ("hallucinated", "halluc. words", True, "{:d}"),
    ("rtf", "RTF", True, "{:.3f}"),
    ("rtf_spread", "RTF p10-p90", None, "{}"),
    ("encoder_ms_s", "enc ms/s", True, "{:.1f}"),
    ("ttft_ms", "TTFT ms", True, "{:.0f}"),
    ("decode_ms_tok", "dec ms/tok", True, "{:.2f}"),
    ("tokens_s", "tok/s", False, "{:.0f}"),
    ("rss_mb", "peak RSS MB", True, "{:.0f}"),
    ("load_s", "load s", True, "{:.2f}"),
]


def load_runs(root: str | Path) -> list[dict[str, Any]]:
    """Every run record under `root` (recursively)."""
    root = Path(root)
    if not root.exists():
        raise EdgeASRError(f"{root}: no such runs directory")
    runs = []
    for p in sorted(root.rglob("*.json")):
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            data["_path"] = str(p)
            runs.append(data)
    if not runs:
        raise EdgeASRError(f"{root}: no run records (write some with `edgeasr bench`)")
    return runs


def _fp32_of(run: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fp32 run of the same model on the same target, preferring the same backend."""
    same = [
        r
        for r in runs
        if r["target"] == run["target"]
        and r["artifact"]["model"] == run["artifact"]["model"]
        and r["artifact"]["precision"] == "fp32"
    ]
    same.sort(key=lambda r: r["backend"] != run["backend"])
    return same[0] if same else None


def row(run: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row of a run (WER/CER in percent)."""
    acc, lat = run["accuracy"], run["latency"]
    ref = _fp32_of(run, runs)
    wer = acc["wer"] * 100
    return {
        "artifact": run["artifact"]["name"],
        "model": run["artifact"]["model"],
        "profile": run["artifact"]["profile"],
        "backend": run["backend"],
        "precision": run["compute_precision"],
        "size_mb": run["artifact"]["size_mb"],
        "wer": wer,
        "wer_delta": wer - ref["accuracy"]["wer"] * 100 if ref else float("nan"),
        "cer": acc["cer"] * 100,
        "hallucinated": acc["hallucinated_words"],
        "rtf": lat["rtf"]["median"],
        "rtf_spread": f"{lat['rtf']['p10']:.3f}-{lat['rtf']['p90']:.3f}",
        "encoder_ms_s": lat["encoder_ms_per_audio_s"]["median"],
        "ttft_ms": lat["ttft_ms"]["median"],
        "decode_ms_tok": lat["decode_ms_per_token"]["median"],
        "tokens_s": lat["tokens_per_s"]["median"],
        "rss_mb": run["peak_rss_mb"],
        "load_s": run["load_s"],
        "per_kind": {k: v["wer"] * 100 for k, v in acc["per_kind"].items()},
    }


def recommend(rows: list[dict[str, Any]], budget: float) -> dict[str, Any] | None:
    """The fastest profile (lowest RTF) whose WER is within `budget` points of fp32's."""
    ok = [r for r in rows if not math.isnan(r["wer_delta"]) and r["wer_delta"] <= budget]
    return min(ok, key=lambda r: r["rtf"]) if ok else None


def _cell(value: Any, fmt: str, best: bool) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    text = fmt.format(value)
    return f"**{text}**" if best else text


def _table(rows: list[dict[str, Any]]) -> list[str]:
    header = ["profile", "backend"] + [c[1] for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {}
    for key, _, lower, _ in COLUMNS:
        vals = [r[key] for r in rows if isinstance(r[key], (int, float)) and not math.isnan(r[key])]
        if lower is not None and vals:
            best[key] = min(vals) if lower else max(vals)
    for r in sorted(rows, key=lambda r: (r["model"] or "", r["rtf"])):
        cells = [r["profile"] or r["artifact"], r["backend"]]
        cells += [_cell(r[k], fmt, k in best and r[k] == best[k]) for k, _, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _kind_table(rows: list[dict[str, Any]]) -> list[str]:
    kinds = sorted({k for r in rows for k in r["per_kind"]})
    lines = ["| profile | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for r in sorted(rows, key=lambda r: r["rtf"]):
        cells = [_cell(r["per_kind"].get(k, float("nan")), "{:.1f}", False) for k in kinds]
        lines.append(f"| {r['profile']} | " + " | ".join(cells) + " |")
    return lines


def write_report(runs_dir: str | Path, out: str | Path, wer_budget: float = 1.0, plots: bool = True) -> list[Path]:
    """Write report.md, report.json and (with matplotlib) the PNG plots; returns the paths."""
    runs = load_runs(runs_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by_target[r["target"]].append(r)
    md = ["# edgeasr report", ""]
    data: dict[str, Any] = {"wer_budget_points": wer_budget, "targets": {}}
    written = []
    for target, trs in sorted(by_target.items()):
        rows = [row(r, trs) for r in trs]
        m = trs[0]["machine"]
        feats = " ".join(m["features"]) or "no SIMD flags"
        rec = recommend(rows, wer_budget)
        md += [
            f"## Target `{target}`",
            "",
            f"Measured on {m['model']} ({m['arch']}, {m['cores']} cores; {feats}), "
            f"{trs[0]['threads']} threads, {trs[0]['date']}; {trs[0]['accuracy']['clips']} clips, "
            f"{trs[0]['accuracy']['audio_seconds'] / 60:.1f} min of audio. Latency: median of "
            f"{trs[0]['latency']['repeats']} repeats over {len(trs[0]['latency']['clips'])} clips after a warm-up. "
            "WER/CER on normalised text; ΔWER against the fp32 build of the same model; "
            "RTF = processing seconds per audio second; TTFT = features + encoder + prefill. "
            "Best value per column in bold.",
            "",
            *_table(rows),
            "",
        ]
        if rec:
            md.append(
                f"**Recommendation for {target}:** `{rec['profile']}` ({rec['backend']}) - the fastest build within "
                f"+{wer_budget:g} WER point of fp32: RTF {rec['rtf']:.3f}, WER {rec['wer']:.2f}% "
                f"({rec['wer_delta']:+.2f}), {rec['size_mb']:.0f} MB, peak RSS {rec['rss_mb']:.0f} MB."
            )
        else:
            md.append(f"No build is within +{wer_budget:g} WER point of an fp32 build on {target} (or no fp32 run).")
        md += ["", f"### WER % by condition ({target})", "", *_kind_table(rows), ""]
        if plots:
            from edgeasr.runtime.plots import plot_target

            for p in plot_target(rows, target, out):
                md.append(f"![{p.stem}]({p.name})")
                written.append(p)
            md.append("")
        data["targets"][target] = {"machine": m, "threads": trs[0]["threads"], "rows": rows, "recommendation": rec}
    (out / "report.md").write_text("\n".join(md) + "\n")
    (out / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    return [out / "report.md", out / "report.json", *written]
