"""The model family: layout equivalence with Appendix D, exact converters, structure, ablation switches."""

import pytest
import torch
import torch.nn as nn

from bitnet_repro.bitlinear import BitLinear, ElasticQuant
from bitnet_repro.export.hf import to_hf_bitnet, to_hf_llama
from bitnet_repro.model import Transformer
from bitnet_repro.presets import preset_model
from bitnet_repro.reference import appendix_d_model

VOCAB = 512


def _model(variant: str, size: str = "tiny-2", **overrides) -> Transformer:
    torch.manual_seed(0)
    m = Transformer(preset_model(size, variant, vocab_size=VOCAB, max_seq_len=64, **overrides))
    with torch.no_grad():  # random norm gains, so that a mixed-up gain would show
        for _name, p in m.named_parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    return m


def _tokens(b: int = 2, t: int = 32) -> torch.Tensor:
    return torch.randint(0, VOCAB, (b, t), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("variant,overrides", [("bitnet_b158", {}), ("bitnet_b1", {"b1_act_recipe": "appendix_e"})])
def test_appendix_d_layout_equivalence(variant, overrides):
    """Shared pre-norm + sub-norm (HF BitNet, llama.cpp) == Appendix D's BitLinear-with-its-own-RMSNorm."""
    ours = _model(variant, **overrides)
    ref = appendix_d_model(ours)
    assert sum(isinstance(m, BitLinear) for m in ours.modules()) == 7 * ours.cfg.n_layers
    x = _tokens()
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(ref, mode)()
        la, loss_a = ours(x, x)
        lb, loss_b = ref(x, x)
        torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-5)
    loss_a.backward(), loss_b.backward()
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        if p.dim() == 2:  # latent weights: same gradient in both layouts
            torch.testing.assert_close(p.grad, ref_params[name].grad, rtol=1e-4, atol=1e-6, msg=name)


def test_fp16_converts_exactly_to_llama():
    ours = _model("fp16").eval()
    hf = to_hf_llama(ours)
    x = _tokens()
    torch.testing.assert_close(ours(x)[0], hf(x).logits, rtol=1e-5, atol=1e-5)


def test_b158_converts_to_hf_bitnet():
    ours = _model("bitnet_b158").eval()
    hf = to_hf_bitnet(ours)
    x = _tokens()
    torch.testing.assert_close(ours(x)[0], hf(x).logits, rtol=1e-5, atol=1e-5)


def test_structure_embeddings_and_head_stay_high_precision():
    for variant in ("bitnet_b1", "bitnet_b158"):
        m = _model(variant)
        assert type(m.embed_tokens) is nn.Embedding and type(m.lm_head) is nn.Linear
        linears = {n for n, mod in m.named_modules() if isinstance(mod, nn.Linear)}
        bitlinears = {n for n, mod in m.named_modules() if isinstance(mod, BitLinear)}
        assert linears - bitlinears == {"lm_head"}
        assert {n.rsplit(".", 1)[-1] for n in bitlinears} == {
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        }
    m = _model("fp16")
    assert not any(isinstance(mod, BitLinear) for mod in m.modules())


def test_ternary_and_binary_weights_inside_the_forward():
    m = _model("bitnet_b158")
    wq = m.layers[0].self_attn.q_proj.quantized_weight().detach()
    assert len(torch.unique(wq)) == 3
    m = _model("bitnet_b1")
    assert len(torch.unique(m.layers[0].mlp.down_proj.quantized_weight().detach())) == 2


@pytest.mark.parametrize(
    "overrides",
    [
        {"arch": "preln"},
        {"arch": "bmt"},
        {"act_quantizer": "elastic", "arch": "preln"},
        {"quant_groups": 2},
        {"eps_mode": "add"},
    ],
)
def test_ablation_switches_train(overrides):
    m = _model("bitnet_b158", **overrides).train()
    base = _model("bitnet_b158").train()
    x = _tokens()
    logits, loss = m(x, x)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    if overrides.get("act_quantizer") == "elastic":
        assert any(isinstance(mod, ElasticQuant) and mod.alpha.grad is not None for mod in m.modules())
    if "arch" in overrides or "quant_groups" in overrides:
        assert not torch.allclose(logits, base(x)[0])


def test_bmt_and_preln_norm_placement():
    preln, bmt, subln = _model("bitnet_b158", arch="preln"), _model("bitnet_b158", arch="bmt"), _model("bitnet_b158")
    assert not hasattr(preln.layers[0].self_attn, "attn_sub_norm") and not hasattr(preln.layers[0].mlp, "ffn_sub_norm")
    assert hasattr(subln.layers[0].self_attn, "attn_sub_norm") and hasattr(subln.layers[0].mlp, "ffn_sub_norm")
    attn = bmt.layers[0].self_attn
    assert all(hasattr(attn, n) for n in ("q_norm", "k_norm", "v_norm", "o_norm"))
    assert hasattr(bmt.layers[0].mlp, "down_norm")


def test_b1_sec3_recipe_is_per_tensor_in_training_only():
    m = _model("bitnet_b1")  # default recipe: Sec. 3.1.1
    q = m.layers[0].mlp.down_quant
    assert q.unsigned and q.per_train == "tensor" and q.per_eval == "token"
    assert not m.layers[0].attn_quant.unsigned
    m = _model("bitnet_b1", b1_act_recipe="appendix_e")
    q = m.layers[0].mlp.down_quant
    assert not q.unsigned and q.per_train == "token"


def test_causal():
    m = _model("bitnet_b158").eval()
    x = _tokens(1, 16)
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % VOCAB
    torch.testing.assert_close(m(x)[0][:, :10], m(y)[0][:, :10])
