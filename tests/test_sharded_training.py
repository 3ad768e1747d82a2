"""Sharded data end to end: `data.prepare` with data.format=shards on the local corpus, training from the shards
with 2 gloo processes (disjoint windows, bitwise resume after a kill), the epochs a run records, and the data
step's plan for the paper profile (one pass per run)."""

import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest
import sentencepiece as spm
from conftest import DATA_DIR

from bitnet_repro.checks import kill_and_resume
from bitnet_repro.config import ConfigError, DataConfig
from bitnet_repro.data import data_plan, encode, local_corpus, plan_text, prepare, train_format
from bitnet_repro.profile import Profile, load_profile, make_run
from bitnet_repro.shards import ShardedTokens, read_manifest, verify, write_shards
from bitnet_repro.train import train

pytestmark = pytest.mark.skipif(DATA_DIR is None, reason="evaluation data directory not found")

CFG = DataConfig(format="shards", corpus=("c4",), vocab_size=512, tokenizer_sample_chars=1_000_000, c4_val_docs=50,
                 shard_tokens=200_000, shard_parts=3)  # fmt: skip


@pytest.fixture(scope="module")
def shard_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    prepare(CFG, out, workers=2)
    return out


def _run(**train):
    t = dict(steps=12, warmup_steps=2, eval_every=6, ckpt_every=3, eval_tokens=512, batch_tokens=2048, micro_batch=8,
             seq_len=64, threads=1)  # fmt: skip
    return make_run(load_profile("smoke"), CFG, "tiny-1", "bitnet_b158", train_overrides={**t, **train})


def test_shards_hold_the_local_corpus_tokens(shard_data):
    info = json.loads((shard_data / "data.json").read_text())
    manifest = verify(shard_data / "train")
    assert train_format(shard_data) == "shards" and info["format"] == "shards"
    assert info["shards"] == len(manifest["shards"]) > info["parts"] == 3
    assert info["tokens"]["train"] == manifest["tokens"]
    sp = spm.SentencePieceProcessor(model_file=str(shard_data / "tokenizer.model"))
    docs, _ = local_corpus(CFG)
    stream = np.concatenate([np.fromfile(shard_data / "train" / "shards" / s["file"], dtype=np.uint16)
                             for s in manifest["shards"]])  # fmt: skip
    assert np.array_equal(stream, encode(sp, docs))  # the in-memory path's train.bin, token for token
    for name in ("wikitext2", "c4", "indomain"):
        assert (shard_data / f"val_{name}.bin").stat().st_size == 2 * info["tokens"][f"val_{name}"]


def test_killed_data_step_keeps_tokenizer_and_finished_parts(shard_data, tmp_path):
    out = tmp_path / "data"
    shutil.copytree(shard_data, out)
    (out / "data.json").unlink()  # as if killed after the tokenizer and parts 0 and 2
    (out / "train" / "parts" / "00001.json").unlink()
    (out / "train" / "manifest.json").unlink()
    tok_mtime = (out / "tokenizer.model").stat().st_mtime_ns
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "train" / "shards").glob("0000[02]_*.bin")}
    prepare(CFG, out)
    assert (out / "tokenizer.model").stat().st_mtime_ns == tok_mtime
    assert {p.name: p.stat().st_mtime_ns for p in (out / "train" / "shards").glob("0000[02]_*.bin")} == kept
    assert read_manifest(out / "train") == read_manifest(shard_data / "train")


def test_two_gloo_processes_from_shards_resume_bitwise(shard_data, tmp_path):
    result = kill_and_resume(_run(), shard_data, tmp_path / "work", tmp_path / "resume.json", procs=2)
    assert result["final_weights_bitwise_equal"] and result["resumed_run_read_the_same_windows"]
    assert result["world_size"] == 2 and result["data_format"] == "shards" and not result["data_repeats"]
    d = result["data"]
    assert d["steps_traced"] == 12 and d["ranks_disjoint_every_step"] and d["windows_per_rank_per_step"] == 16
    assert d["windows_read"] == 12 * 32 and d["windows_read_more_than_once"] == 0  # within one epoch: none again
    assert result["killed_after_step"] > result["resumed_from_step"] > 0
    assert result["shards"]["verified"] and result["shards"]["parts"] == 3


def test_run_longer_than_its_shards_says_it_repeats_data(shard_data, tmp_path, caplog):
    small = tmp_path / "small"
    small.mkdir()
    for f in ["tokenizer.model", "token_bytes.npy", *(p.name for p in shard_data.glob("val_*.bin"))]:
        shutil.copy(shard_data / f, small / f)
    docs, _ = local_corpus(CFG)
    write_shards([docs[:3], docs[3:6]], small / "tokenizer.model", small / "train", 5_000, progress=False)
    windows = ShardedTokens(small / "train", 64, 0).n_windows
    run = _run(steps=6, eval_every=6, ckpt_every=6)
    with caplog.at_level(logging.WARNING, logger="bitnet_repro.train"):
        summary = train(run, small, tmp_path / "run", progress=False)
    assert summary["data_format"] == "shards" and summary["epochs"] == pytest.approx(6 * 32 / windows, abs=1e-4)
    assert summary["epochs"] > 1 and summary["data_repeats"] is True
    assert "repeats its data" in caplog.text


def test_array_runs_record_their_epochs(token_dir, tmp_path):
    run = _run(steps=2, warmup_steps=1, eval_every=2, ckpt_every=2)
    run = dataclasses.replace(run, data=DataConfig(vocab_size=512))
    summary = train(run, token_dir, tmp_path / "run", progress=False)
    n = np.fromfile(token_dir / "train.bin", dtype=np.uint16).size
    assert summary["data_format"] == "array" and summary["data_tokens"] == n
    assert summary["epochs"] == pytest.approx(2 * 2048 / n, abs=1e-4) and "data_repeats" not in summary


def test_paper_profile_plans_one_pass_per_run():
    p = Profile.load("paper")
    assert p.data.format == "shards" and p.data.source == "hf"
    runs = {r.name: r.train.total_tokens for r in (*p.runs, *p.pilots) if r.data == p.data}
    plan = data_plan(p.data, runs, workers=64)
    assert plan["max_epochs"] <= 1 and plan["runs"]["b158-3.9B-bitnet_b158"]["tokens"] == 100_000 * 512 * 2048
    assert plan["disk_bytes"] == 2 * p.data.hf_train_tokens and plan["shards_at_least"] >= p.data.shard_parts
    assert "no run repeats data" in plan_text(plan, "paper")
    # its BitDistill runs tokenize with the teacher's tokenizer, into one array
    assert {r.data.format for r in p.pilots if r.distill} == {"array"}


def test_data_config_errors():
    with pytest.raises(ConfigError, match="data.format"):
        DataConfig(format="parquet")
    with pytest.raises(ConfigError, match="shard_tokens"):
        DataConfig(format="shards", shard_tokens=1)
    with pytest.raises(ConfigError, match="pretrained tokenizer"):
        DataConfig(format="shards", tokenizer="smollm2-135m", vocab_size=49152)


def test_streamed_corpus_into_shards(tmp_path, monkeypatch):
    """data.source=hf with format=shards through a stand-in for `datasets` (no network here): each part reads its
    file of the stream up to its share of hf_train_tokens, without the documents held out for validation; the
    in-domain validation set is the held-out documents of the tokenizer's sample."""
    import socket
    import sys
    import types

    from bitnet_repro import shards as shards_module
    from bitnet_repro.data import c4_documents, split_indomain
    from bitnet_repro.shards import held_out

    docs = c4_documents(DATA_DIR)[:400]
    files = [docs[0::2], docs[1::2]]  # the corpus's two "files"

    class Stream:
        num_shards = 2

        def __iter__(self):
            return iter({"text": d} for f in files for d in f)

        def shard(self, num_shards, index):
            assert num_shards == 2
            return [{"text": d} for d in files[index]]

    def load_dataset(name, config=None, split=None, streaming=False):
        if name == "wikitext":
            return {"text": ["a wiki text\n"]}
        return Stream() if split == "train" else [{"text": d} for d in docs[:5]]

    class Socket:
        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Socket())
    monkeypatch.setattr(shards_module, "ENCODE_BATCH", 16)  # a part stops within its file (workers=1: this process)
    cfg = DataConfig(source="hf", format="shards", vocab_size=512, tokenizer_sample_chars=300_000, c4_val_docs=5,
                     indomain_val_frac=0.1, hf_train_tokens=60_000, shard_parts=2, shard_tokens=20_000)  # fmt: skip
    out = tmp_path / "data"
    prepare(cfg, out)
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    manifest = verify(out / "train")
    for i, f in enumerate(files):
        kept = [d for d in f if not held_out(d, 0.1)]
        stream = np.concatenate([np.fromfile(out / "train" / "shards" / s["file"], dtype=np.uint16)
                                 for s in manifest["shards"] if s["file"].startswith(f"{i:05d}_")])  # fmt: skip
        assert 30_000 <= stream.size < encode(sp, kept).size  # its share, then it stopped: whole documents
        assert np.array_equal(stream, encode(sp, kept)[: stream.size])
    sample = []
    for d in (d for f in files for d in f):
        sample.append(d)
        if sum(map(len, sample)) >= 300_000:
            break
    _, indomain = split_indomain(sample, 0.1)
    assert indomain and np.array_equal(np.fromfile(out / "val_indomain.bin", dtype=np.uint16),
                                       encode(sp, ["\n\n".join(indomain)]))  # fmt: skip
