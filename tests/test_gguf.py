"""GGUF export: llama.cpp (llama-cpp-python) computes the same model as ours.

Oracles: our own forward pass. F32 files with an F32 KV cache must match to float rounding; the ternary types
must decode to exactly our codes; TQ2_0/TQ1_0 logits must be close (llama.cpp quantizes activations per block of
256 where we do per token)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitnet_repro.config import ModelConfig
from bitnet_repro.export.gguf import (
    GGUFExportError,
    LlamaCpp,
    Vocab,
    _ternary,
    agreement,
    reference_logits,
    write_gguf,
)
from bitnet_repro.model import Transformer

pytest.importorskip("llama_cpp")


def small(linear: str, seed: int, tie: bool = True, **kw) -> Transformer:
    cfg = dict(vocab_size=512, d_model=256, n_layers=2, n_heads=4, d_ff=512, max_seq_len=128, init_std=0.1)
    cfg.update(kw)
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(linear=linear, arch="llama" if linear == "fp16" else "subln", **cfg)).eval()
    if tie:
        model.lm_head.weight = model.embed_tokens.weight
    return model


def run(model, path, weight_type: str, ids: list[int]) -> np.ndarray:
    write_gguf(model, path, weight_type, Vocab.synthetic(model.cfg.vocab_size))
    with LlamaCpp(path, n_ctx=128, kv_f32=True) as lc:
        return lc.logits(ids)


@pytest.mark.parametrize("tie,kv_heads", [(True, None), (False, None), (True, 2)])
def test_fp16_f32_gguf_equals_our_model(tmp_path, tie, kv_heads):
    model = small("fp16", seed=1, tie=tie, n_kv_heads=kv_heads)
    ids = torch.randint(0, 512, (40,), generator=torch.Generator().manual_seed(2)).tolist()
    a = agreement(reference_logits(model, ids), run(model, tmp_path / "m.gguf", "f32", ids))
    assert a["max_rel_diff"] < 1e-5 and a["top1_agreement"] == 1.0, a


def test_fp16_f16_gguf_is_close(tmp_path):
    model = small("fp16", seed=3)
    ids = torch.randint(0, 512, (40,), generator=torch.Generator().manual_seed(4)).tolist()
    a = agreement(reference_logits(model, ids), run(model, tmp_path / "m.gguf", "f16", ids))
    assert a["max_rel_diff"] < 5e-3 and a["top1_agreement"] == 1.0, a


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_bitnet_f32_codes_equal_our_graph_without_activation_quantization(tmp_path, kv_heads):
    """llama.cpp's BitNet graph is ours (norm layout, rotary, scales) exactly, less the activation quantizer; with
    grouped-query attention too (BitDistill's SmolLM2 student)."""
    model = small("bitnet_b158", seed=5, n_kv_heads=kv_heads)
    ids = torch.randint(0, 512, (40,), generator=torch.Generator().manual_seed(6)).tolist()
    theirs = run(model, tmp_path / "m.gguf", "f32", ids)
    exact = agreement(reference_logits(model, ids, act_quant=False), theirs)
    assert exact["max_rel_diff"] < 1e-5 and exact["top1_agreement"] == 1.0, exact


@pytest.mark.parametrize("weight_type", ["tq2_0", "tq1_0"])
def test_ternary_types_hold_our_codes_exactly_and_logits_agree(tmp_path, weight_type):
    import gguf

    model = small("bitnet_b158", seed=7)
    ids = torch.randint(0, 512, (48,), generator=torch.Generator().manual_seed(8)).tolist()
    path = tmp_path / "m.gguf"
    theirs = run(model, path, weight_type, ids)
    reader = gguf.GGUFReader(str(path))
    tensors = {t.name: t for t in reader.tensors}
    pairs = [("blk.0.attn_q", model.layers[0].self_attn.q_proj), ("blk.1.ffn_down", model.layers[1].mlp.down_proj)]
    for name, lin in pairs:
        codes, beta = _ternary(lin)
        t = tensors[f"{name}.weight"]
        assert t.tensor_type == gguf.GGMLQuantizationType[weight_type.upper()]
        decoded = gguf.quants.dequantize(t.data, t.tensor_type).reshape(codes.shape)
        assert np.array_equal(decoded, codes) and set(np.unique(codes)) == {-1.0, 0.0, 1.0}
        assert float(tensors[f"{name}.scale"].data[0]) == np.float32(beta)
    a = agreement(reference_logits(model, ids), theirs)  # the model as trained: per-token int8 activations
    assert a["correlation"] > 0.999 and a["kl_nats"] < 0.01 and a["top1_agreement"] >= 0.9, a


def test_ternary_file_is_smaller_by_the_expected_factor(tmp_path):
    model = small("bitnet_b158", seed=9)
    sizes = {}
    for wt in ("f32", "tq2_0", "tq1_0"):
        write_gguf(model, tmp_path / f"{wt}.gguf", wt, Vocab.synthetic(512))
        sizes[wt] = (tmp_path / f"{wt}.gguf").stat().st_size
    linear = sum(p.numel() for n, p in model.named_parameters() if n.endswith("proj.weight"))
    # bytes per weight: TQ2_0 66/256, TQ1_0 54/256; F32 4 (the embeddings are F32 there, F16 otherwise)
    emb = model.embed_tokens.weight.numel()
    assert sizes["f32"] - sizes["tq2_0"] == pytest.approx(linear * (4 - 66 / 256) + emb * 2, rel=0.01)
    assert sizes["tq2_0"] - sizes["tq1_0"] == pytest.approx(linear * 12 / 256, rel=0.01)


def test_refusals_say_what_to_do(tmp_path):
    vocab = Vocab.synthetic(512)
    with pytest.raises(GGUFExportError, match="tied head"):
        write_gguf(small("bitnet_b158", seed=0, tie=False), tmp_path / "a.gguf", "tq2_0", vocab)
    with pytest.raises(GGUFExportError, match="BitNet b1"):
        write_gguf(small("bitnet_b1", seed=0), tmp_path / "b.gguf", "f32", vocab)
    with pytest.raises(GGUFExportError, match="multiples of 256"):
        write_gguf(small("bitnet_b158", seed=0, d_ff=5460 // 8), tmp_path / "c.gguf", "tq2_0", vocab)
    with pytest.raises(GGUFExportError, match="not 'tq2_0'"):
        write_gguf(small("fp16", seed=0), tmp_path / "d.gguf", "tq2_0", vocab)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_trained_checkpoint_exports_with_its_tokenizer(checkpoint, tmp_path):
    """The CLI exports an FP16 checkpoint (its own lm_head) with its SentencePiece vocabulary: llama.cpp
    tokenizes text as SentencePiece does and computes the same logits."""
    import sentencepiece as spm

    from bitnet_repro.__main__ import main
    from bitnet_repro.checkpoint import load_model_dir

    out = tmp_path / "m.gguf"
    assert main(["export-gguf", "--model", str(checkpoint), "--out", str(out), "--type", "f32"]) == 0
    sp = spm.SentencePieceProcessor(model_file=str(checkpoint / "tokenizer.model"))
    model, _ = load_model_dir(checkpoint)
    with LlamaCpp(out, n_ctx=256, kv_f32=True) as lc:
        for text in ["The quick brown fox jumps over the lazy dog.", "Numbers 12345 and  two  spaces.\nNew line."]:
            ids = lc.llm.tokenize(text.encode(), add_bos=False, special=False)
            assert ids == sp.encode(text)
        a = agreement(reference_logits(model, ids), lc.logits(ids))
    assert a["max_rel_diff"] < 1e-5, a
