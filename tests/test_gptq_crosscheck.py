"""Cross-check GPTQ on one linear layer between llm-compressor and GPTQModel (`bitnet_repro.gptq_ref`).

The layer is random (128 out x 256 in); the calibration inputs are 512 tokens of correlated activations
(X = Z A plus a little noise, rank-64 structure) with four outlier channels, as in real LLM activations.
"""

from __future__ import annotations

import pytest
import torch

from bitnet_repro.ptq.gptq_ref import GPTQSettings, gptqmodel_gptq, grid_scale, llmcompressor_gptq, output_error, rtn

BITS = (4, 3, 2)
# (group_size, actorder): per output channel, per group of 64 inputs, per channel with activation order.
CONFIGS = [(None, False), (64, False), (None, True)]
CONFIG_IDS = ["channel", "group64", "channel-actorder"]


def _llmcompressor(linear, x, bits, **settings):
    pytest.importorskip("llmcompressor")
    return llmcompressor_gptq(linear, x, GPTQSettings(bits, **settings))


def _gptqmodel(linear, x, bits, **settings):
    pytest.importorskip("gptqmodel")
    return gptqmodel_gptq(linear, x, GPTQSettings(bits, **settings))


LIBRARIES = {"llmcompressor": _llmcompressor, "gptqmodel": _gptqmodel}


@pytest.fixture(scope="module")
def layer_and_data():
    g = torch.Generator().manual_seed(0)
    n_tokens, d_in, d_out, rank = 512, 256, 128, 64
    z = torch.randn(n_tokens, rank, generator=g)
    a = torch.randn(rank, d_in, generator=g) / rank**0.5
    x = z @ a + 0.1 * torch.randn(n_tokens, d_in, generator=g)
    x[:, [3, 77, 150, 201]] *= 20.0  # outlier channels
    linear = torch.nn.Linear(d_in, d_out, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(d_out, d_in, generator=g) / d_in**0.5)
    assert x.abs().sum() > 0
    return linear, x


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_gptq_beats_rtn(layer_and_data, library, bits):
    linear, x = layer_and_data
    w = linear.weight.detach()
    w_before = w.clone()
    wq = LIBRARIES[library](linear, x, bits)
    assert torch.equal(linear.weight, w_before), "the layer must not be modified"
    err_gptq = output_error(x, w, wq)
    err_rtn = output_error(x, w, rtn(w, bits))
    assert err_gptq <= err_rtn
    # Measured on this data (seed 0): GPTQ's error is 0.30, 0.31 and 0.42 of RTN's at 4, 3 and 2 bits (at most
    # 0.46 over seeds 0-9; 0.17-0.20 with activation order). 0.6 guards against a regression to near-RTN
    # quality, e.g. a Hessian that is silently ignored.
    assert err_gptq < 0.6 * err_rtn


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize(("group_size", "actorder"), CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_weights_on_grid(layer_and_data, library, bits, group_size, actorder):
    """Both libraries code `round(w / scale)` in [-2**(b-1), 2**(b-1) - 1], scale = absmax / ((2**b - 1) / 2)."""
    linear, x = layer_and_data
    w = linear.weight.detach()
    wq = LIBRARIES[library](linear, x, bits, group_size=group_size, actorder=actorder)
    assert wq.shape == w.shape and wq.dtype == torch.float32
    codes = wq / grid_scale(w, bits, group_size)
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    assert codes.round().min() >= -(2 ** (bits - 1)) and codes.round().max() <= 2 ** (bits - 1) - 1
    assert codes.round().unique().numel() == 2**bits  # every level is used, not a narrower grid


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize(("group_size", "actorder"), CONFIGS, ids=CONFIG_IDS)
def test_libraries_agree(layer_and_data, bits, group_size, actorder):
    """With matched settings the two implementations run the same arithmetic on the same grid.

    Measured over seeds 0-9 of this data, bits 4/3/2, per-channel, group 64/128, with and without activation
    order (120 runs): 111 are bit-identical; in the rest at most 0.20% of the weights differ and the output
    errors differ by at most 0.14% (relative). The cause is float arithmetic (the Hessian is
    formed as (sqrt(2) X)^T (sqrt(2) X) in llm-compressor and 2 X^T X / tokens in GPTQModel), which now and
    then rounds a weight on a rounding boundary the other way; GPTQ's error feedback then carries the
    difference along that row. Damping (1% of the mean Hessian diagonal), block size (128), grid and column
    order are the same in both, so the bounds below (5-7x the measured worst case) leave a wide margin.
    """
    linear, x = layer_and_data
    w = linear.weight.detach()
    a = _llmcompressor(linear, x, bits, group_size=group_size, actorder=actorder)
    b = _gptqmodel(linear, x, bits, group_size=group_size, actorder=actorder)
    err_a, err_b = output_error(x, w, a), output_error(x, w, b)
    assert abs(err_a - err_b) / min(err_a, err_b) <= 0.01
    scale = grid_scale(w, bits, group_size)
    same_level = ((a / scale).round() == (b / scale).round()).float().mean().item()
    assert same_level >= 0.99


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("group_size", [None, 64])
def test_rtn_matches_library_grids(layer_and_data, bits, group_size):
    """`rtn` equals compressed-tensors' fake quantization and GPTQModel's quantizer on the same weights."""
    pytest.importorskip("compressed_tensors")
    from compressed_tensors.quantization import QuantizationArgs, fake_quantize
    from compressed_tensors.quantization.utils import calculate_qparams

    linear, _ = layer_and_data
    w = linear.weight.detach()
    qargs = QuantizationArgs(
        num_bits=bits,
        type="int",
        symmetric=True,
        strategy="group" if group_size else "channel",
        group_size=group_size,
    )
    blocks = w.unflatten(1, (-1, group_size or w.shape[1]))
    scale, zero = calculate_qparams(blocks.amin(-1), blocks.amax(-1), qargs)
    expected = fake_quantize(w, scale, zero, qargs)
    torch.testing.assert_close(rtn(w, bits, group_size), expected, rtol=0, atol=1e-6)

    pytest.importorskip("gptqmodel")
    from gptqmodel.quantization.config import QuantizeConfig
    from gptqmodel.quantization.quantizer import Quantizer

    quantizer = Quantizer(QuantizeConfig(bits=bits, sym=True, offload_to_disk=False))
    quantizer.configure(perchannel=True)
    gs = group_size or w.shape[1]
    pieces = []
    for i in range(0, w.shape[1], gs):
        quantizer.find_params(w[:, i : i + gs], weight=True)
        pieces.append(quantizer.quantize(w[:, i : i + gs]))
    torch.testing.assert_close(rtn(w, bits, group_size), torch.cat(pieces, dim=1), rtol=0, atol=1e-6)
