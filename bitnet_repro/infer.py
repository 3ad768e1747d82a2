"""KV-cached inference for every model of the suite: prefill, then one token at a time.

`KVCache` holds, per layer, the keys and values of the tokens seen so far: in the model's dtype, or at
`kv_bits` (Sec. 4.2: int codes with one symmetric absmax scale per head and token, 4 bits in Table 6). Codes are
kept in int8 tensors here; `KVCache.nbytes` counts what a packed cache of that width takes. Because every
token's scale is its own, a cached decode gives the same logits as a full forward pass with the same
quantization (`set_kv_bits`), which is how Table 6 is scored through lm-eval (tests/test_infer.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from bitnet_repro.bitlinear import kv_quant_int


@dataclass
class LayerCache:
    keys: list[torch.Tensor] = field(default_factory=list)  # float (B, H, t, hd) or int8 codes
    values: list[torch.Tensor] = field(default_factory=list)
    scales: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # with kv_bits
    length: int = 0
    capacity: int | None = None  # float caches: preallocate this many positions and write in place

    def append(self, k: torch.Tensor, v: torch.Tensor, bits: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's K, V and return every cached K, V (de-quantized) for attention."""
        if self.capacity and not bits:
            return self._append_in_place(k, v)
        if bits:
            (kc, ks), (vc, vs) = kv_quant_int(k, bits), kv_quant_int(v, bits)
            self.keys.append(kc)
            self.values.append(vc)
            self.scales.append((ks, vs))
        else:
            self.keys.append(k)
            self.values.append(v)
        self.length += k.shape[2]
        if bits:
            K = torch.cat([c.to(s[0].dtype) * s[0] for c, s in zip(self.keys, self.scales)], dim=2)
            V = torch.cat([c.to(s[1].dtype) * s[1] for c, s in zip(self.values, self.scales)], dim=2)
            return K, V
        return torch.cat(self.keys, dim=2), torch.cat(self.values, dim=2)

    def _append_in_place(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, H, t, hd = k.shape
        if not self.keys:
            self.keys = [k.new_empty(B, H, self.capacity, hd)]
            self.values = [v.new_empty(B, H, self.capacity, hd)]
        end = self.length + t
        if end > self.capacity:
            raise ValueError(f"KV cache holds {self.capacity} positions; {end} were asked for")
        self.keys[0][:, :, self.length : end] = k
        self.values[0][:, :, self.length : end] = v
        self.length = end
        return self.keys[0][:, :, :end], self.values[0][:, :, :end]

    def fill(self, batch: int, heads: int, head_dim: int, length: int, dtype: torch.dtype) -> None:
        """Pretend `length` positions are cached (random K and V): a context of that length for measuring
        decoding cost without running the prefill. Needs a preallocated cache."""
        if not self.capacity or length > self.capacity:
            raise ValueError("fill needs a preallocated cache (capacity) at least as long as the context")
        g = torch.Generator().manual_seed(0)
        self.keys = [torch.randn(batch, heads, self.capacity, head_dim, generator=g).to(dtype)]
        self.values = [torch.randn(batch, heads, self.capacity, head_dim, generator=g).to(dtype)]
        self.length = length


@dataclass
class KVCache:
    layers: list[LayerCache]
    bits: int | None = None

    @classmethod
    def empty(cls, model, bits: int | None = None, capacity: int | None = None) -> KVCache:
        """`capacity`: preallocate that many positions per layer (float caches), so a decoding step writes in
        place instead of concatenating the whole cache again."""
        return cls([LayerCache(capacity=capacity) for _ in model.layers], bits)

    @property
    def length(self) -> int:
        return self.layers[0].length

    def nbytes(self, value_bytes: int = 2, scale_bytes: int = 2) -> int:
        """Bytes of the cache as stored packed: FP16 values (2 bytes), or kv_bits per value plus an FP16
        scale per head and token."""
        total = 0
        for layer in self.layers:
            for t in layer.keys + layer.values:
                if layer.capacity and not self.bits:
                    t = t[:, :, : layer.length]
                n = t.numel()
                total += (
                    math.ceil(n * self.bits / 8) + (n // t.shape[-1]) * scale_bytes if self.bits else n * value_bytes
                )
        return total


def set_kv_bits(model, bits: int | None) -> None:
    """Quantize K and V to `bits` per head and token in every attention layer (None: off)."""
    for block in model.layers:
        block.self_attn.kv_bits = bits


@torch.no_grad()
def generate(model, idx: torch.Tensor, max_new_tokens: int, kv_bits: int | None = None,
             timings: dict | None = None, preallocate: bool = False) -> torch.Tensor:  # fmt: skip
    """Greedy decoding with a KV cache: idx (B, T) -> (B, T + max_new_tokens). With `timings` (a dict), the
    prefill time and each decode step's time (seconds) are recorded in it. `preallocate`: a float cache sized
    for the whole generation, written in place (what latency measurements use)."""
    model.eval()
    set_kv_bits(model, kv_bits)
    capacity = idx.shape[1] + max_new_tokens if preallocate and not kv_bits else None
    cache = KVCache.empty(model, kv_bits, capacity)
    try:
        t0 = time.perf_counter()
        logits, _ = model(idx, cache=cache)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        steps = []
        out = [idx, nxt]
        t1 = time.perf_counter()
        for _ in range(max_new_tokens - 1):
            s = time.perf_counter()
            logits, _ = model(nxt, cache=cache)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            out.append(nxt)
            steps.append(time.perf_counter() - s)
        if timings is not None:
            timings.update(prefill_s=t1 - t0, step_s=steps, kv_bytes=cache.nbytes())
    finally:
        set_kv_bits(model, None)
    return torch.cat(out, dim=1)
