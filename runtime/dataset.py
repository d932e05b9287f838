"""Evaluation sets: a JSONL manifest (one {"audio", "text", ...} object per line) or a folder
of audio files with same-named .txt references. Errors name the file, line and field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeasr.runtime.errors import EdgeASRError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")
KNOWN_FIELDS = {
    "audio": str,
    "text": str,
    "kind": str,
    "language": str,
    "id": str,
    "voice": str,
    "seconds": float,
}


@dataclass
class Clip:
    """One evaluation item."""

    audio: Path
    text: str
    kind: str = "clean"
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_manifest(path: str | Path) -> list[Clip]:
    """Parse a JSONL manifest; `audio` paths are relative to the manifest's folder."""
    p = Path(path)
    if p.is_dir():
        return read_folder(p)
    if not p.is_file():
        raise EdgeASRError(f"{p}: no such manifest")
    clips = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EdgeASRError(f"{where}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise EdgeASRError(f"{where}: expected a JSON object")
        for name in ("audio", "text"):
            if name not in obj:
                raise EdgeASRError(f"{where}: missing field '{name}'")
        for name, value in obj.items():
            want = KNOWN_FIELDS.get(name)
            if want is None:
                continue  # extra fields are kept, not validated
            ok = isinstance(value, (int, float)) if want is float else isinstance(value, want)
            if not ok or isinstance(value, bool):
                raise EdgeASRError(f"{where}: field '{name}' must be a {want.__name__}, got {type(value).__name__}")
        audio = Path(obj["audio"])
        clips.append(
            Clip(
                audio=audio if audio.is_absolute() else p.parent / audio,
                text=obj["text"],
                kind=obj.get("kind", "clean"),
                language=obj.get("language"),
                extra={k: v for k, v in obj.items() if k not in ("audio", "text", "kind", "language")},
            )
        )
    if not clips:
        raise EdgeASRError(f"{p}: the manifest lists no clips")
    return clips


def read_folder(folder: Path) -> list[Clip]:
    """Audio files with a same-named .txt reference next to each."""
    clips = []
    for audio in sorted(folder.iterdir()):
        if audio.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        ref = audio.with_suffix(".txt")
        if not ref.is_file():
            raise EdgeASRError(f"{audio}: no reference file {ref.name}")
        clips.append(Clip(audio=audio, text=ref.read_text(encoding="utf-8").strip()))
    if not clips:
        raise EdgeASRError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    return clips
