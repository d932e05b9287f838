"""What machine this is: CPU model, architecture, cores and the instruction-set features that
decide which kernels ONNX Runtime and OpenVINO can use (AVX-512 VNNI/bf16 on x86; NEON,
dotprod, i8mm and fp16 arithmetic on ARM). Every report states it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# /proc/cpuinfo flag -> the name users know, for the features that change int8/fp16 speed
X86_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
}
ARM_FEATURES = {
    "asimd": "NEON",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
    "asimdhp": "fp16",
    "bf16": "bf16",
    "sve": "SVE",
    "sve2": "SVE2",
}
# ARM "CPU part" ids (implementer 0x41, Arm Ltd) -> core names
ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd0d": "Cortex-A77",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd46": "Cortex-A510",
    "0xd47": "Cortex-A710",
    "0xd49": "Neoverse-N2",
    "0xd4f": "Neoverse-V2",
}


def _cpuinfo() -> list[tuple[str, str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    return [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in text.splitlines()) if _]


def is_arm64() -> bool:
    """Whether this process runs on 64-bit ARM (Linux says aarch64, macOS arm64)."""
    return platform.machine().lower() in ("aarch64", "arm64")


def cpu_info() -> dict[str, object]:
    """CPU model, architecture, logical cores usable by this process, and ISA features."""
    entries = _cpuinfo()
    fields: dict[str, str] = {}
    for k, v in entries:
        fields.setdefault(k, v)
    arch = platform.machine()
    if is_arm64():
        raw = set(fields.get("features", "").split())
        table = ARM_FEATURES
        model = ARM_PARTS.get(fields.get("cpu part", "").lower(), fields.get("model name") or "ARM CPU")
    else:
        raw = set(fields.get("flags", "").split())
        table = X86_FEATURES
        model = fields.get("model name") or platform.processor() or arch
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    return {
        "model": model,
        "arch": arch,
        "cores": cores,
        "features": [name for flag, name in table.items() if flag in raw],
    }


def describe() -> str:
    """One line, e.g. 'Cortex-A76 (aarch64, 4 cores): NEON dotprod fp16'."""
    info = cpu_info()
    feats = " ".join(info["features"]) or "no SIMD features reported"  # type: ignore[arg-type]
    return f"{info['model']} ({info['arch']}, {info['cores']} cores): {feats}"
