"""BitDistill's losses against hand-computed values, and the q/k/v capture on a grouped-query model."""

import math

import pytest
import torch
import torch.nn.functional as F

from bitnet_repro.config import ModelConfig
from bitnet_repro.distill import capture_qkv, logits_kd, relation_kd, relations
from bitnet_repro.model import Transformer


def test_logits_kd_is_the_tempered_kl():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    assert logits_kd(t, t, 2.0).abs() < 1e-6
    expected = 0.0
    for row_s, row_t in zip(s.reshape(-1, 7), t.reshape(-1, 7)):
        p, q = F.softmax(row_t / 2.0, -1), F.softmax(row_s / 2.0, -1)
        expected += float((p * (p.log() - q.log())).sum())
    torch.testing.assert_close(logits_kd(s, t, 2.0), torch.tensor(4.0 * expected / 6), rtol=1e-5, atol=1e-6)


def test_relations_by_hand():
    """One head, two positions: row 0 relates only to itself, row 1 is a softmax over both."""
    x = torch.tensor([[[1.0, 0.0], [2.0, 1.0]]])  # (B=1, T=2, C=2)
    r = relations(x, heads=1).exp()[0, 0]
    assert torch.allclose(r[0], torch.tensor([1.0, 0.0]))
    s = torch.tensor([2.0, 5.0]) / math.sqrt(2)  # x1.x0 = 2, x1.x1 = 5
    assert torch.allclose(r[1], F.softmax(s, -1))
    with pytest.raises(ValueError, match="relation heads"):
        relations(torch.zeros(1, 2, 3), heads=2)


def test_relation_kd_zero_on_itself_causal_and_differentiable():
    torch.manual_seed(0)
    t = {n: torch.randn(2, 5, 12) for n in "qkv"}
    s = {n: torch.randn(2, 5, 8, requires_grad=True) for n in "qkv"}  # the student may be narrower
    assert relation_kd(t, t, heads=4).abs() < 1e-6
    loss = relation_kd(s, t, heads=4)
    loss.backward()
    assert loss > 0 and all(torch.isfinite(v.grad).all() for v in s.values())
    # causal: the last position does not enter the relations of earlier rows
    r1 = relations(s["q"].detach(), 4)
    changed = s["q"].detach().clone()
    changed[:, -1] += 10
    assert torch.equal(relations(changed, 4)[:, :, :-1, :-1], r1[:, :, :-1, :-1])


def test_capture_qkv_of_one_block():
    cfg = ModelConfig(vocab_size=50, d_model=48, n_layers=3, n_heads=6, n_kv_heads=2, d_ff=64, max_seq_len=16)
    model = Transformer(cfg)
    ids = torch.randint(0, 50, (2, 9))
    with capture_qkv(model, -1) as qkv:
        model(ids)
    assert qkv["q"].shape == (2, 9, 48) and qkv["k"].shape == (2, 9, 16) and qkv["v"].shape == (2, 9, 16)
    h = model.embed_tokens(ids)
    cos, sin = model.rope_cos[:9], model.rope_sin[:9]
    for block in model.layers[:-1]:
        h = block(h, cos, sin)
    last = model.layers[-1]
    x = last.attn_quant(last.input_layernorm(h))
    torch.testing.assert_close(qkv["k"], last.self_attn.k_proj(x))
    model(ids)  # hooks are gone after the block
    assert not any(m._forward_hooks for m in model.modules())
