"""Data: checksums, clear errors, corpus readers, the tokenizer cache."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bitnet_repro.config import DataConfig
from bitnet_repro.data import (
    CHECKSUMS,
    DATA_ENV,
    DataError,
    hf_corpus,
    prepare,
    resolve_data_dir,
    split_c4,
    strip_brown_tags,
    verified,
)

try:
    DATA = resolve_data_dir(DataConfig())
except DataError:
    DATA = None
needs_data = pytest.mark.skipif(DATA is None, reason=f"no data directory (set {DATA_ENV})")


def test_missing_data_dir_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=f"does not exist.*export {DATA_ENV}=") as e:
        resolve_data_dir(DataConfig())
    assert str(tmp_path / "nowhere") in str(e.value)


def test_missing_and_corrupt_files_name_path_and_checksum(tmp_path):
    rel = "wikitext2/wiki.test.raw.hf-nonempty-crlf"
    with pytest.raises(DataError, match=f"missing data file .*{CHECKSUMS[rel]}"):
        verified(tmp_path, rel)
    (tmp_path / "wikitext2").mkdir()
    (tmp_path / rel).write_text("not wikitext")
    with pytest.raises(DataError, match=f"corrupt data file {tmp_path / rel}: sha256 .*expected {CHECKSUMS[rel]}"):
        verified(tmp_path, rel)


def test_brown_tags_are_stripped():
    tagged = "\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' ./.\n\tIt/pps ran/vbd ./.\n"
    assert strip_brown_tags(tagged) == 'The Fulton County said " no evidence " . It ran .'


def test_c4_holdout_is_fixed_and_disjoint():
    docs = [f"document {i}" for i in range(100)]
    train, val = split_c4(docs, 10)
    assert len(val) == 10 and not set(train) & set(val)
    assert split_c4(list(reversed(docs)), 10)[1] == list(reversed(val))


def test_hf_source_fails_fast_without_network():
    with pytest.raises(DataError, match="cannot reach|needs the `datasets` package"):
        hf_corpus(DataConfig(source="hf"))


@needs_data
def test_prepare_real_data_and_cache(tmp_path, monkeypatch):
    cfg = DataConfig(vocab_size=512, tokenizer_sample_chars=200_000, corpus=("brown",), c4_val_docs=20)
    out = prepare(cfg, tmp_path)
    info = json.loads((out / "data.json").read_text())
    n_docs = info["train_documents"]  # the 500 Brown documents minus the in-domain validation split (2%)
    assert 480 <= n_docs < 500 and info["tokens"]["train"] > 100_000 and info["tokens"]["val_indomain"] > 0
    train = np.fromfile(out / "train.bin", dtype=np.uint16)
    assert train.max() < 512 and (train == 2).sum() == n_docs  # one EOS per document
    mtime = (out / "train.bin").stat().st_mtime_ns
    prepare(cfg, tmp_path)  # cached by content hash: nothing rebuilt
    assert (out / "train.bin").stat().st_mtime_ns == mtime


@needs_data
def test_corrupt_copy_of_real_data_is_caught(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(DATA / "wikitext2", copy / "wikitext2")
    path = copy / "wikitext2/wiki.test.raw.hf-nonempty-crlf"
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(DataError, match="corrupt data file"):
        verified(Path(copy), "wikitext2/wiki.test.raw.hf-nonempty-crlf")


@needs_data
def test_vocab_too_small_for_the_corpus(tmp_path):
    with pytest.raises(DataError, match="could not train with data.vocab_size=270"):
        prepare(DataConfig(vocab_size=270, tokenizer_sample_chars=100_000, corpus=("brown",)), tmp_path)


def test_indomain_split_is_fixed_disjoint_and_proportional():
    from bitnet_repro.data import split_indomain

    docs = [f"story {i}" for i in range(2000)] + [f"article {i}" for i in range(2000)]
    kept, held = split_indomain(docs, 0.05)
    assert not set(kept) & set(held) and len(kept) + len(held) == len(docs)
    assert 0.03 < len(held) / len(docs) < 0.07
    assert 0.3 < sum(d.startswith("story") for d in held) / len(held) < 0.7  # every source contributes
    assert split_indomain(list(reversed(docs)), 0.05)[1] == list(reversed(held))  # independent of order


@needs_data
def test_token_bytes_count_utf8_bytes(tmp_path):
    import sentencepiece as spm

    from bitnet_repro.data import token_bytes

    cfg = DataConfig(vocab_size=512, tokenizer_sample_chars=200_000, corpus=("brown",), c4_val_docs=20)
    out = prepare(cfg, tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    table = token_bytes(sp)
    np.testing.assert_array_equal(np.load(out / "token_bytes.npy"), table)
    text = "The jury said it did find that caf\u00e9s were \u201cwell run\u201d."
    ids = sp.encode(text)
    assert table[ids].sum() == len((" " + text).encode("utf-8"))  # SentencePiece's dummy prefix is one space
    assert table[sp.eos_id()] == 0
