"""Triton kernels against their plain PyTorch references, in Triton's interpreter on the CPU (TRITON_INTERPRET=1,
set by bitnet_repro.kernels._triton when no GPU is present): integer results exactly, de-quantized outputs
within float32 rounding of the BitLinear forward. Fresh random inputs every time; never zeros."""

import pytest
import torch

from bitnet_repro.kernels import _triton

pytestmark = pytest.mark.skipif(not _triton.available(), reason="triton is not installed")


def _codes(m, k, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, (m, k), generator=g, dtype=torch.int16).to(torch.int8)
    x[:, 0] = 127  # a full-scale value in every row, as absmax quantization gives
    return x


@pytest.mark.parametrize("m,k", [(1, 96), (7, 200), (33, 512)])
def test_norm_quant_equals_reference(m, k):
    from bitnet_repro.kernels import act_quant

    torch.manual_seed(m * k)
    x = torch.randn(m, k) * torch.rand(m, 1) * 4
    w = 1 + 0.3 * torch.randn(k)
    q, s = act_quant.norm_quant(x, w)
    q_ref, s_ref = act_quant.reference(x, w)
    assert torch.allclose(s, s_ref, rtol=1e-6)
    diff = (q.to(torch.int16) - q_ref.to(torch.int16)).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() <= 1e-4
    assert q.abs().max() == 127


def test_norm_quant_matches_bitlinear_activation_path():
    """The kernel's codes / scale are BitLinear's normalised, quantized activations (Appendix D)."""
    from bitnet_repro.bitlinear import RMSNorm, activation_quant
    from bitnet_repro.kernels import act_quant

    torch.manual_seed(3)
    norm = RMSNorm(128)
    with torch.no_grad():
        norm.weight.mul_(1 + 0.2 * torch.randn(128))
        x = torch.randn(5, 128) * 3
        q, s = act_quant.norm_quant(x, norm.weight)
        assert torch.allclose(q.float() / s, activation_quant(norm(x)), atol=1e-5)


@pytest.mark.parametrize("kernel,fmt", [("w2a8", "ternary"), ("w1a8", "binary")])
@pytest.mark.parametrize("m,n,k,gemv", [(1, 96, 128, None), (3, 130, 200, None), (16, 64, 64, None),
                                        (40, 100, 160, None), (20, 72, 96, True)])  # fmt: skip
def test_low_bit_matmul_is_exact(kernel, fmt, m, n, k, gemv):
    import importlib

    from bitnet_repro.kernels import pack

    mod = importlib.import_module(f"bitnet_repro.kernels.{kernel}")
    g = torch.Generator().manual_seed(m * 1000 + n + k)
    if fmt == "ternary":
        w = torch.randint(-1, 2, (n, k), generator=g)
        packed = pack.pack_ternary(w)
    else:
        w = torch.randint(0, 2, (n, k), generator=g) * 2 - 1
        packed = pack.pack_binary(w)
    x = _codes(m, k, seed=n)
    out = mod.matmul(x, packed, n, gemv=gemv)
    assert out.dtype == torch.int32
    assert torch.equal(out, mod.reference(x, packed, n))
    assert torch.equal(out, x.to(torch.int64).matmul(w.T.to(torch.int64)).to(torch.int32))


def test_kernels_reproduce_a_bitlinear_forward():
    """norm_quant -> W2A8 -> de-quantize equals BitLinear (b1.58) in eval mode, within float32 rounding."""
    from bitnet_repro.bitlinear import BitLinear, _safe, quantize_weight_int, weight_scale
    from bitnet_repro.kernels import act_quant, pack, w2a8

    torch.manual_seed(7)
    lin = BitLinear(160, 96).eval()
    x = torch.randn(4, 160) * 2
    with torch.no_grad():
        ref = lin(x)
        codes, _ = quantize_weight_int(lin.weight, "bitnet_b158")
        beta = _safe(weight_scale(lin.weight), lin.eps, lin.eps_mode)
        q, s = act_quant.norm_quant(x, lin.norm.weight)
        out = w2a8.dequantize(w2a8.matmul(q, pack.pack_ternary(codes), 96), s, beta)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max())


def test_shape_mismatch_is_refused():
    from bitnet_repro.kernels import pack, w2a8

    packed = pack.pack_ternary(torch.randint(-1, 2, (64, 32)))
    with pytest.raises(ValueError, match="do not match N=96"):
        w2a8.matmul(_codes(2, 32, 0), packed, 96)


def test_gpu_benchmark_script_runs_in_the_interpreter(tmp_path):
    from bitnet_repro.kernels import bench

    res = bench.main(["--tiny", "--out", str(tmp_path / "k.json")])
    row = res["sizes"]["tiny"]
    assert set(row["projections"]) == {"qkvo", "gate_up", "down"}
    assert row["decode_speedup"] > 0 and res["limits"]["copy_gb_s"] > 0
    assert (tmp_path / "k.json").is_file()
