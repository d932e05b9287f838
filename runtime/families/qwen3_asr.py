"""Qwen3-ASR at run time: 128-bin log-mel cut into 8 s windows for the encoder graph, the chat
prompt assembled from token ids stored in the artifact (no Jinja), greedy decoding with the
KV cache, and the `language <Name><asr_text>text` output parsed into language and text."""

from __future__ import annotations

import time

import numpy as np
from tokenizers import Tokenizer

from edgeasr.runtime.artifact import Artifact
from edgeasr.runtime.decoding import greedy_decode, in_place_outputs, new_entries, past_feeds
from edgeasr.runtime.errors import EdgeASRError
from edgeasr.runtime.families.base import FamilyRuntime, Prepared, Transcript
from edgeasr.runtime.features import log_mel

ENCODER_BATCH = 1  # 8 s windows per encoder call: the conv stem's activations grow with it (0.6B int8,
# 60 s clip: peak RSS 2968 MB at 16 windows per call, 2178 MB at 2, encoder 2.59 -> 2.77 s; with the
# prefill in calls, 10 s and 60 s clips in turn: 1.42-1.49 GB at 2, 1.41-1.43 at 1, encoder 2.50 -> 2.53 s)


def _post_cnn(frames: np.ndarray) -> np.ndarray:
    """Positions left after three stride-2 convolutions (k=3, p=1); zero stays zero."""
    for _ in range(3):
        frames = np.where(frames > 0, (frames - 1) // 2 + 1, 0)
    return frames


class Qwen3ASRRuntime(FamilyRuntime):
    """Runs the windowed encoder graph and the decoder step graph of a Qwen3-ASR artifact."""

    # the audio encoder runs once per utterance and its conv stem's activations are large: 0.6B int8
    # weight-only, peak RSS 1659 -> 1406 MB (10 s clip) and 2591 -> 2184 MB (60 s) with its arena off
    # (Whisper keeps its arenas: its tiny.en encoder ran 3-4% slower without one and saves little)
    no_arena = ("encoder",)

    def __init__(self, artifact: Artifact, backend: str, threads: int, precision: str | None) -> None:
        super().__init__(artifact, backend, threads, precision)
        m = self.manifest
        self.feat, self.dec, self.tok = m["features"], m["decoder"], m["tokens"]
        self.tokenizer = Tokenizer.from_file(str(artifact.file(m["tokenizer"])))
        self.eos = list(self.tok["eos"])
        self.languages = self.tok["languages"]
        self._names = {v["name"].lower(): code for code, v in self.languages.items()}
        self.window_frames = self.feat["chunk_frames"] * self.feat["window_chunks"]
        self.trim_windows = bool(self.feat.get("trimmed_windows"))  # the graph takes < window_chunks
        decoder = artifact.graph_entry("decoder", self.graph_backend["decoder"])
        self.kv_dtype = np.dtype(decoder.get("kv_dtype", "float32"))  # the cache buffer's (`kv_cache` profile option)

    # -- audio -> embeddings ----------------------------------------------------------
    def features(self, audio: np.ndarray) -> np.ndarray:
        """(128, frames) log-mel; clips shorter than `min_samples` are zero-padded first."""
        short = self.feat["min_samples"] - audio.size
        return log_mel(np.pad(audio, (0, short)) if short > 0 else audio, self.feat["n_mels"])

    def _windows(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Zero-pad to whole 8 s windows; count the valid encoder positions in each."""
        frames = mel.shape[1]
        n_win = max(1, -(-frames // self.window_frames))
        padded = np.zeros((mel.shape[0], n_win * self.window_frames), dtype=np.float32)
        padded[:, :frames] = mel
        wins = padded.reshape(mel.shape[0], n_win, self.window_frames).transpose(1, 0, 2)
        valid = np.clip(frames - np.arange(n_win) * self.window_frames, 0, self.window_frames)
        chunk = self.feat["chunk_frames"]
        positions = (valid // chunk) * self.feat["chunk_positions"] + _post_cnn(valid % chunk)
        return wins, positions.astype(np.int64)

    def encode(self, audios: list[np.ndarray], mels: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Audio embeddings (positions, hidden) per clip; every window of every clip is batched.
        Graphs that take fewer chunks than a window (manifest `trimmed_windows`) get each call cut
        to the chunks its windows hold: a 10 s clip costs 10 s of encoder, not two 8 s windows."""
        parts = [self._windows(m) for m in (mels if mels is not None else [self.features(a) for a in audios])]
        wins = np.concatenate([w for w, _ in parts])
        valid = np.concatenate([v for _, v in parts])
        chunk, per_chunk = self.feat["chunk_frames"], self.feat["chunk_positions"]
        if self.trim_windows:
            need = np.maximum(1, -(-valid // per_chunk)) * chunk  # frames of the chunks holding valid positions
        else:
            need = np.full(len(wins), self.window_frames)
        # calls of up to ENCODER_BATCH windows of one width (a partial window batched with a full
        # one would be padded back to 8 s), widest first
        order = np.argsort(-need, kind="stable")
        groups: list[list[int]] = []
        for j in order.tolist():
            if groups and len(groups[-1]) < ENCODER_BATCH and need[groups[-1][0]] == need[j]:
                groups[-1].append(j)
            else:
                groups.append([j])
        emb: list[np.ndarray] = [np.empty(0)] * len(wins)
        for idx in groups:
            width = int(need[idx[0]])
            out = self.graphs["encoder"].run({"mel": wins[idx, :, :width], "n_valid": valid[idx]})["audio_embeds"]
            for k, j in enumerate(idx):
                emb[j] = out[k, : valid[j]]
        result, w = [], 0
        for wins_i, _ in parts:
            result.append(np.concatenate(emb[w : w + len(wins_i)]))
            w += len(wins_i)
        return result

    # -- prompt and output --------------------------------------------------------------
    def language_code(self, language: str | None) -> str | None:
        """Accept a code (en) or a name (English); None means detect."""
        if language is None:
            return None
        if language in self.languages:
            return language
        code = self._names.get(language.lower())
        if code is None:
            raise EdgeASRError(f"unknown language {language!r}; known: {', '.join(sorted(self.languages))}")
        return code

    def prompt(self, n_audio: int, language: str | None, context: str | None) -> list[int]:
        """System turn (context), user turn with the audio placeholders, assistant turn
        (prefilled with `language <Name><asr_text>` when the language is forced)."""
        p = self.tok["prompt"]
        ctx = self.tokenizer.encode(context, add_special_tokens=False).ids if context else []
        ids = [*p["before_context"], *ctx, *p["after_context"], *([self.tok["audio"]] * n_audio), *p["after_audio"]]
        code = self.language_code(language)
        if code is not None:
            ids += self.languages[code]["ids"]
        return ids

    def parse(self, tokens: list[int], forced: str | None) -> tuple[str | None, str]:
        """`language English<asr_text>hello` -> ("en", "hello"); a forced language prefix is in the prompt."""
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if forced is not None:
            return forced, text.strip()
        if "<asr_text>" not in text:
            return None, text.strip()
        head, body = text.split("<asr_text>", 1)
        name = head.strip().removeprefix("language").strip().lower()
        return self._names.get(name), body.strip()

    @property
    def kv_shape(self) -> tuple[int, int, int, int]:
        return (self.dec["layers"], 2, self.dec["heads"], self.dec["head_dim"])

    def step_model(self, audio_embeds: np.ndarray) -> _Step:
        in_place = self.cache_mode["decoder"] == "in_place"
        return _Step(self.graphs["decoder"], audio_embeds, self.tok["audio"], in_place, self.kv_dtype)

    def prepare(self, audio: np.ndarray, language: str | None = None, context: str | None = None) -> Prepared:
        embeds = self.encode([audio])[0]
        return Prepared(self.step_model(embeds[None]), self.prompt(len(embeds), language, context), embeds)

    def transcribe_batch(
        self,
        audios: list[np.ndarray],
        language: str | None = None,
        context: str | None = None,
        max_new_tokens: int | None = None,
        ignore_eos: bool = False,
    ) -> list[Transcript]:
        """Encode all clips' windows together, then one batched greedy decode."""
        code = self.language_code(language)
        t0 = time.perf_counter()
        mels = [self.features(a) for a in audios]
        tf = time.perf_counter()
        embeds = self.encode(audios, mels)
        t1 = time.perf_counter()
        prompts = [self.prompt(len(e), code, context) for e in embeds]
        longest = max(len(e) for e in embeds)
        pool = np.zeros((len(audios), longest, self.dec["hidden"]), dtype=np.float32)
        for r, e in enumerate(embeds):
            pool[r, : len(e)] = e
        seconds = max(a.size for a in audios) / self.feat["sample_rate"]
        n_new = max_new_tokens if max_new_tokens is not None else int(64 + 10 * seconds)
        res = greedy_decode(
            self.step_model(pool),
            prompts,
            self.kv_shape,
            eos_ids=set(self.eos),
            max_new_tokens=n_new,
            pad_id=self.tok["pad"],
            ignore_eos=ignore_eos,
        )
        t2 = time.perf_counter()
        out = []
        for toks in res.tokens:
            lang, text = self.parse(toks, code)
            timings = {
                "features_s": (tf - t0) / len(audios),
                "encoder_s": (t1 - tf) / len(audios),
                "prefill_s": res.prefill_s,
                "decode_s": sum(res.step_s),
                "decode_steps": len(res.step_s),
                "prompt_tokens": max(len(p) for p in prompts),
                "batch": len(audios),
                "total_s": (t2 - t0) / len(audios),
            }
            out.append(Transcript(text=text, language=lang, tokens=toks, timings=timings))
        return out


class _Step:
    """Decoder step. The graph gives a call's k-th audio token the k-th row of `audio_embeds`,
    so a prefill cut into several calls gets, per call, the embeddings its audio tokens have not
    yet used; calls without audio tokens get none."""

    def __init__(
        self,
        graph: object,
        audio_embeds: np.ndarray,
        audio_token: int,
        in_place: bool = False,
        kv_dtype: type | np.dtype = np.float32,
    ) -> None:
        self.graph = graph
        self.in_place = in_place  # the graph writes its new K/V into the buffer (decoding.call)
        self.kv_dtype = kv_dtype  # the cache buffer's dtype (decoding.new_cache)
        self.audio = audio_embeds
        self.audio_token = audio_token
        self.used = np.zeros(audio_embeds.shape[0], dtype=np.int64)  # embeddings consumed per row
        self.none = np.zeros((audio_embeds.shape[0], 0, audio_embeds.shape[2]), dtype=np.float32)

    def _audio_for(self, ids: np.ndarray) -> np.ndarray:
        counts = (ids == self.audio_token).sum(axis=1)
        if not counts.any():
            return self.none
        if not self.used.any():
            audio = self.audio  # no copy: each row's audio tokens read only its first `counts` rows
        else:
            audio = np.zeros((len(ids), int(counts.max()), self.audio.shape[2]), dtype=np.float32)
            for r, (u, c) in enumerate(zip(self.used.tolist(), counts.tolist())):
                part = self.audio[r, u : u + c]
                audio[r, : len(part)] = part
        self.used += counts
        return audio

    def step(
        self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray, past: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        out = self.graph.run(
            {
                "input_ids": ids,
                "audio_embeds": self._audio_for(ids),
                "position_ids": positions.astype(np.int64),
                "attention_mask": mask,
                **past_feeds(past),
            },
            release=ids.shape[1] > 1,  # a prefill's activations are far larger than a step's
            in_place=in_place_outputs(past.shape[0]) if self.in_place else None,
        )
        return out["logits"], [] if self.in_place else new_entries(out, past.shape[0])

    def select(self, rows: np.ndarray) -> None:
        self.audio = self.audio[rows]
        self.used = self.used[rows]
        self.none = self.none[rows]
