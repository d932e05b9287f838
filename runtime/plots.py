"""Report plots (matplotlib, the optional `[report]` extra): every point is a profile, named
on the plot, so a reader can pick a build for a board at a glance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeasr.runtime.errors import EdgeASRError

COLORS = {"onnxruntime": "#1f77b4", "openvino": "#d62728"}


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgeASRError("plots need matplotlib: pip install 'edgeasr[report]' (or use --no-plots)") from None
    return plt


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten on both axes (lower x and lower y are better), sorted by x."""
    front, best = [], float("inf")
    for x, y in sorted(points):
        if y < best:
            front.append((x, y))
            best = y
    return front


def _scatter(ax: Any, rows: list[dict[str, Any]], xkey: str) -> None:
    for r in rows:
        ax.scatter(r[xkey], r["wer"], color=COLORS.get(r["backend"], "gray"), s=40, zorder=3)
        ax.annotate(r["profile"], (r[xkey], r["wer"]), xytext=(4, 3), textcoords="offset points", fontsize=7)
    for backend, color in COLORS.items():
        ax.scatter([], [], color=color, label=backend)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)


def plot_target(rows: list[dict[str, Any]], target: str, out: Path) -> list[Path]:
    """WER vs RTF, WER vs size (with the Pareto front), and WER per condition."""
    plt = _plt()
    paths = []

    fig, ax = plt.subplots(figsize=(8, 5))
    _scatter(ax, rows, "rtf")
    ax.set_xlabel("real-time factor (processing s per audio s, lower is faster)")
    ax.set_ylabel("WER % (lower is better)")
    ax.set_title(f"{target}: accuracy against speed")
    paths.append(out / f"wer_vs_rtf_{target}.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    _scatter(ax, rows, "size_mb")
    front = pareto([(r["size_mb"], r["wer"]) for r in rows])
    ax.plot([p[0] for p in front], [p[1] for p in front], "k--", lw=1, label="Pareto front", zorder=2)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("artifact size (MB)")
    ax.set_ylabel("WER % (lower is better)")
    ax.set_title(f"{target}: accuracy against size (dashed: no build is smaller and more accurate)")
    paths.append(out / f"wer_vs_size_{target}.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    kinds = sorted({k for r in rows for k in r["per_kind"]})
    ordered = sorted(rows, key=lambda r: r["rtf"])
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(kinds) * max(1, len(rows)) / 3), 5))
    width = 0.8 / max(1, len(ordered))
    for i, r in enumerate(ordered):
        xs = [k + i * width for k in range(len(kinds))]
        ax.bar(xs, [r["per_kind"].get(k, 0.0) for k in kinds], width, label=r["profile"])
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(kinds))])
    ax.set_xticklabels(kinds, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("WER %")
    ax.set_title(f"{target}: WER by condition")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    paths.append(out / f"wer_by_kind_{target}.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
