"""BitLinear and its quantizers against the paper: Appendix D/E code as the oracle, plus closed forms."""

import pytest
import torch

from bitnet_repro import reference as paper
from bitnet_repro.bitlinear import (
    AbsmaxQuant,
    BitLinear,
    ElasticQuant,
    RMSNorm,
    activation_quant,
    quantize_activation_int,
    quantize_weight_int,
    ste,
    weight_quant_b1,
    weight_quant_b158,
)

SHAPES = [(8, 16), (64, 48), (3, 256), (128, 96)]
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_quantizers_equal_appendix_code_bitwise(shape, dtype):
    g = torch.Generator().manual_seed(shape[0] * 1000 + shape[1] + DTYPES.index(dtype))
    w = (torch.randn(shape, generator=g) * 0.05).to(dtype)
    x = (torch.randn(4, 5, shape[1], generator=g) * 3).to(dtype)
    # half-precision inputs (bf16 autocast) are quantized in fp32 and cast back (bitnet_repro/precision.py)
    compute = torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype
    assert torch.equal(weight_quant_b158(w), paper.weight_quant(w.to(compute)).to(dtype))
    assert torch.equal(activation_quant(x), paper.activation_quant(x.to(compute)).to(dtype))
    assert weight_quant_b158(w).dtype == dtype and activation_quant(x).dtype == dtype
    if dtype in (torch.float32, torch.float64):  # Sign(0) differs only where w equals its mean exactly
        assert torch.equal(weight_quant_b1(w), paper.weight_quant_b1(w))


def test_b158_closed_form():
    w = torch.tensor([[0.5, -0.2, 0.0], [1.0, -1.5, 0.05]])
    beta = 3.25 / 6  # mean |W|, Eq. 5
    expected = torch.tensor([[1.0, 0.0, 0.0], [1.0, -1.0, 0.0]]) * beta  # round(W / beta) clipped to [-1, 1]
    torch.testing.assert_close(weight_quant_b158(w), expected, rtol=0, atol=1e-7)
    q, scale = quantize_weight_int(w)
    assert q.dtype == torch.int8 and set(q.unique().tolist()) <= {-1, 0, 1}
    torch.testing.assert_close(scale, torch.tensor(beta))


def test_b1_sign_of_zero_is_minus_one_and_scale_is_mean_abs():
    w = torch.tensor([[1.0, -1.0], [0.0, 0.0]])  # mean 0: two entries sit exactly on alpha
    out = weight_quant_b1(w)
    beta = 0.5
    assert torch.equal(out, torch.tensor([[1.0, -1.0], [-1.0, -1.0]]) * beta)  # Eq. 2: Sign(0) = -1
    assert torch.equal(paper.weight_quant_b1(w), torch.tensor([[1.0, -1.0], [0.0, 0.0]]) * beta)  # torch.sign
    w = torch.randn(32, 32)
    assert set((weight_quant_b1(w) / w.abs().mean()).unique().tolist()) == {-1.0, 1.0}


def test_b1_centralizes_by_the_mean():
    w = torch.randn(16, 16) + 3.0  # all positive: without centring every weight would be +1
    signs = weight_quant_b1(w) / w.abs().mean()
    assert (signs == 1).sum() == (w > w.mean()).sum()


def test_int8_round_trip_within_half_a_step():
    x = torch.randn(32, 64) * torch.logspace(-3, 2, 32)[:, None]
    y = activation_quant(x)
    step = x.abs().amax(-1, keepdim=True) / 127
    assert ((y - x).abs() <= step / 2 * (1 + 1e-5)).all()
    q, scale = quantize_activation_int(x)
    assert q.dtype == torch.int8 and q.abs().max() == 127
    torch.testing.assert_close(q.float() / scale, y)


def test_per_tensor_and_unsigned_quantization():
    x = torch.randn(8, 32) * torch.linspace(0.1, 10, 8)[:, None]
    y = activation_quant(x, per="tensor")
    step = x.abs().max() / 127
    assert ((y - x).abs() <= step / 2 * (1 + 1e-5)).all()
    assert len(torch.unique(torch.round(y / step))) <= 256
    u = activation_quant(x, per="token", unsigned=True)
    ustep = (x.amax(-1, keepdim=True) - x.amin(-1, keepdim=True)) / 255
    assert ((u - x).abs() <= ustep / 2 * (1 + 1e-4)).all()
    levels = torch.round((u - x.amin(-1, keepdim=True)) / ustep)
    assert levels.min() >= 0 and levels.max() <= 255


def test_groups_one_is_per_tensor_and_groups_are_independent():
    w = torch.randn(64, 32)
    assert torch.equal(weight_quant_b158(w, groups=1), weight_quant_b158(w))
    grouped = weight_quant_b158(w, groups=4)
    separate = torch.cat([weight_quant_b158(chunk) for chunk in w.chunk(4, dim=0)])
    torch.testing.assert_close(grouped, separate, rtol=1e-6, atol=0)
    torch.testing.assert_close(weight_quant_b1(w, groups=4), torch.cat([weight_quant_b1(c) for c in w.chunk(4)]))
    x = torch.randn(5, 64)
    torch.testing.assert_close(
        activation_quant(x, per="tensor", groups=4),
        torch.cat([activation_quant(c, per="tensor") for c in x.chunk(4, -1)], -1),
    )
    norm = RMSNorm(64, groups=4)
    torch.testing.assert_close(norm(x), torch.cat([RMSNorm(16)(c) for c in x.chunk(4, -1)], -1))


def test_eps_modes():
    w = torch.zeros(4, 4)
    for mode in ("clamp", "add"):
        assert torch.isfinite(weight_quant_b158(w, eps_mode=mode)).all()
    w = torch.full((2, 2), 1e-6)  # beta below eps: clamp uses eps, add uses beta + eps
    assert torch.equal(weight_quant_b158(w, eps_mode="clamp"), torch.zeros(2, 2))
    assert torch.equal(weight_quant_b158(w, eps_mode="add"), torch.zeros(2, 2))
    w = torch.tensor([[1.0, 0.6]])
    torch.testing.assert_close(weight_quant_b158(w, eps=0.1, eps_mode="add"), torch.tensor([[0.9, 0.9]]))


def test_ste_gradient_is_identity():
    x = torch.randn(6, 10, requires_grad=True)
    g = torch.randn(6, 10)
    ste(x, activation_quant).backward(g)
    assert torch.equal(x.grad, g)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("variant", ["bitnet_b158", "bitnet_b1"])
def test_bitlinear_equals_appendix_d_forward_backward_and_training(dtype, variant):
    torch.manual_seed(0)
    ours = BitLinear(48, 32, variant=variant).to(dtype)
    ref = paper.BitLinear(
        48, 32, weight_quant_fn=paper.weight_quant if variant == "bitnet_b158" else paper.weight_quant_b1
    ).to(dtype)
    ref.weight.data.copy_(ours.weight.data)
    with torch.no_grad():
        ours.norm.weight.uniform_(0.5, 1.5)
        ref.rms_norm.weight.copy_(ours.norm.weight)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    opt_a = torch.optim.AdamW(ours.parameters(), lr=1e-2)
    opt_b = torch.optim.AdamW(ref.parameters(), lr=1e-2)
    for _step in range(4):
        x = torch.randn(3, 7, 48, dtype=dtype)
        ya, yb = ours(x), ref(x)
        torch.testing.assert_close(ya, yb, **tol)
        target = torch.randn_like(ya)
        ((ya - target) ** 2).mean().backward()
        ((yb - target) ** 2).mean().backward()
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, **tol)
        torch.testing.assert_close(ours.norm.weight.grad, ref.rms_norm.weight.grad, **tol)
        opt_a.step(), opt_b.step(), opt_a.zero_grad(), opt_b.zero_grad()
    torch.testing.assert_close(ours.weight, ref.weight, **tol)


def test_absmax_quant_per_tensor_in_training_per_token_in_eval():
    q = AbsmaxQuant(per_train="tensor", per_eval="token")
    x = torch.randn(4, 16) * torch.tensor([0.01, 1, 10, 100])[:, None]
    assert torch.equal(q.train()(x), activation_quant(x, per="tensor"))
    assert torch.equal(q.eval()(x), activation_quant(x, per="token"))


def test_elastic_quant_lsq_gradients():
    q = ElasticQuant(4, bits=2).train()  # Q_n = -2, Q_p = 1
    x = torch.tensor([[-3.0, -0.4, 0.3, 2.0]], requires_grad=True)
    y = q(x)
    alpha0 = 2 * x.detach().abs().mean() / 1.0  # BiT's AlphaInit: 2 mean|x| / sqrt(Q_p)
    torch.testing.assert_close(q.alpha.detach(), alpha0.reshape(1))
    u = x.detach() / alpha0
    torch.testing.assert_close(y.detach(), u.round().clamp(-2, 1) * alpha0)
    y.sum().backward()
    inside = (u >= -2) & (u <= 1)
    assert torch.equal(x.grad, inside.float())
    d_alpha = torch.where(u < -2, -2.0, torch.where(u > 1, 1.0, u.round() - u))
    torch.testing.assert_close(q.alpha.grad, (d_alpha.sum() / (4 * 1) ** 0.5).reshape(1))
    assert q.shift.grad is not None and torch.equal(q.shift.grad, inside.float().squeeze(0))


def test_inference_cache_of_quantized_weights_follows_updates():
    """In eval mode without autograd the quantized weights are cached; any in-place weight update (an
    optimizer step, load_state_dict) invalidates the cache, and outputs equal the uncached path."""
    torch.manual_seed(0)
    for variant in ("bitnet_b158", "bitnet_b1"):
        layer = BitLinear(32, 16, variant=variant).eval()
        x = torch.randn(4, 32)
        with torch.no_grad():
            first = layer(x)
            assert layer._inference_cache is not None and torch.equal(layer(x), first)
            layer.weight.mul_(-1.5)
            after = layer(x)
        layer.train()
        assert torch.equal(after, layer(x).detach()) and not torch.equal(after, first)
