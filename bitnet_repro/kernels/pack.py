"""Packed low-bit weight formats, with exact round trips.

ternary (2 bits per weight)  The layout of Hugging Face transformers' BitNet integration (`pack_weights`):
                             the output rows are cut into 4 blocks of ceil(out / 4) rows, block i goes to bits
                             2i..2i+1 of the byte, and a weight w in {-1, 0, 1} is stored as w + 1. A
                             [out, in] matrix becomes uint8 [ceil(out / 4), in], so models exported this way
                             load in `transformers` (tests/test_pack.py checks the bytes against its packer).
binary (1 bit per weight)    The same row-block layout with 8 blocks; a weight in {-1, +1} is stored as
                             (w + 1) / 2, so uint8 [ceil(out / 8), in].
base-3 (1.6 bits per weight) Five trits per byte (3^5 = 243 <= 256) along the input dimension, least
                             significant trit first: uint8 [out, ceil(in / 5)].

Scales are not part of the packed tensors; the pack step stores them beside (one per tensor, or per group).
"""

from __future__ import annotations

import math

import torch

TERNARY_PER_BYTE, BINARY_PER_BYTE, TRITS_PER_BYTE = 4, 8, 5


def _check_values(w: torch.Tensor, allowed: tuple[int, ...], name: str) -> None:
    if w.dim() != 2:
        raise ValueError(f"{name}: expected a [out, in] matrix, got shape {tuple(w.shape)}")
    bad = ~torch.isin(w, torch.tensor(allowed, dtype=w.dtype, device=w.device))
    if bad.any():
        raise ValueError(f"{name}: values must be in {allowed}; found {w[bad][:5].tolist()}")


def _pack_row_blocks(codes: torch.Tensor, per_byte: int, bits: int) -> torch.Tensor:
    rows = math.ceil(codes.shape[0] / per_byte)
    packed = torch.zeros(rows, codes.shape[1], dtype=torch.uint8, device=codes.device)
    for i in range(per_byte):
        block = codes[i * rows : (i + 1) * rows]
        packed[: block.shape[0]] |= block << (bits * i)
    return packed


def _unpack_row_blocks(packed: torch.Tensor, out_features: int, per_byte: int, bits: int) -> torch.Tensor:
    mask = (1 << bits) - 1
    blocks = [(packed >> (bits * i)) & mask for i in range(per_byte)]
    return torch.cat(blocks)[:out_features]


def pack_ternary(w: torch.Tensor) -> torch.Tensor:
    """[out, in] integer weights in {-1, 0, 1} -> uint8 [ceil(out / 4), in] (Hugging Face BitNet layout)."""
    _check_values(w, (-1, 0, 1), "pack_ternary")
    return _pack_row_blocks((w + 1).to(torch.uint8), TERNARY_PER_BYTE, 2)


def unpack_ternary(packed: torch.Tensor, out_features: int) -> torch.Tensor:
    """Inverse of `pack_ternary`: int8 [out_features, in] in {-1, 0, 1}."""
    return _unpack_row_blocks(packed, out_features, TERNARY_PER_BYTE, 2).to(torch.int8) - 1


def pack_binary(w: torch.Tensor) -> torch.Tensor:
    """[out, in] integer weights in {-1, +1} -> uint8 [ceil(out / 8), in], 1 bit per weight."""
    _check_values(w, (-1, 1), "pack_binary")
    return _pack_row_blocks(((w + 1) // 2).to(torch.uint8), BINARY_PER_BYTE, 1)


def unpack_binary(packed: torch.Tensor, out_features: int) -> torch.Tensor:
    """Inverse of `pack_binary`: int8 [out_features, in] in {-1, +1}."""
    return _unpack_row_blocks(packed, out_features, BINARY_PER_BYTE, 1).to(torch.int8) * 2 - 1


def pack_base3(w: torch.Tensor) -> torch.Tensor:
    """[out, in] integer weights in {-1, 0, 1} -> uint8 [out, ceil(in / 5)], five trits per byte."""
    _check_values(w, (-1, 0, 1), "pack_base3")
    out, n = w.shape
    cols = math.ceil(n / TRITS_PER_BYTE)
    trits = torch.ones(out, cols * TRITS_PER_BYTE, dtype=torch.int32, device=w.device)  # pad with trit 1 (w = 0)
    trits[:, :n] = (w + 1).to(torch.int32)
    powers = 3 ** torch.arange(TRITS_PER_BYTE, dtype=torch.int32, device=w.device)
    return (trits.view(out, cols, TRITS_PER_BYTE) * powers).sum(-1).to(torch.uint8)


def unpack_base3(packed: torch.Tensor, in_features: int) -> torch.Tensor:
    """Inverse of `pack_base3`: int8 [out, in_features] in {-1, 0, 1}."""
    values = packed.to(torch.int32)
    trits = [(values // 3**k) % 3 for k in range(TRITS_PER_BYTE)]
    return (torch.stack(trits, -1).flatten(1)[:, :in_features] - 1).to(torch.int8)


def packed_bytes(out_features: int, in_features: int, fmt: str) -> int:
    """Analytic size of one packed matrix in bytes (scales not included)."""
    if fmt == "ternary":
        return math.ceil(out_features / TERNARY_PER_BYTE) * in_features
    if fmt == "binary":
        return math.ceil(out_features / BINARY_PER_BYTE) * in_features
    if fmt == "base3":
        return out_features * math.ceil(in_features / TRITS_PER_BYTE)
    raise ValueError(f"unknown packed format {fmt!r}: ternary | binary | base3")
