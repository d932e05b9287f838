"""Runtime adapters, one small class per model family, registered in one dict."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeasr.runtime.families.base import FamilyRuntime


def family_runtime(name: str) -> type[FamilyRuntime]:
    """The runtime class of a family (imported on demand)."""
    from edgeasr.runtime.errors import EdgeASRError
    from edgeasr.runtime.families.qwen3_asr import Qwen3ASRRuntime
    from edgeasr.runtime.families.whisper import WhisperRuntime

    registry: dict[str, type[FamilyRuntime]] = {"whisper": WhisperRuntime, "qwen3_asr": Qwen3ASRRuntime}
    try:
        return registry[name]
    except KeyError:
        raise EdgeASRError(f"unknown model family {name!r} (known: {', '.join(registry)})") from None
