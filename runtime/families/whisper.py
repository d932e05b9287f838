"""Whisper at run time: 30 s log-mel windows, an encoder graph that also emits every decoder
layer's cross-attention K/V (computed once per utterance), and a decoder step graph with a
self-attention KV cache."""

from __future__ import annotations

import time

import numpy as np
from tokenizers import Tokenizer

from edgeasr.runtime.artifact import Artifact
from edgeasr.runtime.decoding import KVCache, greedy_decode, new_entries, past_feeds
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.families.base import FamilyRuntime, Prepared, Transcript
from edgeasr.runtime.features import log_mel

MAX_PROMPT_TOKENS = 223  # Whisper keeps at most half its 448-token context for a text prompt


class WhisperRuntime(FamilyRuntime):
    """Runs an encoder graph (mel -> cross K/V) and a decoder step graph."""

    def __init__(self, artifact: Artifact, backend: str, threads: int, precision: str | None) -> None:
        super().__init__(artifact, backend, threads, precision)
        m = self.manifest
        self.tok = m["tokens"]
        self.feat = m["features"]
        self.dec = m["decoder"]
        self.tokenizer = Tokenizer.from_file(str(artifact.file(m["tokenizer"])))
        self.max_seconds = float(self.feat["chunk_seconds"])
        self._suppress = np.asarray(self.tok["suppress"], dtype=np.int64)
        self._suppress_begin = np.asarray(self.tok["suppress_begin"], dtype=np.int64)
        self._lang_ids = {code: int(i) for code, i in self.tok.get("languages", {}).items()}

    # -- features and encoder ---------------------------------------------------------
    def features(self, audio: np.ndarray) -> np.ndarray:
        """(n_mels, frames) log-mel of one clip, padded to the model's 30 s window."""
        n = int(self.feat["chunk_seconds"] * self.feat["sample_rate"])
        return log_mel(audio[:n], self.feat["n_mels"], pad_to_samples=n)

    def encode(self, mels: np.ndarray) -> np.ndarray:
        """Cross-attention K/V for a batch of mel windows: (layers, 2, batch, heads, frames/2, dim).

        Windows go through the encoder one at a time: its attention scores grow with the batch
        (a 30 s window's are 6 x 1500 x 1500 per layer), while batching gains little there; the
        decoder, which reads its weights once per step for the whole batch, is where it pays."""
        parts = [self.graphs["encoder"].run({"mel": mels[i : i + 1]})["cross_kv"] for i in range(len(mels))]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)

    # -- prompts ----------------------------------------------------------------------
    def prompt(self, language: str | None, context: str | None) -> list[int]:
        """Token ids: [<|startofprev|> context...] <|startoftranscript|> [lang, task] <|notimestamps|>."""
        ids: list[int] = []
        if context:
            ctx = self.tokenizer.encode(" " + context.strip(), add_special_tokens=False).ids
            ids = [self.tok["sot_prev"], *ctx[-MAX_PROMPT_TOKENS:]]
        ids.append(self.tok["sot"])
        if self._lang_ids:
            ids += [self._lang_ids[language], self.tok["transcribe"]]
        ids.append(self.tok["no_timestamps"])
        return ids

    def check_language(self, language: str | None) -> None:
        if language is None:
            return
        if not self._lang_ids:
            if language != "en":
                raise EdgeASRError(f"this model is English-only; --language {language} is not available")
        elif language not in self._lang_ids:
            raise EdgeASRError(f"unknown language {language!r}; known: {', '.join(sorted(self._lang_ids))}")

    def detect_languages(self, step: _Step) -> list[str]:
        """Most likely language token after <|startoftranscript|>, for each row."""
        codes = list(self._lang_ids)
        ids = np.array([self._lang_ids[c] for c in codes])
        batch = step.cross_kv.shape[2]
        sot = np.full((batch, 1), self.tok["sot"], dtype=np.int64)
        logits, _ = step.step(sot, np.zeros_like(sot), np.ones_like(sot), KVCache(self.kv_shape, batch).buf)
        return [codes[i] for i in logits[:, ids].argmax(axis=-1)]

    @property
    def kv_shape(self) -> tuple[int, int, int, int]:
        return (self.dec["layers"], 2, self.dec["heads"], self.dec["head_dim"])

    def prepare(self, audio: np.ndarray, language: str | None = None, context: str | None = None) -> Prepared:
        cross = self.encode(self.features(audio)[None])
        lang = (language or "en") if self._lang_ids else None
        return Prepared(_Step(self.graphs["decoder"], cross), self.prompt(lang, context), cross)

    # -- the whole thing ----------------------------------------------------------------
    def transcribe_batch(
        self,
        audios: list[np.ndarray],
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int | None = None,
        ignore_eos: bool = False,
    ) -> list[Transcript]:
        """Transcribe up to 30 s clips together: one encoder call, one batched greedy decode."""
        self.check_language(language)
        t0 = time.perf_counter()
        mels = np.stack([self.features(a) for a in audios])
        t1 = time.perf_counter()
        step = _Step(self.graphs["decoder"], self.encode(mels))
        t2 = time.perf_counter()
        if self._lang_ids and language is None:
            langs = self.detect_languages(step)
        else:
            langs = [language or "en"] * len(audios)
        prompts = [self.prompt(lang if self._lang_ids else None, context) for lang in langs]
        limit = self.dec["max_positions"] - max(len(p) for p in prompts)
        n_new = limit if max_new_tokens is None else min(max_new_tokens, limit)
        res = greedy_decode(
            step,
            prompts,
            self.kv_shape,
            eos_ids={self.tok["eot"]},
            max_new_tokens=n_new,
            pad_id=self.tok["eot"],
            logits_filter=self._filter,
            ignore_eos=ignore_eos,
        )
        t3 = time.perf_counter()
        out = []
        for lang, toks in zip(langs, res.tokens):
            text = self.tokenizer.decode([t for t in toks if t < self.tok["eot"]], skip_special_tokens=True)
            timings = {
                "features_s": (t1 - t0) / len(audios),
                "encoder_s": (t2 - t1) / len(audios),
                "prefill_s": res.prefill_s,
                "decode_s": sum(res.step_s),
                "decode_steps": len(res.step_s),
                "batch": len(audios),
                "total_s": (t3 - t0) / len(audios),
            }
            out.append(Transcript(text=text.strip(), language=lang, tokens=toks, timings=timings))
        return out

    def _filter(self, logits: np.ndarray, i: int) -> None:
        """Whisper's logit rules: never emit the suppressed tokens; no blank or EOT first."""
        logits[:, self._suppress] = -np.inf
        if i == 0:
            logits[:, self._suppress_begin] = -np.inf


class _Step:
    """Decoder step bound to one batch's cross-attention K/V."""

    def __init__(self, graph: object, cross_kv: np.ndarray) -> None:
        self.graph = graph
        self.cross_kv = cross_kv

    def step(
        self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray, past: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        out = self.graph.run(
            {
                "input_ids": ids,
                "position_ids": positions.astype(np.int64),
                "attention_mask": mask,
                "cross_kv": self.cross_kv,
                **past_feeds(past),
            }
        )
        return out["logits"], new_entries(out, past.shape[0])

    def select(self, rows: np.ndarray) -> None:
        self.cross_kv = np.ascontiguousarray(self.cross_kv[:, :, rows])
