import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if not torch.cuda.is_available():  # Triton kernels run in its interpreter; must be set before triton is imported
    os.environ.setdefault("TRITON_INTERPRET", "1")
torch.set_num_threads(1)


def _data_dir() -> Path | None:
    from bitnet_repro.config import DataConfig
    from bitnet_repro.data import resolve_data_dir

    try:
        return resolve_data_dir(DataConfig())
    except Exception:  # noqa: BLE001
        return None


DATA_DIR = _data_dir()


@pytest.fixture
def token_dir(tmp_path: Path) -> Path:
    """Synthetic token arrays in the layout `data.prepare` writes (training tests need no real data)."""
    rng = np.random.default_rng(0)
    # A learnable stream: a repeating pattern with noise, so that the loss actually falls.
    base = np.tile(np.arange(64, dtype=np.uint16), 2000)
    noise = rng.integers(0, 512, base.size).astype(np.uint16)
    tokens = np.where(rng.random(base.size) < 0.1, noise, base).astype(np.uint16)
    for name in ("train", "val_wikitext2", "val_c4", "val_indomain"):
        tokens.tofile(tmp_path / f"{name}.bin")
    np.save(tmp_path / "token_bytes.npy", np.full(512, 3, dtype=np.int64))  # every piece stands for 3 bytes
    return tmp_path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A small FP16 checkpoint directory with a real SentencePiece tokenizer (trained on local C4 text) and
    random weights scaled up so that scores differ between choices. Beside it, `data/` holds that tokenizer
    and a train.bin of the same text, as `data.prepare` writes them (calibration data for PTQ)."""
    import sentencepiece as spm

    from bitnet_repro.checkpoint import save_model_dir
    from bitnet_repro.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from bitnet_repro.data import c4_documents, encode
    from bitnet_repro.model import Transformer

    if DATA_DIR is None:
        pytest.skip("evaluation data directory not found")
    root = tmp_path_factory.mktemp("ckpt")
    out = root / "model"
    docs = c4_documents(DATA_DIR)[:300]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter("\n".join(docs).splitlines()), model_writer=buf,
                                   vocab_size=512, model_type="bpe", byte_fallback=True, split_digits=True,
                                   normalization_rule_name="identity", remove_extra_whitespaces=False,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)  # fmt: skip
    model_cfg = ModelConfig(vocab_size=512, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq_len=256)
    train = TrainConfig(seq_len=64, steps=1, warmup_steps=0, batch_tokens=64, micro_batch=1, eval_every=1, ckpt_every=1)
    cfg = RunConfig(name="test-fp16", model=model_cfg, train=train,
                    data=DataConfig(vocab_size=512), size="test", variant="fp16")  # fmt: skip
    torch.manual_seed(0)
    model = Transformer(model_cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3) if p.dim() > 1 else None
    save_model_dir(out, model.state_dict(), cfg, meta={})
    (out / "tokenizer.model").write_bytes(buf.getvalue())
    data = root / "data"
    data.mkdir()
    (data / "tokenizer.model").write_bytes(buf.getvalue())
    encode(spm.SentencePieceProcessor(model_proto=buf.getvalue()), docs).tofile(data / "train.bin")
    return out
