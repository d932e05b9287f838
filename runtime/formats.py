"""Output formats shared by the CLI and the server, as OpenAI's transcription API names them:
text, json, verbose_json (language, duration, timed segments), srt and vtt subtitles."""

from __future__ import annotations

import json

from edgeasr.runtime.families.base import Transcript

FORMATS = ("text", "json", "verbose_json", "srt", "vtt")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(t: Transcript, fmt: str) -> str:
    """The transcript in one of FORMATS (subtitles get one cue per segment)."""
    if fmt == "text":
        return t.text + "\n"
    if fmt == "json":
        return json.dumps({"text": t.text}, ensure_ascii=False) + "\n"
    segments = [s for s in t.segments if s.text]
    if fmt == "verbose_json":
        return (
            json.dumps(
                {
                    "task": "transcribe",
                    "language": t.language,
                    "duration": round(t.duration, 3),
                    "text": t.text,
                    "segments": [
                        {"id": i, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
                        for i, s in enumerate(segments)
                    ],
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    if fmt == "srt":
        cues = [f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n" for i, s in enumerate(segments, 1)]
        return "\n".join(cues)
    if fmt == "vtt":
        cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in segments]
        return "WEBVTT\n\n" + "\n".join(cues)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
