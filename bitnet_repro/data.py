"""Training and validation text, the tokenizer, and token arrays on disk.

Local source (the default): real English text from the data directory (`data.data_dir`, else the
environment variable BITNET_REPRO_DATA, else `../shared/data` beside the repository when it exists).

    train   C4 documents (both files, de-duplicated, minus the held-out ones) + the Brown corpus with its
            tags stripped + the TinyStories sample
    val     WikiText-2 test (raw), `c4_val_docs` C4 documents held out by content hash, and an in-domain
            split: the fraction `indomain_val_frac` of the training mix (every source), held out by content
            hash, so that validation also covers the distribution the models are trained on

Every file is checked against its published sha256 (SOURCES.md / SOURCES-extra.md of the data directory)
before use. Nothing from the data directory is copied into the repository; derived artefacts (the
SentencePiece model, uint16 token arrays) go to a cache directory named by the content hash of their inputs.

HF source: a Hugging Face `datasets` corpus streamed over the network (for machines that have it), with
the same interface; without a network it fails at once with a message.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import lzma
import math
import os
import random
import re
import socket
import tarfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import sentencepiece as spm

from bitnet_repro.config import DataConfig, without_later_defaults
from bitnet_repro.errors import ReproError
from bitnet_repro.profile import REPO_ROOT
from bitnet_repro.shards import Part, held_out, write_shards
from bitnet_repro.utils import DATA_ENV, atomic_write_bytes, atomic_write_text, sha256_file

# datasets is imported where used: heavy (seconds to import) and needed by few commands

log = logging.getLogger(__name__)

# sha256 of every file we read, from the data directory's SOURCES.md and SOURCES-extra.md.
CHECKSUMS = {
    "c4/c4_validation_2k.jsonl": "118ef726b71172521feff878ce0e91f9d2da2d7772d47eb7e90391997da09cb4",
    "c4/c4_validation_shard0_first1025.jsonl": "c428660681e457469d2ff57bfd62636d52e6002e06c8cafe3aea714033787f78",
    "brown/brown-tagged.tar.xz": "9fe16391470f76d90a0305a8db55e5b2e48ecb6811d0d3693cac3ac1c82f5410",
    "tinystories/tinystories-v1-train-head-lowercased.txt.xz": (
        "19a92baf1e482ce5aa413faa59857d3a4f64bd43a91995c6b1d7163a283e866d"
    ),
    "wikitext2/wiki.test.raw.hf-nonempty-crlf": "4f3e427e4aff23acff917a8a51aeae21bf12832256e26914c8fc250dcef4103c",
}  # fmt: skip

VAL_SETS = ("wikitext2", "c4", "indomain")


class DataError(ReproError, RuntimeError):
    """Missing or corrupt data; the message names the path and how to fix it."""


def resolve_data_dir(cfg: DataConfig) -> Path:
    candidates = [
        ("data.data_dir", cfg.data_dir),
        (f"${DATA_ENV}", os.environ.get(DATA_ENV)),
        ("default", str(REPO_ROOT.parent / "shared" / "data")),
    ]
    for origin, value in candidates:
        if value:
            path = Path(value).expanduser().resolve()
            if not path.is_dir():
                raise DataError(
                    f"data directory {path} (from {origin}) does not exist. Point the suite at the data with "
                    f"`export {DATA_ENV}=/path/to/data` or `data: {{data_dir: /path/to/data}}` in the profile "
                    "(README, 'Data'), or use `data: {source: hf}` on a machine with internet access."
                )
            return path
    raise AssertionError("unreachable")


def verified(data_dir: Path, rel: str, checksums: dict[str, str] = CHECKSUMS) -> Path:
    """The path of a data file after checking that it exists and has its published checksum."""
    path = data_dir / rel
    expected = checksums[rel]
    if not path.is_file():
        raise DataError(
            f"missing data file {path} (expected sha256 {expected}). The data directory must hold the files "
            f"listed in SOURCES.md; set {DATA_ENV} or data.data_dir to the right directory."
        )
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            f"corrupt data file {path}: sha256 {actual}, expected {expected}. Restore the original file "
            "(see SOURCES.md in the data directory for its origin)."
        )
    return path


# ------------------------------------------------------------------------------------------------------
# Readers
# ------------------------------------------------------------------------------------------------------


def read_jsonl_texts(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def c4_documents(data_dir: Path) -> list[str]:
    """Both C4 files, de-duplicated by exact text, in file order."""
    seen: set[str] = set()
    docs = []
    for rel in ("c4/c4_validation_2k.jsonl", "c4/c4_validation_shard0_first1025.jsonl"):
        for text in read_jsonl_texts(verified(data_dir, rel)):
            if text not in seen:
                seen.add(text)
                docs.append(text)
    return docs


def split_c4(docs: list[str], n_val: int) -> tuple[list[str], list[str]]:
    """Hold out the `n_val` documents with the smallest sha256: a fixed set, independent of file order."""
    key = {d: hashlib.sha256(d.encode()).hexdigest() for d in docs}
    held = set(sorted(docs, key=key.__getitem__)[:n_val])
    return [d for d in docs if d not in held], [d for d in docs if d in held]


_BROWN_FILE = re.compile(r"(^|/)c[a-r]\d\d$")


def strip_brown_tags(tagged: str) -> str:
    """'The/at Fulton/np-tl ``/`` ...' -> 'The Fulton " ...'; one sentence per line, paragraphs kept."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", tagged):
        sentences = []
        for line in para.splitlines():
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            if words:
                sentences.append(" ".join(words).replace("``", '"').replace("''", '"'))
        if sentences:
            paragraphs.append(" ".join(sentences))
    return "\n".join(paragraphs)


def brown_documents(data_dir: Path) -> list[str]:
    docs = []
    with tarfile.open(verified(data_dir, "brown/brown-tagged.tar.xz"), "r:xz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and _BROWN_FILE.search(member.name):
                raw = tar.extractfile(member).read().decode("utf-8", errors="replace")  # type: ignore[union-attr]
                docs.append(strip_brown_tags(raw))
    if len(docs) != 500:
        raise DataError(f"the Brown archive in {data_dir / 'brown'} has {len(docs)} documents, expected 500")
    return docs


def tinystories_documents(data_dir: Path) -> list[str]:
    with lzma.open(verified(data_dir, "tinystories/tinystories-v1-train-head-lowercased.txt.xz"), "rt",
                   encoding="utf-8") as f:  # fmt: skip
        text = f.read()
    # Stories are separated by a single newline, paragraphs inside a story by a blank line.
    return [s.strip() for s in re.split(r"(?<!\n)\n(?!\n)", text) if s.strip()]


def wikitext2_test(data_dir: Path) -> str:
    """WikiText-2 raw test, the non-empty rows with CRLF endings (SOURCES.md): LF endings restored."""
    with open(verified(data_dir, "wikitext2/wiki.test.raw.hf-nonempty-crlf"), encoding="utf-8", newline="") as f:
        return f.read().replace("\r\n", "\n")


def split_indomain(docs: list[str], frac: float) -> tuple[list[str], list[str]]:
    """(kept, held out): a document is held out when its sha256, read as a fraction of 2^32, is below `frac`.
    A fixed set, independent of order, drawn from every source in proportion to its documents."""
    held = [held_out(d, frac) for d in docs]
    return [d for d, h in zip(docs, held) if not h], [d for d, h in zip(docs, held) if h]


def local_corpus(cfg: DataConfig) -> tuple[list[str], dict[str, str]]:
    """(training documents in a fixed shuffled order, {validation set: text})."""
    data_dir = resolve_data_dir(cfg)
    c4_train, c4_val = split_c4(c4_documents(data_dir), cfg.c4_val_docs)
    readers = {"c4": lambda: c4_train, "brown": lambda: brown_documents(data_dir),
               "tinystories": lambda: tinystories_documents(data_dir)}  # fmt: skip
    docs = [d for name in cfg.corpus for d in readers[name]()]
    random.Random(0).shuffle(docs)  # mix the sources; fixed order
    docs, indomain = split_indomain(docs, cfg.indomain_val_frac)
    return docs, {"wikitext2": wikitext2_test(data_dir), "c4": "\n\n".join(c4_val), "indomain": "\n\n".join(indomain)}


def _hf_datasets():
    """The `datasets` module, after checking that the hub can be reached. Fails fast without a network."""
    try:
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
    except OSError as e:
        raise DataError(
            f"data.source=hf needs https://huggingface.co, which this machine cannot reach ({e}). "
            "Use data.source=local with the data directory instead (README, 'Data')."
        ) from e
    try:
        import datasets
    except ImportError as e:
        raise DataError("data.source=hf needs the `datasets` package: pip install 'bitnet-repro[hf]'") from e
    return datasets


def _hf_validation(cfg: DataConfig, datasets) -> dict[str, str]:
    """WikiText-2 test and the first `c4_val_docs` documents of the corpus's validation split."""
    wiki = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split="test")
    c4_val = datasets.load_dataset(cfg.hf_dataset, cfg.hf_config, split="validation", streaming=True)
    val_docs = [row["text"] for _, row in zip(range(cfg.c4_val_docs), c4_val)]
    return {"wikitext2": "".join(wiki["text"]), "c4": "\n\n".join(val_docs)}


def _hf_head(cfg: DataConfig, chars: int) -> tuple[list[str], dict[str, str]]:
    """The streamed training split's first documents, up to `chars` characters, less the in-domain validation
    split held out of them; and the validation texts."""
    datasets = _hf_datasets()
    stream = datasets.load_dataset(cfg.hf_dataset, cfg.hf_config, split="train", streaming=True)
    docs, total = [], 0
    for row in stream:
        docs.append(row["text"])
        total += len(row["text"])
        if total >= chars:
            break
    docs, indomain = split_indomain(docs, cfg.indomain_val_frac)
    return docs, {**_hf_validation(cfg, datasets), "indomain": "\n\n".join(indomain)}


def hf_corpus(cfg: DataConfig) -> tuple[list[str], dict[str, str]]:
    """A Hugging Face `datasets` corpus, streamed into memory up to about `hf_train_tokens` tokens."""
    return _hf_head(cfg, 4 * cfg.hf_train_tokens)  # ~4 characters per token for English text


def hf_sample(cfg: DataConfig) -> tuple[list[str], dict[str, str]]:
    """For sharded data: the first `tokenizer_sample_chars` characters of the streamed corpus (the tokenizer's
    sample; its held-out documents are the in-domain validation set, which the shard workers leave out of
    every part) and the validation texts. Only this sample is held in memory."""
    return _hf_head(cfg, cfg.tokenizer_sample_chars)


def shard_parts(cfg: DataConfig, docs: list[str] | None = None) -> list[Part]:
    """The parts of the training stream that the shard workers tokenize independently: the local corpus's
    documents (`docs`, already without the validation split) cut into `shard_parts` contiguous pieces, or
    shard i of `shard_parts` of the streamed corpus, each read up to its share of `hf_train_tokens`."""
    if cfg.source == "local":
        bounds = np.linspace(0, len(docs), cfg.shard_parts + 1).round().astype(int)
        return [Part("docs", docs=tuple(docs[a:b])) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    share = -(-cfg.hf_train_tokens // cfg.shard_parts)
    return [Part("hf", cfg.hf_dataset, config=cfg.hf_config, split="train", n_shards=cfg.shard_parts, index=i,
                 max_tokens=share, holdout_frac=cfg.indomain_val_frac) for i in range(cfg.shard_parts)]  # fmt: skip


# ------------------------------------------------------------------------------------------------------
# Tokenizer and token arrays
# ------------------------------------------------------------------------------------------------------


def cache_key(cfg: DataConfig) -> str:
    """Content hash of everything the token arrays depend on: the data config and the input checksums."""
    fields = {k: v for k, v in without_later_defaults("data", asdict(cfg)).items() if k != "data_dir"}
    blob = json.dumps({"data": fields, "inputs": CHECKSUMS, "format": 2}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _train_tokenizer(docs: list[str], cfg: DataConfig, out: Path) -> None:
    def lines() -> Iterator[str]:
        budget = cfg.tokenizer_sample_chars
        for doc in docs:
            for line in doc.split("\n"):
                if line.strip():
                    budget -= len(line)
                    yield line
            if budget <= 0:
                return

    model = io.BytesIO()
    # BPE with byte fallback, identity normalisation and split digits, as LLaMA's SentencePiece tokenizer.
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines(), model_writer=model, vocab_size=cfg.vocab_size, model_type="bpe",
            byte_fallback=True, split_digits=True, normalization_rule_name="identity",
            remove_extra_whitespaces=False, character_coverage=0.9995, max_sentence_length=1 << 16,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=os.cpu_count() or 1, minloglevel=2,
        )  # fmt: skip
    except RuntimeError as e:
        raise DataError(f"SentencePiece could not train with data.vocab_size={cfg.vocab_size}: {e}") from e
    atomic_write_bytes(out, model.getvalue())


def encode(sp, docs: list[str]) -> np.ndarray:
    """Token ids of each document followed by EOS, concatenated, as uint16."""
    ids: list[int] = []
    for doc_ids in sp.encode(docs):
        ids.extend(doc_ids)
        ids.append(sp.eos_id())
    return np.asarray(ids, dtype=np.uint16)


def token_bytes(sp) -> np.ndarray:
    """UTF-8 bytes that each piece stands for (int64, one entry per id): '\u2581' counts as the space it
    encodes, a byte-fallback piece <0xNN> as one byte, control and unknown pieces as none. Bits per byte
    divide a text's summed NLL by the bytes of its scored tokens, which compares tokenizers of any size."""
    out = np.zeros(sp.get_piece_size(), dtype=np.int64)
    for i in range(sp.get_piece_size()):
        if sp.is_control(i) or sp.is_unknown(i):
            continue
        out[i] = 1 if sp.is_byte(i) else len(sp.id_to_piece(i).replace("\u2581", " ").encode("utf-8"))
    return out


class PretrainedTokenizer:
    """A pretrained model's byte-level BPE tokenizer (transformers) behind the few SentencePiece methods that
    `prepare` uses: the same token arrays, ids as the model knows them."""

    def __init__(self, name: str) -> None:
        from bitnet_repro.pretrained import load_pretrained_tokenizer

        self.tok = load_pretrained_tokenizer(name)
        # documents end with <|endoftext|> where the vocabulary has it (SmolLM2's pretraining separator; its GGUF
        # names <|im_start|> as EOS), else with the tokenizer's EOS
        vocab = self.tok.get_vocab()
        self.separator = vocab.get("<|endoftext|>", self.tok.eos_token_id)
        if self.separator is None or len(self.tok) > np.iinfo(np.uint16).max:
            raise DataError(f"{name}'s tokenizer has no end-of-text token or more than 65,535 tokens")

    def get_piece_size(self) -> int:
        return len(self.tok)

    def eos_id(self) -> int:
        return self.separator

    def encode(self, docs: list[str]) -> list[list[int]]:
        return [self.tok(d, add_special_tokens=False)["input_ids"] for d in docs]

    def token_bytes(self) -> np.ndarray:
        """UTF-8 bytes of each token (byte-level BPE: each character of a token stands for one byte); special
        tokens count none."""
        from tokenizers.pre_tokenizers import ByteLevel

        alphabet = set(ByteLevel.alphabet())  # the 256 characters that stand for the 256 bytes
        special = set(self.tok.all_special_ids)
        out = np.zeros(len(self.tok), dtype=np.int64)
        for i, piece in enumerate(self.tok.convert_ids_to_tokens(list(range(len(self.tok))))):
            if i not in special and piece is not None and set(piece) <= alphabet:
                out[i] = len(piece)
        return out


def bits_per_byte(loss: float, tokens: int, n_bytes: int) -> float:
    """Mean NLL in nats per token over `tokens` targets -> bits per UTF-8 byte of the scored text."""
    return loss * tokens / (math.log(2) * n_bytes)


def prepare(cfg: DataConfig, out_dir: Path, workers: int = 1) -> Path:
    """Build (or reuse) tokenizer.model, the training tokens (train.bin, or train/ shards for data.format=shards,
    tokenized by `workers` processes) and val_*.bin in out_dir; returns out_dir."""

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "data.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("cache_key") == cache_key(cfg):
        log.info("token arrays in %s are up to date", out_dir)
        return out_dir
    if cfg.format == "shards":
        return _prepare_shards(cfg, out_dir, workers)
    docs, val = local_corpus(cfg) if cfg.source == "local" else hf_corpus(cfg)
    if cfg.tokenizer:
        log.info("tokenizing %d documents with %s's own tokenizer", len(docs), cfg.tokenizer)
        sp = PretrainedTokenizer(cfg.tokenizer)
        if sp.get_piece_size() != cfg.vocab_size:
            raise DataError(f"data.vocab_size={cfg.vocab_size}, but {cfg.tokenizer}'s tokenizer has "
                            f"{sp.get_piece_size()} tokens: set data.vocab_size to that")  # fmt: skip
    else:
        log.info("training a %d-piece SentencePiece BPE tokenizer on %d documents", cfg.vocab_size, len(docs))
        _train_tokenizer(docs, cfg, out_dir / "tokenizer.model")
        sp = spm.SentencePieceProcessor(model_file=str(out_dir / "tokenizer.model"))
    arr = encode(sp, docs)
    atomic_write_bytes(out_dir / "train.bin", arr.tobytes())
    log.info("train: %d tokens", arr.size)
    counts = {"train": int(arr.size), **_write_validation(sp, val, out_dir)}
    np.save(out_dir / "token_bytes.npy", sp.token_bytes() if cfg.tokenizer else token_bytes(sp))
    train_chars = sum(len(d) for d in docs)
    info = {"cache_key": cache_key(cfg), "config": asdict(cfg), "tokens": counts, "train_documents": len(docs),
            "train_chars_per_token": round(train_chars / counts["train"], 3)}  # fmt: skip
    atomic_write_text(manifest, json.dumps(info, indent=2))
    return out_dir


def _write_validation(sp, val: dict[str, str], out_dir: Path) -> dict[str, int]:
    counts = {}
    for k, text in val.items():
        arr = encode(sp, [text])
        atomic_write_bytes(out_dir / f"val_{k}.bin", arr.tobytes())
        counts[f"val_{k}"] = int(arr.size)
        log.info("val_%s: %d tokens", k, arr.size)
    return counts


def _prepare_shards(cfg: DataConfig, out_dir: Path, workers: int) -> Path:
    """data.format=shards: the tokenizer (on the local corpus, or on a streamed sample), the validation arrays,
    then the training stream's parts tokenized into train/ by `workers` processes. A killed run resumes: the
    tokenizer of the same config and the finished parts are kept (shards.write_shards)."""
    key = cache_key(cfg)
    docs, val = local_corpus(cfg) if cfg.source == "local" else hf_sample(cfg)
    tokenizer, stamp = out_dir / "tokenizer.model", out_dir / "tokenizer.key"
    if tokenizer.exists() and stamp.exists() and stamp.read_text() == key:
        log.info("keeping the tokenizer of an earlier, unfinished run (%s)", tokenizer)
    else:
        log.info("training a %d-piece SentencePiece BPE tokenizer on %d documents", cfg.vocab_size, len(docs))
        _train_tokenizer(docs, cfg, tokenizer)
        atomic_write_text(stamp, key)
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    counts = _write_validation(sp, val, out_dir)
    np.save(out_dir / "token_bytes.npy", token_bytes(sp))
    parts = shard_parts(cfg, docs if cfg.source == "local" else None)
    if cfg.source == "local":
        chars = sum(len(d) for d in docs)
        del docs  # the parts hold the documents now
    shards = write_shards(parts, tokenizer, out_dir / "train", cfg.shard_tokens, workers=workers)
    info = {"cache_key": key, "config": asdict(cfg), "format": "shards",
            "tokens": {"train": shards["tokens"], **counts}, "train_documents": shards["documents"],
            "shards": len(shards["shards"]), "parts": shards["parts"], "workers": workers}  # fmt: skip
    if cfg.source == "local":
        info["train_chars_per_token"] = round(chars / shards["tokens"], 3)
    atomic_write_text(out_dir / "data.json", json.dumps(info, indent=2))
    return out_dir


def train_format(data_dir: Path) -> str:
    """How a data directory stores its training tokens: 'shards' (train/manifest.json) or 'array' (train.bin)."""
    return "shards" if (Path(data_dir) / "train" / "manifest.json").exists() else "array"


def load_token_bytes(data_dir: Path) -> np.ndarray:
    path = data_dir / "token_bytes.npy"
    if not path.exists():
        raise DataError(f"{path} not found; run `python -m bitnet_repro data` (or the Snakemake target) again")
    return np.load(path)


def load_tokens(data_dir: Path, name: str) -> np.ndarray:
    path = data_dir / f"{name}.bin"
    if not path.exists():
        raise DataError(f"{path} not found; run `python -m bitnet_repro data` (or the Snakemake target) first")
    return np.memmap(path, dtype=np.uint16, mode="r")


# ------------------------------------------------------------------------------------------------------
# The data step's plan: what a profile's runs need, and what tokenizing it costs (dry runs, `data --plan`)
# ------------------------------------------------------------------------------------------------------

BENCH_PATH = REPO_ROOT / "results" / "shards" / "bench.json"  # `snakemake shards_bench`: measured rates


def data_plan(cfg: DataConfig, run_tokens: dict[str, int], workers: int, corpus_tokens: int | None = None,
              bench_path: Path = BENCH_PATH) -> dict:  # fmt: skip
    """The data step of a profile: how many tokens it writes and where, the disk they take, the time to tokenize
    them on `workers` cores at the measured rate per core, and the epochs each run makes of them.

    corpus_tokens: the corpus's size where it is known (a finished data directory); else the streamed corpus's
    `hf_train_tokens`, or None for a local corpus not yet tokenized."""
    from bitnet_repro.shards import token_dtype

    tokens = corpus_tokens or (cfg.hf_train_tokens if cfg.source == "hf" else None)
    workers = workers if cfg.format == "shards" else 1  # one train.bin is tokenized by one process
    plan: dict = {"format": cfg.format, "source": cfg.source, "workers": workers, "corpus_tokens": tokens,
                  "shard_tokens": cfg.shard_tokens if cfg.format == "shards" else None,
                  "parts": cfg.shard_parts if cfg.format == "shards" else 1}  # fmt: skip
    if tokens:
        plan["disk_bytes"] = tokens * token_dtype(cfg.vocab_size).itemsize
        if cfg.format == "shards":  # each part ends in a partial shard
            plan["shards_at_least"] = max(cfg.shard_parts, -(-tokens // cfg.shard_tokens))
        rate = json.loads(bench_path.read_text())["tokenize"] if bench_path.exists() else None
        if rate:
            per_core = rate["tokens_per_s_per_core"]
            plan.update(tokens_per_s_per_core=per_core, rate_measured_on=rate["cpu"], rate_vocab=rate["vocab_size"],
                        core_hours=round(tokens / per_core / 3600, 2),
                        hours=round(tokens / (per_core * min(workers, plan["parts"])) / 3600, 2))  # fmt: skip
        plan["runs"] = {name: {"tokens": n, "epochs": round(n / tokens, 4)} for name, n in run_tokens.items()}
        plan["max_epochs"] = max((r["epochs"] for r in plan["runs"].values()), default=0.0)
    return plan


def profile_plan(profile, workers: int, data_dir: Path | None = None) -> dict:
    """`data_plan` of a profile (a `profile.Profile`) for every run that trains on its data; the corpus's size is
    read from `data_dir` where its data step has finished."""
    runs = {r.name: r.train.total_tokens for r in (*profile.runs, *profile.pilots) if r.data == profile.data}
    done = Path(data_dir) / "data.json" if data_dir else None
    known = json.loads(done.read_text())["tokens"]["train"] if done and done.exists() else None
    return data_plan(profile.data, runs, workers, corpus_tokens=known)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:,.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:,.1f} MB"


def plan_text(plan: dict, what: str) -> str:
    """The plan in a few lines, for a dry run's message and `data --plan`."""
    if not plan["corpus_tokens"]:
        return f"{what}: {plan['format']} data of the local corpus (its size is known once tokenized)"
    lines = [f"{what}: {plan['corpus_tokens']:,} tokens as {plan['format']}"
             + (f" ({plan['parts']} parts, >= {plan['shards_at_least']:,} shards of {plan['shard_tokens']:,} tokens)"
                if plan["format"] == "shards" else "")
             + f", {_size(plan['disk_bytes'])} on disk"]  # fmt: skip
    if "hours" in plan:
        lines.append(f"tokenizing: {plan['core_hours']:,} core-hours at {plan['tokens_per_s_per_core'] / 1e6:.2f}M "
                     f"tokens/s/core (measured on {plan['rate_measured_on']}, vocabulary {plan['rate_vocab']:,}), "
                     f"{plan['hours']:,} h on {plan['workers']} cores; reading the stream is not counted")
    else:
        lines.append("tokenizing time: no measured rate (snakemake shards_bench writes results/shards/bench.json)")
    worst = max(plan["runs"].items(), key=lambda kv: kv[1]["epochs"], default=None)
    if worst:
        repeats = [n for n, r in plan["runs"].items() if r["epochs"] > 1]
        lines.append(f"runs: {len(plan['runs'])}, the longest {worst[0]} sees {worst[1]['tokens']:,} tokens "
                     f"({worst[1]['epochs']:.3f} epochs); "
                     + (f"{len(repeats)} runs repeat data" if repeats else "no run repeats data"))  # fmt: skip
    return "\n".join(lines)
