"""Sharded token arrays for corpora too large to tokenize in memory, and a stateless loader over them.

`data.prepare` encodes the whole corpus in one process into one train.bin; at 100B tokens neither the memory
nor the single core suffice. Here the document stream is split into parts that workers encode independently,
each into fixed-size shards, so memory is bounded by one shard buffer and the work spreads over processes.

Layout of `out_dir`:
    shards/{part:05d}_{k:04d}.bin   token ids (uint16, or uint32 for vocabularies over 65,535), each document
                                    followed by EOS as `data.encode` writes it; the last shard of a part is partial
    parts/{part:05d}.json           a part's shards (file, tokens, documents, sha256), written after them: a part
                                    without it is unfinished, and a rerun redoes only such parts
    manifest.json                   tokenizer sha256, vocabulary, dtype and every shard, written when all parts
                                    are done; its content depends on the parts, not on the workers or their order

The loader (`ShardedTokens`) cuts each shard into non-overlapping windows of seq_len + 1 tokens (a window never
crosses a shard, so no shard has to be open beside its neighbour) and draws a step's global batch from a
permutation of all windows seeded by (seed, epoch): a batch is a pure function of (seed, step), so a resumed
run sees the same data as an uninterrupted one without saving loader state, and ranks take disjoint slices.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import lzma
import mmap
import multiprocessing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
from tqdm import tqdm

from bitnet_repro.errors import ReproError
from bitnet_repro.utils import atomic_write_bytes, atomic_write_text, sha256_file

# torch is imported where used: the writer's worker processes need none of it

log = logging.getLogger(__name__)

FORMAT = 1
ENCODE_BATCH = 256  # documents per SentencePiece call: amortises the call, keeps memory small


class ShardError(ReproError, RuntimeError):
    """Missing, incomplete or corrupt shards; the message names the file and how to rebuild it."""


# ------------------------------------------------------------------------------------------------------
# Parts of the document stream
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One independently readable piece of the document stream (picklable, so a worker process can read it).

    kind    jsonl: `source` is a JSON-lines file, one document per line in field `field` (.gz/.xz read as such)
            text:  `source` is a text file, one document per non-empty line
            docs:  `docs` holds the documents (small corpora and tests)
            hf:    shard `index` of `n_shards` of `datasets.load_dataset(source, config, split=split,
                   streaming=True)`, documents in field `field`
    max_tokens     > 0: the part ends with the encoding batch that brings it to at least this many tokens (whole
                   documents; a streamed corpus is read only as far as the run needs)
    holdout_frac   > 0: documents that `held_out` assigns to the validation split are left out
    """

    kind: str
    source: str = ""
    docs: tuple[str, ...] = ()
    config: str | None = None
    split: str = "train"
    n_shards: int = 1
    index: int = 0
    field: str = "text"
    max_tokens: int = 0
    holdout_frac: float = 0.0

    def documents(self) -> Iterator[str]:
        docs = self._documents()
        return (d for d in docs if not held_out(d, self.holdout_frac)) if self.holdout_frac > 0 else docs

    def _documents(self) -> Iterator[str]:
        if self.kind == "docs":
            yield from self.docs
        elif self.kind in ("jsonl", "text"):
            with _open_text(Path(self.source)) as f:
                for line in f:
                    if line.strip():
                        yield json.loads(line)[self.field] if self.kind == "jsonl" else line.rstrip("\n")
        elif self.kind == "hf":
            import datasets  # heavy, and needed only for this kind

            stream = datasets.load_dataset(self.source, self.config, split=self.split, streaming=True)
            if self.n_shards > stream.num_shards:
                raise ShardError(f"{self.source} ({self.config}, {self.split}) streams from {stream.num_shards} files, "
                                 f"fewer than data.shard_parts={self.n_shards}: set shard_parts to at most that")
            for row in stream.shard(num_shards=self.n_shards, index=self.index):
                yield row[self.field]
        else:
            raise ShardError(f"unknown part kind {self.kind!r}: use jsonl, text, docs or hf")

    def fingerprint(self) -> str:
        """What identifies the part's content, so that a rerun with other inputs does not reuse its shards."""
        return f"{self._source_fingerprint()}:max{self.max_tokens}:hold{self.holdout_frac}"

    def _source_fingerprint(self) -> str:
        if self.kind == "docs":
            h = hashlib.sha256()
            for doc in self.docs:
                h.update(hashlib.sha256(doc.encode()).digest())
            return f"docs:{len(self.docs)}:{h.hexdigest()}"
        if self.kind in ("jsonl", "text"):
            path = Path(self.source).resolve()
            return f"{self.kind}:{path}:{path.stat().st_size if path.exists() else -1}:{self.field}"
        return f"hf:{self.source}:{self.config}:{self.split}:{self.n_shards}:{self.index}:{self.field}"


def held_out(doc: str, frac: float) -> bool:
    """Whether a document belongs to the held-out (in-domain validation) fraction `frac`: its sha256, read as a
    fraction of 2^32, is below `frac`. A fixed set, independent of order and of how the stream is split."""
    return int(hashlib.sha256(doc.encode()).hexdigest()[:8], 16) < frac * 2**32


def as_part(p: Part | str | Path | tuple | list) -> Part:
    """A Part from a Part, a file path (.jsonl/.json[.gz|.xz] -> jsonl, else text), a list of documents, or
    a tuple ("hf", dataset, config, split, n_shards, index)."""
    if isinstance(p, Part):
        return p
    if isinstance(p, (str, Path)):
        suffixes = [s for s in Path(p).suffixes if s not in (".gz", ".xz")]
        return Part("jsonl" if suffixes and suffixes[-1] in (".jsonl", ".json") else "text", str(p))
    if isinstance(p, tuple) and p and p[0] == "hf":
        _, dataset, config, split, n_shards, index = p
        return Part("hf", dataset, config=config, split=split, n_shards=n_shards, index=index)
    if isinstance(p, list):
        return Part("docs", docs=tuple(p))
    raise ShardError(f"cannot read documents from {p!r}: give a path, a list of documents, a Part or an hf tuple")


def _open_text(path: Path):
    if not path.is_file():
        raise ShardError(f"part file {path} not found")
    opener = {".gz": gzip.open, ".xz": lzma.open}.get(path.suffix, open)
    return opener(path, "rt", encoding="utf-8")


# ------------------------------------------------------------------------------------------------------
# Writer
# ------------------------------------------------------------------------------------------------------


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32)


def _marker(out_dir: Path, i: int) -> Path:
    return out_dir / "parts" / f"{i:05d}.json"


def _finished(out_dir: Path, i: int, key: str) -> dict | None:
    """The part's marker when it is complete and was written for the same inputs, else None."""
    path = _marker(out_dir, i)
    if not path.exists():
        return None
    marker = json.loads(path.read_text())
    return marker if marker.get("key") == key else None


def _write_part(job: tuple[int, Part, str, str, int, str]) -> int:
    """Encode one part into shards, then write its marker. Runs in a worker process (or inline)."""
    i, part, tokenizer_model, out, shard_tokens, key = job
    out_dir = Path(out)
    sp = spm.SentencePieceProcessor(model_file=tokenizer_model)
    eos, dtype = sp.eos_id(), token_dtype(sp.get_piece_size())
    # an earlier, killed run may have left shards of this part: they would be neither rewritten nor listed
    for stale in [*(out_dir / "shards").glob(f"{i:05d}_*.bin"), *(out_dir / "shards").glob(f".{i:05d}_*")]:
        stale.unlink()  # (the second: temporary files of an interrupted atomic write)
    _marker(out_dir, i).unlink(missing_ok=True)

    buf, fill, shards = np.empty(shard_tokens, dtype=dtype), 0, []

    def flush() -> None:
        nonlocal fill
        name = f"{i:05d}_{len(shards):04d}.bin"
        data = buf[:fill].tobytes()
        atomic_write_bytes(out_dir / "shards" / name, data)
        shards.append({"file": name, "tokens": fill, "documents": int(np.count_nonzero(buf[:fill] == eos)),
                       "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
        fill = 0

    docs, total = part.documents(), 0
    while (not part.max_tokens or total < part.max_tokens) and (batch := list(itertools.islice(docs, ENCODE_BATCH))):
        # one thread per call: parallelism comes from the workers, one part each
        ids = [doc_ids + [eos] for doc_ids in sp.encode(batch, num_threads=1)]
        arr = np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype, count=sum(map(len, ids)))
        pos, total = 0, total + arr.size
        while pos < arr.size:
            n = min(shard_tokens - fill, arr.size - pos)
            buf[fill : fill + n] = arr[pos : pos + n]
            fill, pos = fill + n, pos + n
            if fill == shard_tokens:
                flush()
    if fill or not shards:
        flush()
    atomic_write_text(_marker(out_dir, i), json.dumps({"key": key, "shards": shards}, indent=1))
    return i


def write_shards(parts: Iterable, tokenizer_model: Path, out_dir: Path, shard_tokens: int, workers: int = 1,
                 progress: bool = True) -> dict:  # fmt: skip
    """Tokenize `parts` (see `as_part`) into shards of `shard_tokens` tokens in out_dir; returns the manifest.

    Parts already finished for the same inputs (tokenizer, shard size, part content) are kept, so a killed
    run resumes where it stopped. workers > 1 encodes parts in that many spawned processes (safe beside
    threads and CUDA); workers=1 runs in this process."""
    parts = [as_part(p) for p in parts]
    out_dir, tokenizer_model = Path(out_dir), Path(tokenizer_model)
    if not parts or shard_tokens < 2:
        raise ShardError(f"need at least one part and shard_tokens >= 2 (got {len(parts)} parts, {shard_tokens})")
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_model))
    if sp.eos_id() < 0:
        raise ShardError(f"{tokenizer_model} has no EOS piece, which separates documents in the token stream")
    tok_sha = sha256_file(tokenizer_model)
    keys = [hashlib.sha256(f"{FORMAT}:{tok_sha}:{shard_tokens}:{p.fingerprint()}".encode()).hexdigest()
            for p in parts]  # fmt: skip
    todo = [i for i, key in enumerate(keys) if _finished(out_dir, i, key) is None]
    (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    if todo:
        (out_dir / "manifest.json").unlink(missing_ok=True)  # stale until every part is done again
    for path in (out_dir / "shards").glob("*.bin"):  # shards of parts beyond the current list
        if path.name[:5].isdigit() and int(path.name[:5]) >= len(parts):
            path.unlink()
    log.info("%d of %d parts to tokenize into %s", len(todo), len(parts), out_dir)
    jobs = [(i, parts[i], str(tokenizer_model), str(out_dir), shard_tokens, keys[i]) for i in todo]
    bar = tqdm(total=len(jobs), unit="part", desc="tokenize", disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _write_part(job)
            bar.update()
    else:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            for _ in pool.imap_unordered(_write_part, jobs):
                bar.update()
    bar.close()

    shards = []
    for i, key in enumerate(keys):
        marker = _finished(out_dir, i, key)
        if marker is None:
            raise ShardError(f"part {i} has no completion marker after tokenizing; rerun write_shards")
        shards.extend(marker["shards"])
    manifest = {"format": FORMAT, "tokenizer_sha256": tok_sha, "vocab_size": sp.get_piece_size(),
                "eos_id": sp.eos_id(), "dtype": token_dtype(sp.get_piece_size()).name, "shard_tokens": shard_tokens,
                "parts": len(parts), "tokens": sum(s["tokens"] for s in shards),
                "documents": sum(s["documents"] for s in shards),
                "shards": sorted(shards, key=lambda s: s["file"])}  # fmt: skip
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        raise ShardError(f"{path} not found: the shards are missing or unfinished; run write_shards (again)")
    return json.loads(path.read_text())


def verify(out_dir: Path) -> dict:
    """Re-hash every shard against the manifest; returns the manifest, raises ShardError on the first mismatch."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    itemsize = np.dtype(manifest["dtype"]).itemsize
    for s in manifest["shards"]:
        path = out_dir / "shards" / s["file"]
        fix = f"delete {_marker(out_dir, int(s['file'][:5]))} and rerun write_shards to rebuild that part"
        if not path.is_file():
            raise ShardError(f"shard {path} is missing; {fix}")
        if path.stat().st_size != s["tokens"] * itemsize:
            raise ShardError(f"shard {path} has {path.stat().st_size} bytes, expected {s['tokens'] * itemsize}; {fix}")
        if (actual := sha256_file(path)) != s["sha256"]:
            raise ShardError(f"corrupt shard {path}: sha256 {actual}, expected {s['sha256']}; {fix}")
    return manifest


# ------------------------------------------------------------------------------------------------------
# Loader
# ------------------------------------------------------------------------------------------------------


def epoch_order(seed: int, epoch: int, n_windows: int) -> np.ndarray:
    """The order in which epoch `epoch` visits `n_windows` windows (int64 indices)."""
    return np.random.Generator(np.random.PCG64([seed, epoch])).permutation(n_windows)


class ShardedTokens:
    """Training windows over the shards of `out_dir`, batch by batch as a pure function of (seed, step).

    Each shard of n tokens holds (n - 1) // seq_len non-overlapping windows of seq_len + 1 tokens (inputs and
    shifted targets). Epoch e visits all windows in the order `PCG64([seed, e]).permutation(n_windows)`; the
    global batch of step s is positions [s * global_batch, (s + 1) * global_batch) of the epochs' orders laid
    end to end, and rank r of `world` takes every world-th window from r on. Shards are memory-mapped when
    first read, so opening costs nothing however many there are."""

    def __init__(self, out_dir: Path, seq_len: int, seed: int, random_access: bool = True) -> None:
        self.out_dir, self.seq_len, self.seed, self.random_access = Path(out_dir), seq_len, seed, random_access
        manifest = read_manifest(self.out_dir)
        self.dtype = np.dtype(manifest["dtype"])
        self.files = [s["file"] for s in manifest["shards"]]
        self.shard_tokens = [s["tokens"] for s in manifest["shards"]]
        per_shard = [max(0, (n - 1) // seq_len) for n in self.shard_tokens]
        self.first = np.concatenate([[0], np.cumsum(per_shard)]).astype(np.int64)  # first window of each shard
        self.n_windows = int(self.first[-1])
        if self.n_windows == 0:
            raise ShardError(f"the shards in {self.out_dir} hold no window of {seq_len + 1} tokens")
        self._maps: dict[int, np.memmap] = {}
        self._perm: tuple[int, np.ndarray] | None = None  # (epoch, order): the current epoch's only

    def permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, epoch_order(self.seed, epoch, self.n_windows))
        return self._perm[1]

    def window_ids(self, step: int, global_batch: int) -> np.ndarray:
        """Global window indices of the step's batch, in order (a batch may straddle two epochs)."""
        pos = np.arange(step * global_batch, (step + 1) * global_batch, dtype=np.int64)
        epochs = pos // self.n_windows
        out = np.empty_like(pos)
        for e in np.unique(epochs):  # ascending, so the cache moves forward only
            sel = epochs == e
            out[sel] = self.permutation(int(e))[pos[sel] % self.n_windows]
        return out

    def _shard(self, k: int) -> np.memmap:
        if k not in self._maps:
            path = self.out_dir / "shards" / self.files[k]
            expected = self.shard_tokens[k] * self.dtype.itemsize
            if not path.is_file() or path.stat().st_size != expected:
                raise ShardError(f"shard {path} is missing or not {expected} bytes; run verify({self.out_dir})")
            self._maps[k] = np.memmap(path, dtype=self.dtype, mode="r")
            if self.random_access and hasattr(mmap, "MADV_RANDOM"):  # windows are read in random order: without
                # it, the kernel reads ahead around each 4 KB window (cost/data_bench.py measures both)
                self._maps[k]._mmap.madvise(mmap.MADV_RANDOM)
        return self._maps[k]

    def windows(self, ids: np.ndarray):
        """(x, y) int64 tensors of shape (len(ids), seq_len): inputs and next-token targets of global windows `ids`."""
        import torch

        shard = np.searchsorted(self.first, ids, side="right") - 1
        start = (ids - self.first[shard]) * self.seq_len
        buf = np.empty((len(ids), self.seq_len + 1), dtype=np.int64)
        for row, (k, o) in enumerate(zip(shard.tolist(), start.tolist())):
            buf[row] = self._shard(k)[o : o + self.seq_len + 1]
        t = torch.from_numpy(buf)
        return t[:, :-1], t[:, 1:]

    def batch(self, step: int, global_batch: int, rank: int = 0, world: int = 1):
        """(x, y) of `rank`'s windows of the step: every world-th of the global batch, from the rank-th on."""
        return self.windows(self.window_ids(step, global_batch)[rank::world])

    def epoch_of(self, step: int, global_batch: int) -> float:
        """Epochs completed after `step` steps (tokens seen / tokens of one epoch); above 1, data repeats."""
        return step * global_batch / self.n_windows
