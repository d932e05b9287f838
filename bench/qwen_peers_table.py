"""The Markdown table of bench/qwen_peers.py: engines' speed and memory, ratios against the
fastest same-precision peer, OpenVINO cold loads, and teacher-forced fidelity."""

from __future__ import annotations

from typing import Any


def markdown(
    model: str,
    header: str,
    rows: list[dict[str, Any]],
    fidelity: list[dict[str, Any]],
    failures: dict[str, str],
    n_tokens: int,
    fidelity_seconds: float,
) -> str:
    """The report's text from the rows and fidelity records qwen_peers.py measured."""
    md = [f"# Qwen3-ASR engines side by side: {model}", "", header, ""]
    md += [
        "| engine | clip s | MB | load s | features ms | encoder ms/audio s | prefill ms | decode ms/token | "
        "ceiling ms | fraction | peak RSS MB | e2e s | e2e × vs torch-int8 | decode × vs torch-int8 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['engine']} | {r['seconds']:g} | {r['mb']:.0f} | {r['load_s']:.1f} | {r['features_ms']:.1f} | "
            f"{r['encoder_ms_per_audio_s']:.1f} | {r['prefill_ms']:.1f} | {r['decode_ms_per_token']:.2f} | "
            f"{r['ceiling_ms_per_token']:.2f} | {r['fraction_of_ceiling']:.2f} | {r['peak_rss_mb']} | "
            f"{r['e2e_s']:.2f} | {r.get('speedup_e2e_vs_torch_int8', '-')} | "
            f"{r.get('speedup_decode_vs_torch_int8', '-')} |"
        )
    ratios = [r for r in rows if "e2e_vs_fastest_peer" in r]
    if ratios:
        md += [
            "",
            "Against the fastest peer whose weights have the same precision (end-to-end time ratio, below 1 is "
            "faster):",
            "",
            "| engine | clip s | e2e s | fastest peer | its e2e s | ratio |",
            "|---|---|---|---|---|---|",
        ]
        by_name = {(r["engine"], r["seconds"]): r for r in rows}
        for r in ratios:
            peer = by_name[(r["fastest_peer_same_precision"], r["seconds"])]
            md.append(
                f"| {r['engine']} | {r['seconds']:g} | {r['e2e_s']:.2f} | {peer['engine']} | {peer['e2e_s']:.2f} | "
                f"{r['e2e_vs_fastest_peer']:.2f} |"
            )
    firsts = {r["engine"]: r for r in rows if "cold_load_s" in r}
    if firsts:
        md += ["", "OpenVINO artifacts' first load (compiles, fills the compiled-model cache; later loads read it):"]
        md += [f"- {n}: {r['cold_load_s']:.1f} s, peak RSS {r['cold_load_peak_rss_mb']} MB" for n, r in firsts.items()]
    md += [
        "",
        "MB: weights as the engine holds them (PyTorch: in memory; optimum: its .bin files; edgeasr: the artifact). "
        "Ceiling: decoder weight bytes plus the KV cache at the mean context, streamed at the measured read "
        "bandwidth; fraction = ceiling / measured. × columns: PyTorch dynamic int8 time / this engine's time "
        "(above 1 is faster).",
        "",
        *sorted({f"- {r['engine']}: {r['runtime']}" for r in rows}),
    ]
    if fidelity:
        md += [
            "",
            f"Fidelity: teacher-forced logits along the same {n_tokens} tokens after each engine's own prompt "
            f"for the {fidelity_seconds:g} s clip.",
            "",
            "| engine | reference | top-1 | mean KL | top-1 vs torch-fp32 | mean KL vs torch-fp32 |",
            "|---|---|---|---|---|---|",
        ]
        for f in fidelity:
            cells = [f["engine"]]
            for key, width in (("family", 3), ("torch_fp32", 2)):
                c = f.get(key)
                if c is None:
                    cells += ["-"] * width
                    continue
                cells += ([c["reference"]] if key == "family" else []) + [f"{c['top1']:.3f}", f"{c['kl_mean']:.2e}"]
            md.append("| " + " | ".join(cells) + " |")
    if failures:
        md += ["", "Failed: " + "; ".join(f"{k} ({v})" for k, v in failures.items())]
    return "\n".join(md) + "\n"
