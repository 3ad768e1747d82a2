"""Sharded pre-tokenization and the stateless loader: same tokens as `data.encode`, deterministic manifests,
resume after a kill, and batches that are a pure function of (seed, step), disjoint across ranks."""

import gzip
import io
import json
import random
import shutil
import sys
import types
from collections import Counter

import numpy as np
import pytest
import sentencepiece as spm

from bitnet_repro.data import encode
from bitnet_repro.errors import ReproError
from bitnet_repro.shards import Part, ShardedTokens, ShardError, as_part, read_manifest, verify, write_shards

SHARD_TOKENS = 700
WORDS = "the a cat dog sat ran on under big small red blue house tree river and then it was happy 1984 café".split()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Four parts of synthetic documents (a jsonl file, a gzipped jsonl file, a text file, an in-memory list),
    the documents of each, and a small SentencePiece model trained on them (the suite's settings)."""
    root = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)
    docs = [[" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(90)] for _ in range(4)]
    (root / "a.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs[0]))
    with gzip.open(root / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(docs[1])))
    (root / "c.txt").write_text("\n".join(docs[2]) + "\n\n")
    parts = [root / "a.jsonl", str(root / "b.jsonl.gz"), root / "c.txt", list(docs[3])]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([d for p in docs for d in p]), model_writer=buf,
                                   vocab_size=320, model_type="bpe", byte_fallback=True, split_digits=True,
                                   normalization_rule_name="identity", remove_extra_whitespaces=False,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)  # fmt: skip
    (root / "tokenizer.model").write_bytes(buf.getvalue())
    return parts, docs, root / "tokenizer.model"


@pytest.fixture(scope="session")
def shards(corpus, tmp_path_factory):
    parts, _, tok = corpus
    out = tmp_path_factory.mktemp("shards")
    write_shards(parts, tok, out, SHARD_TOKENS, progress=False)
    return out


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.bin"))}


def test_parts_from_paths_lists_and_hf_tuples(corpus):
    parts, docs, _ = corpus
    assert [as_part(p).kind for p in parts] == ["jsonl", "jsonl", "text", "docs"]
    assert [list(as_part(p).documents()) for p in parts] == docs
    hf = Part("hf", "allenai/c4", config="en", n_shards=8, index=3)
    assert as_part(("hf", "allenai/c4", "en", "train", 8, 3)) == hf
    with pytest.raises(ShardError, match="cannot read documents"):
        as_part(42)


def test_tokens_equal_data_encode_of_each_part(corpus, shards):
    parts, docs, tok = corpus
    sp = spm.SentencePieceProcessor(model_file=str(tok))
    manifest = verify(shards)
    expected = np.concatenate([encode(sp, d) for d in docs])
    assert np.array_equal(np.concatenate([np.fromfile(shards / "shards" / s["file"], np.uint16)
                                          for s in manifest["shards"]]), expected)  # fmt: skip
    assert manifest["tokens"] == expected.size and manifest["documents"] == sum(map(len, docs))
    assert manifest["dtype"] == "uint16" and manifest["vocab_size"] == 320 and manifest["parts"] == 4
    for i, d in enumerate(docs):  # full shards of shard_tokens, the last of each part partial
        counts = [s["tokens"] for s in manifest["shards"] if s["file"].startswith(f"{i:05d}_")]
        assert len(counts) > 1 and set(counts[:-1]) == {SHARD_TOKENS} and 0 < counts[-1] <= SHARD_TOKENS
        assert sum(counts) == encode(sp, d).size


def test_workers_do_not_change_manifest_or_bytes(corpus, shards, tmp_path):
    parts, _, tok = corpus
    assert write_shards(parts, tok, tmp_path, SHARD_TOKENS, workers=2, progress=False) == read_manifest(shards)
    assert (tmp_path / "manifest.json").read_text() == (shards / "manifest.json").read_text()
    assert shard_bytes(tmp_path) == shard_bytes(shards)


def test_killed_run_redoes_only_unfinished_parts(corpus, shards, tmp_path):
    parts, _, tok = corpus
    out = tmp_path / "out"
    shutil.copytree(shards, out)
    # as a run killed inside part 2 leaves it: no marker, a truncated shard, a temporary file, no manifest
    (out / "parts" / "00002.json").unlink()
    (out / "manifest.json").unlink()
    (out / "shards" / "00002_0001.bin").write_bytes(b"\0" * 10)
    (out / "shards" / ".00002_0002.bin.tmp").write_bytes(b"partial")
    (out / "shards" / "00002_0042.bin").write_bytes(b"stale")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.bin")}
    assert write_shards(parts, tok, out, SHARD_TOKENS, progress=False) == read_manifest(shards)
    assert shard_bytes(out) == shard_bytes(shards)
    assert not list((out / "shards").glob(".*"))
    for name, mtime in mtimes.items():  # finished parts are not rewritten
        if not name.startswith("00002_"):
            assert (out / "shards" / name).stat().st_mtime_ns == mtime
    # other inputs invalidate a finished part: a changed part is redone, not reused
    changed = parts[:3] + [parts[3][:-1]]
    manifest = write_shards(changed, tok, out, SHARD_TOKENS, progress=False)
    assert manifest["documents"] == read_manifest(shards)["documents"] - 1
    verify(out)


def test_hf_part_streams_its_shard(corpus, tmp_path, monkeypatch):
    """The hf kind through a stand-in for `datasets`: load_dataset(..., streaming=True).shard(n, i)."""
    _, docs, tok = corpus
    calls = []

    class Stream:
        num_shards = 2  # files of the stand-in corpus

        def shard(self, num_shards, index):
            calls.append((num_shards, index))
            return [{"text": d} for d in docs[index]]

    def load_dataset(name, config, split, streaming):
        assert (name, config, split, streaming) == ("org/corpus", "en", "train", True)
        return Stream()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    sp = spm.SentencePieceProcessor(model_file=str(tok))
    manifest = write_shards([("hf", "org/corpus", "en", "train", 2, i) for i in range(2)], tok, tmp_path, 10_000,
                            progress=False)  # fmt: skip
    assert calls == [(2, 0), (2, 1)]
    assert manifest["tokens"] == encode(sp, docs[0]).size + encode(sp, docs[1]).size
    with pytest.raises(ShardError, match="shard_parts to at most that"):  # more parts than the corpus has files
        write_shards([("hf", "org/corpus", "en", "train", 3, 0)], tok, tmp_path / "three", 10_000, progress=False)


def test_part_token_budget_and_held_out_documents(corpus, tmp_path, monkeypatch):
    """max_tokens ends a part at the encoding batch that reaches it (whole documents); holdout_frac leaves out
    the documents `held_out` assigns to validation, the same ones data.split_indomain holds out."""
    from bitnet_repro import shards as shards_module
    from bitnet_repro.data import split_indomain
    from bitnet_repro.shards import held_out

    _, docs, tok = corpus
    sp = spm.SentencePieceProcessor(model_file=str(tok))
    monkeypatch.setattr(shards_module, "ENCODE_BATCH", 10)
    budget = encode(sp, docs[0][:10]).size + 1  # just over one batch: the part takes a second batch, then stops
    m = write_shards([Part("docs", docs=tuple(docs[0]), max_tokens=budget)], tok, tmp_path / "budget", 10_000,
                     progress=False)  # fmt: skip
    assert m["tokens"] == encode(sp, docs[0][:20]).size and m["documents"] == 20
    kept, held = split_indomain(docs[1], 0.3)
    assert held and kept == [d for d in docs[1] if not held_out(d, 0.3)]
    m = write_shards([Part("docs", docs=tuple(docs[1]), holdout_frac=0.3)], tok, tmp_path / "held", 10_000,
                     progress=False)  # fmt: skip
    stream = np.fromfile(tmp_path / "held" / "shards" / m["shards"][0]["file"], dtype=np.uint16)
    assert np.array_equal(stream, encode(sp, kept))


def test_verify_names_a_corrupt_shard(shards, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(shards, out)
    path = out / "shards" / "00001_0000.bin"
    data = bytearray(path.read_bytes())
    data[7] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=r"corrupt shard .*00001_0000\.bin: sha256 .*parts/00001\.json") as e:
        verify(out)
    assert isinstance(e.value, ReproError)
    path.write_bytes(bytes(data[:-2]))
    with pytest.raises(ShardError, match="expected 1400"):
        verify(out)
    (out / "manifest.json").unlink()
    with pytest.raises(ShardError, match="manifest.json not found"):
        ShardedTokens(out, 16, 0)


def rows(x):
    return Counter(map(tuple, x.tolist()))


def test_loader_windows_and_determinism(shards):
    manifest = read_manifest(shards)
    data = ShardedTokens(shards, seq_len=16, seed=3)
    assert data._maps == {}  # nothing opened before the first read
    assert data.n_windows == sum((s["tokens"] - 1) // 16 for s in manifest["shards"])
    x, y = data.batch(0, 8)
    assert x.shape == y.shape == (8, 16) and str(x.dtype) == "torch.int64"
    assert (x[:, 1:] == y[:, :-1]).all()
    # every row is a window inside one shard, at a multiple of seq_len
    for wid, row in zip(data.window_ids(0, 8), x.tolist()):
        k = int(np.searchsorted(data.first, wid, side="right") - 1)
        tokens = np.fromfile(shards / "shards" / data.files[k], np.uint16)
        o = (wid - data.first[k]) * 16
        assert row == tokens[o : o + 16].tolist() and o + 17 <= tokens.size
    other = ShardedTokens(shards, seq_len=16, seed=3)
    assert all((a == b).all() for a, b in zip(data.batch(5, 8), other.batch(5, 8)))
    assert not (ShardedTokens(shards, seq_len=16, seed=4).batch(5, 8)[0] == data.batch(5, 8)[0]).all()


def test_ranks_split_the_global_batch(shards):
    data = ShardedTokens(shards, seq_len=16, seed=0)
    for step in (0, 7):
        x, _ = data.batch(step, 9)
        parts = [data.batch(step, 9, rank=r, world=2)[0] for r in range(2)]
        assert [len(p) for p in parts] == [5, 4]
        assert rows(parts[0]) + rows(parts[1]) == rows(x)
        assert not set(rows(parts[0])) & set(rows(parts[1]))  # windows differ (no two identical here)


def test_resume_and_epochs(shards):
    gb = 64
    full = ShardedTokens(shards, seq_len=16, seed=1)
    n = full.n_windows
    steps = 2 * n // gb + 2  # more than two epochs; several batches straddle an epoch boundary
    run = [full.batch(s, gb) for s in range(steps)]
    resumed = ShardedTokens(shards, seq_len=16, seed=1)  # a fresh process resuming at step k
    k = steps // 2 + 1
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all()
               for a, b in zip(run[k:], (resumed.batch(s, gb) for s in range(k, steps))))  # fmt: skip
    ids = np.concatenate([full.window_ids(s, gb) for s in range(steps)])
    assert np.array_equal(np.sort(ids[:n]), np.arange(n)) and np.array_equal(np.sort(ids[n : 2 * n]), np.arange(n))
    assert not np.array_equal(ids[:n], ids[n : 2 * n])  # each epoch its own order
    assert full.epoch_of(0, gb) == 0 and full.epoch_of(steps, gb) == pytest.approx(steps * gb / n)
    assert full.epoch_of(n, 1) == 1.0
