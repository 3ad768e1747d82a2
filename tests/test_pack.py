"""Packed weight formats: exact round trips, the Hugging Face BitNet byte layout, analytic sizes."""

import pytest
import torch

from bitnet_repro.bitlinear import weight_quant_b158
from bitnet_repro.kernels.pack import (
    pack_base3,
    pack_binary,
    pack_ternary,
    packed_bytes,
    unpack_base3,
    unpack_binary,
    unpack_ternary,
)

SHAPES = [(4, 8), (7, 13), (64, 96), (33, 5), (1, 1), (256, 704)]


def _ternary(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-1, 2, shape, generator=g, dtype=torch.int8)


@pytest.mark.parametrize("shape", SHAPES)
def test_round_trips_are_exact(shape):
    w = _ternary(shape, sum(shape))
    assert torch.equal(unpack_ternary(pack_ternary(w), shape[0]), w)
    assert torch.equal(unpack_base3(pack_base3(w), shape[1]), w)
    b = torch.where(w >= 0, 1, -1).to(torch.int8)
    assert torch.equal(unpack_binary(pack_binary(b), shape[0]), b)


@pytest.mark.parametrize("shape", SHAPES)
def test_sizes_match_the_analytic_byte_count(shape):
    w = _ternary(shape, 1)
    b = torch.where(w >= 0, 1, -1).to(torch.int8)
    assert pack_ternary(w).numel() == packed_bytes(*shape, "ternary")
    assert pack_binary(b).numel() == packed_bytes(*shape, "binary")
    assert pack_base3(w).numel() == packed_bytes(*shape, "base3")
    assert pack_base3(w).numel() * 8 <= 1.6 * w.numel() + 8 * shape[0]  # 1.6 bits per weight, padding per row


@pytest.mark.parametrize("shape", [(64, 96), (7, 13), (256, 704)])
def test_ternary_bytes_equal_transformers_pack_weights(shape):
    """Our ternary packing is byte-identical to Hugging Face's BitNet `pack_weights`, on the weights of a real
    absmean quantization."""
    from transformers.integrations.bitnet import pack_weights

    latent = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    q = weight_quant_b158(latent)
    w = torch.round(q / q.abs().max()).to(torch.int8)  # the ternary integers, scale removed
    hf = pack_weights(w.clone().to(torch.int32))
    assert torch.equal(pack_ternary(w), hf)


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="values must be in"):
        pack_ternary(torch.tensor([[2, 0]], dtype=torch.int8))
    with pytest.raises(ValueError, match="values must be in"):
        pack_binary(torch.tensor([[0, 1]], dtype=torch.int8))
    with pytest.raises(ValueError, match="matrix"):
        pack_ternary(torch.zeros(3, dtype=torch.int8))
