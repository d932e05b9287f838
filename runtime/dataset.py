"""Evaluation sets, in three forms (errors name the file, line and field):

- a JSONL manifest: one {"audio", "text", ...} object per line (`audio` relative to the
  manifest's folder; `kind`, `language`, `id`, `voice`, `seconds` optional; an empty `text` is
  allowed and means "nothing should be recognised", e.g. silence);
- a folder of audio files (.wav .flac .ogg .mp3 .opus) each with a same-named .txt reference;
- a Hugging Face dataset, `hf:<dataset id>[:<config>][@<split>][#text=<column>]`, e.g.
  `hf:openslr/librispeech_asr:clean@test` or `hf:some/set@test[:200]#text=transcription`
  (the split defaults to `test` and may carry the `datasets` slice syntax). It needs the
  optional `datasets` package (pip install datasets) and the hub or its cache; the audio
  column is written to temporary files (removed at exit) and the reference is read from
  `text`, `sentence`, `transcript`, `transcription` or `normalized_text` unless #text= names it.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
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
    """Parse a JSONL manifest (`audio` paths are relative to the manifest's folder), a folder
    of audio + .txt files, or an `hf:` dataset spec (see the module docstring)."""
    if str(path).startswith("hf:"):
        return read_hf(str(path))
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


TEXT_COLUMNS = ("text", "sentence", "transcript", "transcription", "normalized_text")


@dataclass(frozen=True)
class HFSpec:
    """A parsed `hf:<dataset id>[:<config>][@<split>][#text=<column>]`."""

    dataset: str
    config: str | None = None
    split: str = "test"
    text_column: str | None = None


def parse_hf_spec(spec: str) -> HFSpec:
    """Split an `hf:` spec into its parts; a malformed one is a one-line EdgeASRError."""
    if not spec.startswith("hf:"):
        raise EdgeASRError(f"{spec!r}: a Hugging Face dataset spec starts with 'hf:'")
    rest, _, options = spec[3:].partition("#")
    text_column = None
    for opt in filter(None, options.split("&")):
        key, eq, value = opt.partition("=")
        if key != "text" or not eq or not value:
            raise EdgeASRError(f"{spec!r}: unknown option {opt!r} (the only one is #text=<column>)")
        text_column = value
    rest, at, split = rest.partition("@")
    dataset, colon, config = rest.partition(":")
    if not dataset or (colon and not config) or (at and not split):
        raise EdgeASRError(f"{spec!r}: expected hf:<dataset id>[:<config>][@<split>][#text=<column>]")
    return HFSpec(dataset, config or None, split or "test", text_column)


def read_hf(spec: str) -> list[Clip]:
    """Load a Hugging Face dataset split (lazily imports `datasets`) as clips; audio goes to a
    temporary folder removed when the process exits."""
    s = parse_hf_spec(spec)
    try:
        import datasets
    except ImportError:
        raise EdgeASRError(f"{spec}: hf: sets need the optional 'datasets' package (pip install datasets)") from None
    try:
        ds = datasets.load_dataset(s.dataset, s.config, split=s.split)
    except Exception as exc:  # offline hub, unknown id/config/split: one line, not a traceback
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeASRError(f"{spec}: cannot load the dataset ({msg})") from None
    return clips_from_hf(ds, s, spec)


def clips_from_hf(ds: Any, s: HFSpec, label: str) -> list[Clip]:
    """Clips from a loaded `datasets.Dataset`: the audio column's encoded bytes (or local file)
    written to temporary files, the reference from the text column."""
    import datasets

    audio_cols = [k for k, f in ds.features.items() if isinstance(f, datasets.Audio)]
    if not audio_cols:
        raise EdgeASRError(f"{label}: no audio column (columns: {', '.join(ds.column_names)})")
    text_col = s.text_column or next((c for c in TEXT_COLUMNS if c in ds.column_names), None)
    if text_col not in ds.column_names:
        raise EdgeASRError(
            f"{label}: no reference column {text_col or '/'.join(TEXT_COLUMNS)} "
            f"(columns: {', '.join(ds.column_names)}; choose one with #text=<column>)"
        )
    ds = ds.cast_column(audio_cols[0], datasets.Audio(decode=False))  # bytes as stored: no decoder needed
    tmp = Path(tempfile.mkdtemp(prefix="edgeasr-hf-"))
    atexit.register(shutil.rmtree, tmp, True)
    clips = []
    for i, row in enumerate(ds):
        audio = row[audio_cols[0]] or {}
        source = audio.get("path") or ""
        if audio.get("bytes"):
            path = tmp / f"{i:06d}{Path(source).suffix.lower() or '.wav'}"
            path.write_bytes(audio["bytes"])
        elif source and Path(source).is_file():
            path = Path(source)
        else:
            raise EdgeASRError(f"{label}: row {i} has no audio bytes or readable file")
        text = row[text_col]
        if not isinstance(text, str):
            raise EdgeASRError(f"{label}: row {i}: column '{text_col}' is not text")
        extra = {"id": str(row.get("id", i)), "source": label}
        clips.append(Clip(audio=path, text=text, kind="hf", extra=extra))
    if not clips:
        raise EdgeASRError(f"{label}: the split has no rows")
    return clips
