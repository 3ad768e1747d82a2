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
    assert info["train_documents"] == 500 and info["tokens"]["train"] > 100_000
    train = np.fromfile(out / "train.bin", dtype=np.uint16)
    assert train.max() < 512 and (train == 2).sum() == 500  # one EOS per document
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
