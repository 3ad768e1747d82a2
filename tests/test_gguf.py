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


@pytest.mark.parametrize("weight_type", ["f32", "tq2_0"])
def test_padding_to_whole_blocks_is_the_same_model(tmp_path, weight_type):
    """SmolLM2's case in small: d_model 192 (3 query heads of 64 per KV head) and d_ff 320 are not multiples of
    256. Padded with zeros to 768 (whole blocks of whole head groups: 12 query, 4 KV heads) and 512, llama.cpp
    computes our model: exactly with F32 codes (the oracle without activation quantization), as close as
    unpadded TQ2_0 otherwise."""
    import gguf

    model = small("bitnet_b158", seed=11, d_model=192, n_heads=3, n_kv_heads=1, d_ff=320)
    ids = torch.randint(0, 512, (48,), generator=torch.Generator().manual_seed(12)).tolist()
    path = tmp_path / "m.gguf"
    write_gguf(model, path, weight_type, Vocab.synthetic(512), pad=True)
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in gguf.GGUFReader(str(path)).tensors}
    assert shapes["blk.0.attn_q.weight"] == (768, 768) and shapes["blk.0.attn_k.weight"] == (768, 256)
    assert shapes["blk.1.ffn_down.weight"] == (512, 768) and shapes["token_embd.weight"] == (768, 512)
    with LlamaCpp(path, n_ctx=128, kv_f32=True) as lc:
        theirs = lc.logits(ids)
    if weight_type == "f32":
        exact = agreement(reference_logits(model, ids, act_quant=False), theirs)
        assert exact["max_rel_diff"] < 1e-5 and exact["top1_agreement"] == 1.0, exact
    else:
        a = agreement(reference_logits(model, ids), theirs)
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
    with pytest.raises(GGUFExportError, match="Pad them with zeros"):
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


def test_real_export_of_a_student_checks_every_format_and_times_it(tmp_path):
    """export-real on a student of SmolLM2's proportions (widths not whole TQ blocks, 3 query heads per KV head,
    tied head): the Hugging Face round trip computes our model, the padded F32-codes GGUF is exact against our
    graph without activation quantization, TQ2_0 is close; cost-gguf times the TQ2_0 file; the BitDistill
    table's export section reads both."""
    from bitnet_repro.checkpoint import save_model_dir
    from bitnet_repro.config import DataConfig
    from bitnet_repro.cost.real import measure_gguf, side_by_side
    from bitnet_repro.cost.shapes import CostError
    from bitnet_repro.export.real import export_real
    from bitnet_repro.paper.bitdistill import export_table
    from bitnet_repro.profile import load_profile, make_run

    # init_std 0.1: activations of a trained model's size (GGUF shares one norm epsilon, see gguf.Padding)
    shape = {"tie_embeddings": True, "d_model": 192, "n_heads": 3, "n_kv_heads": 1, "d_ff": 320, "init_std": 0.1}
    run = make_run(load_profile("smoke"), DataConfig(vocab_size=512), "tiny-1", "bitnet_b158", shape)
    torch.manual_seed(13)
    model = Transformer(run.model)
    save_model_dir(tmp_path / "run" / "model", model.state_dict(), run, {})
    e = export_real(str(tmp_path / "run" / "model"), tmp_path / "export")
    assert e["hf"]["class"] == "BitNetForCausalLM" and e["hf"]["agreement"]["max_abs_diff"] < 1e-4, e["hf"]
    assert e["hf"]["first_block_equal_fraction"] == 1.0
    assert e["gguf_f32_codes"]["padded"] and e["gguf_f32_codes"]["agreement"]["max_rel_diff"] < 1e-5, e
    assert e["gguf"]["agreement"]["correlation"] > 0.999 and e["gguf"]["agreement"]["top1_agreement"] >= 0.9, e
    assert not (tmp_path / "export" / "bitnet_b158-f32.gguf").exists()  # checked, then removed
    c = side_by_side([(str(tmp_path / "export"), "bitnet_b158-tq2_0.gguf")], rounds=2, prompt=16, new_tokens=4,
                     threads=1)  # fmt: skip
    m = c["models"][0]
    assert m["ms_per_token"] > 0 and m["file_bytes"] == e["gguf"]["bytes"] and len(m["rounds_ms_per_token"]) == 2
    assert m["speedup_vs_first"] == 1.0  # the first model is the baseline
    table, rows = export_table([tmp_path / "export" / "exports.json"], c)
    assert rows[0]["model"] == "run" and rows[0]["gguf_padded"] and rows[0]["ms_per_token"] == m["ms_per_token"]
    with pytest.raises(CostError, match="re-run its export"):
        measure_gguf(tmp_path / "export", "missing.gguf")
