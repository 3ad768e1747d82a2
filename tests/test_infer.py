"""KV-cached decoding equals the full forward pass (FP16 and BitNet, with and without a 4-bit KV cache), and the
4-bit cache is what Sec. 4.2 says: symmetric absmax per head, 4-bit codes."""

import pytest
import torch

from bitnet_repro.bitlinear import kv_fake_quant, kv_quant_int
from bitnet_repro.config import ModelConfig
from bitnet_repro.infer import KVCache, generate, set_kv_bits
from bitnet_repro.model import Transformer


def _model(linear: str, arch: str) -> Transformer:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=300, d_model=64, n_layers=2, n_heads=4, d_ff=128, max_seq_len=64, linear=linear,
                      arch=arch)  # fmt: skip
    model = Transformer(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    # float64: the batched and the incremental pass round differently in the last bits, and a quantizer (8-bit
    # activations, 4-bit KV) turns a last-bit difference at a rounding boundary into a visible one
    return model.double()


# With a 4-bit cache, BitNet's K and V lie on a lattice (ternary or binary weights times 8-bit activations), so
# exact rounding ties occur (3 in 2432 values of one test layer), and the batched and the incremental pass, whose
# sums differ in the last bit, break them differently. The exact check with 4 bits is therefore made on FP16.
@pytest.mark.parametrize("linear,arch,kv_bits", [("fp16", "llama", None), ("bitnet_b158", "subln", None),
                                                 ("bitnet_b1", "subln", None), ("fp16", "llama", 4)])  # fmt: skip
def test_cached_decode_equals_the_full_forward(linear, arch, kv_bits):
    model = _model(linear, arch)
    idx = torch.randint(0, 300, (2, 12))
    out = generate(model, idx, max_new_tokens=8, kv_bits=kv_bits)
    assert out.shape == (2, 20)
    set_kv_bits(model, kv_bits)
    with torch.no_grad():
        full, _ = model(out[:, :-1])
        cache = KVCache.empty(model, kv_bits)
        step_logits = [model(out[:, :12], cache=cache)[0]]
        for t in range(12, 19):
            step_logits.append(model(out[:, t : t + 1], cache=cache)[0])
    set_kv_bits(model, None)
    cached = torch.cat(step_logits, dim=1)
    assert torch.allclose(cached, full, atol=1e-9, rtol=1e-9)
    assert torch.equal(out[:, 12:], full[:, 11:].argmax(-1))  # greedy tokens: the full pass's argmax


def test_kv4_is_symmetric_absmax_per_head_and_token():
    torch.manual_seed(1)
    t = torch.randn(2, 4, 10, 16) * torch.rand(2, 4, 10, 1) * 5
    codes, scale = kv_quant_int(t, 4)
    assert codes.dtype == torch.int8 and codes.abs().max() == 7 and scale.shape == (2, 4, 10, 1)
    assert torch.allclose(scale, t.abs().amax(-1, keepdim=True) / 7)
    assert ((codes.float() * scale - t).abs() <= scale / 2 + 1e-6).all()
    assert torch.equal(kv_fake_quant(t, 4), codes.float() * scale)


def test_kv4_cache_takes_a_quarter_of_fp16_plus_scales():
    model = _model("bitnet_b158", "subln")
    timings = {}
    generate(model, torch.randint(0, 300, (1, 32)), max_new_tokens=4, kv_bits=4, timings=timings)
    tokens, hd, heads, layers = 35, 16, 4, 2
    values = 2 * layers * heads * tokens * hd  # K and V
    assert timings["kv_bytes"] == values // 2 + 2 * layers * heads * tokens * 2
    t16 = {}
    generate(model, torch.randint(0, 300, (1, 32)), max_new_tokens=4, timings=t16)
    assert t16["kv_bytes"] == values * 2
    assert len(t16["step_s"]) == 3 and t16["prefill_s"] > 0


def test_bitnet_kv4_decode_stays_close_to_the_fp_cache():
    model = _model("bitnet_b158", "subln")
    idx = torch.randint(0, 300, (2, 24))
    with torch.no_grad():
        ref, _ = model(idx)
        cache = KVCache.empty(model, 4)
        set_kv_bits(model, 4)
        q4 = torch.cat([model(idx[:, :16], cache=cache)[0]] + [model(idx[:, t : t + 1], cache=cache)[0]
                                                               for t in range(16, 24)], dim=1)  # fmt: skip
        set_kv_bits(model, None)
    corr = torch.corrcoef(torch.stack([ref.flatten(), q4.flatten()]))[0, 1]
    assert 0.95 < corr < 1  # lossy, but close


def test_table6_scores_with_a_4bit_cache(checkpoint, tmp_path):
    from bitnet_repro.eval.harness import run_eval
    from bitnet_repro.paper import table6

    fp = run_eval(str(checkpoint), ["winogrande", "arc_easy"], limit=8, out=tmp_path / "kv16.json")
    q4 = run_eval(str(checkpoint), ["winogrande", "arc_easy"], limit=8, kv_bits=4, out=tmp_path / "kv4.json")
    assert q4["bitnet_repro"]["kv_bits"] == 4 and fp["bitnet_repro"]["kv_bits"] is None
    rows = table6.run([tmp_path / "kv16.json", tmp_path / "kv4.json"], tmp_path / "t6.csv", tmp_path / "t6.md", "t")
    assert [r["kv_bits"] for r in rows] == [16, 4]
    assert "| 4-bit |" in (tmp_path / "t6.md").read_text()


@pytest.mark.parametrize("linear,arch", [("fp16", "llama"), ("bitnet_b158", "subln")])
def test_preallocated_cache_gives_the_same_tokens_and_logits(linear, arch):
    model = _model(linear, arch)
    idx = torch.randint(0, 300, (2, 10))
    assert torch.equal(generate(model, idx, 9), generate(model, idx, 9, preallocate=True))
    caches = [KVCache.empty(model), KVCache.empty(model, capacity=16)]
    with torch.no_grad():
        outs = [[model(idx, cache=c)[0]] + [model(idx[:, t : t + 1], cache=c)[0] for t in range(5)] for c in caches]
    for a, b in zip(*outs):
        assert torch.equal(a, b)
    assert caches[0].nbytes() == caches[1].nbytes() and caches[1].length == 15
    with pytest.raises(ValueError, match="holds 1 positions; 2 were asked for"):
        with torch.no_grad():
            model(idx[:, :1].repeat(1, 2), cache=KVCache.empty(model, capacity=1))
