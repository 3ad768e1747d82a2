"""GPU benchmark of the low-bit kernels: the device's limits first, then each kernel against them and against
`torch` FP16 at the paper's shapes.

1. Copy bandwidth (a device-to-device copy of 1 GiB) and the FP16 / BF16 matmul rate (8192^3), measured.
2. For each size (Table 12's 700M, 1.3B, 3B, 3.9B; LLaMA's 7B, 13B, 70B) and each projection of a block
   (q/k/v/o: d x d, gate/up: f x d, down: d x f): the W2A8 GEMV (one token, decoding) and GEMM (prefill,
   512 tokens) times against `torch.matmul` in FP16 on the same shape; the GEMV's achieved bandwidth (packed
   weights + activations + outputs per second) as a fraction of the measured copy bandwidth.
3. Decoding time per token of a block's linear layers (norm_quant + W2A8 for every projection vs FP16) and its
   speedup, for each size.

    python -m bitnet_repro.kernels.bench --out results/gpu/kernels.json            # on a GPU
    TRITON_INTERPRET=1 python -m bitnet_repro.kernels.bench --tiny --out x.json   # the script itself, on CPU

On the CPU (`--tiny`) the numbers are the interpreter's and mean nothing; the run only proves the script.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from bitnet_repro.kernels import act_quant, pack, w2a8

SHAPES = {  # d_model, d_ff, layers: Table 12 (BitNet b1.58) and LLaMA 2's 7B, 13B, 70B
    "700M": (1536, 4096, 24), "1.3B": (2048, 5460, 24), "3B": (3200, 8640, 26), "3.9B": (3200, 12800, 26),
    "7B": (4096, 11008, 32), "13B": (5120, 13824, 40), "70B": (8192, 28672, 80),
}  # fmt: skip
TINY = {"tiny": (64, 128, 2)}


def _timer(device: torch.device):
    if device.type == "cuda":

        def run(fn, reps):
            fn()
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3 / reps

    else:

        def run(fn, reps):
            fn()
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            return (time.perf_counter() - t) / reps

    return run


def device_limits(device: torch.device, tiny: bool, reps: int) -> dict:
    timed = _timer(device)
    n = (1 << 16) if tiny else (1 << 29)  # 1 GiB of FP16
    src = torch.randn(n, device=device, dtype=torch.float16)
    dst = torch.empty_like(src)
    t_copy = timed(lambda: dst.copy_(src), reps)
    size = 64 if tiny else 8192
    out = {"copy_gb_s": 2 * src.numel() * 2 / t_copy / 1e9}  # read + write
    for dtype in (torch.float16, torch.bfloat16):
        a = torch.randn(size, size, device=device, dtype=dtype)
        t = timed(lambda a=a: a @ a, reps)
        out[f"{str(dtype).split('.')[-1]}_tflops"] = 2 * size**3 / t / 1e12
    return out


def bench_shape(d: int, f: int, layers: int, device: torch.device, reps: int, prefill: int) -> dict:
    timed = _timer(device)
    rows = {}
    t_fp16_block, t_w2_block = 0.0, 0.0
    # (projection, shape, GEMVs per block, activation quantizations per block: q/k/v share one, o has its own,
    # gate/up share one, down has its own)
    for name, (n, k), count, quants in (("qkvo", (d, d), 4, 2), ("gate_up", (f, d), 2, 1), ("down", (d, f), 1, 1)):
        w = torch.randint(-1, 2, (n, k), device=device)
        packed = pack.pack_ternary(w).contiguous()
        w16 = w.to(torch.float16)
        x = torch.randn(1, k, device=device)
        norm_w = torch.ones(k, device=device)
        q, s = act_quant.norm_quant(x, norm_w)
        x16 = x.to(torch.float16)
        t_gemv = timed(lambda: w2a8.matmul(q, packed, n, gemv=True), reps)
        t_quant = timed(lambda: act_quant.norm_quant(x, norm_w), reps)
        t_fp16 = timed(lambda: x16 @ w16.T, reps)
        xs = torch.randint(-127, 128, (prefill, k), device=device, dtype=torch.int8)
        xs16 = torch.randn(prefill, k, device=device, dtype=torch.float16)
        t_gemm = timed(lambda: w2a8.matmul(xs, packed, n, gemv=False), reps)
        t_gemm16 = timed(lambda: xs16 @ w16.T, reps)
        moved = packed.numel() + k + 4 * n + 4  # packed weights, int8 activations, int32 outputs, scale
        rows[name] = {"n": n, "k": k, "gemv_s": t_gemv, "norm_quant_s": t_quant, "fp16_gemv_s": t_fp16,
                      "gemv_gb_s": moved / t_gemv / 1e9, "gemv_speedup": t_fp16 / t_gemv,
                      "gemm_s": t_gemm, "fp16_gemm_s": t_gemm16, "gemm_speedup": t_gemm16 / t_gemm}  # fmt: skip
        t_fp16_block += count * t_fp16
        t_w2_block += count * t_gemv + quants * t_quant
    return {"layers": layers, "projections": rows, "block_fp16_s": t_fp16_block, "block_w2a8_s": t_w2_block,
            "decode_linear_ms_fp16": 1e3 * layers * t_fp16_block, "decode_linear_ms_w2a8": 1e3 * layers * t_w2_block,
            "decode_speedup": t_fp16_block / t_w2_block}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--tiny", action="store_true", help="tiny shapes: check the script (CPU interpreter)")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--prefill", type=int, default=512)
    p.add_argument("--sizes", nargs="*", help="subset of " + ", ".join(SHAPES))
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shapes = TINY if args.tiny else {k: v for k, v in SHAPES.items() if not args.sizes or k in args.sizes}
    reps = 2 if args.tiny else args.reps
    prefill = 16 if args.tiny else args.prefill
    res = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (Triton interpreter)",
           "limits": device_limits(device, args.tiny, reps), "sizes": {}}  # fmt: skip
    for name, (d, f, layers) in shapes.items():
        res["sizes"][name] = bench_shape(d, f, layers, device, reps, prefill)
        gemv = res["sizes"][name]["projections"]["gate_up"]
        frac = res["sizes"][name]["gemv_fraction_of_copy_bw"] = gemv["gemv_gb_s"] / res["limits"]["copy_gb_s"]
        print(f"{name}: decode speedup {res['sizes'][name]['decode_speedup']:.2f}x, gate/up GEMV at "
              f"{gemv['gemv_gb_s']:.1f} GB/s = {100 * frac:.0f}% of copy")  # fmt: skip
    assert all(math.isfinite(v) for v in res["limits"].values())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
