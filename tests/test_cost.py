"""The cost path: the int8 CPU linear equals BitLinear, the prepared models have the analytic sizes, and
prepare -> measure -> throughput -> tables and Figure 8 run end to end on a tiny shape (both engines)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bitnet_repro.bitlinear import BitLinear, _safe, quantize_activation_int, quantize_weight_int, weight_scale
from bitnet_repro.cost import measure as cost
from bitnet_repro.cost import shapes
from bitnet_repro.kernels.cpu import TernaryInt8Linear, to_int8_inference


def test_int8_linear_equals_bitlinear_and_its_integer_product_is_exact():
    torch.manual_seed(0)
    lin = BitLinear(384, 200, bias=False, norm=None, act_quant=None, variant="bitnet_b158")
    w = lin.weight.detach()
    codes, _ = quantize_weight_int(w)
    fast = TernaryInt8Linear.from_codes(codes, float(_safe(weight_scale(w), lin.eps, lin.eps_mode)))
    x = torch.randn(3, 7, 384) * torch.rand(3, 7, 1) * 4
    from bitnet_repro.bitlinear import activation_quant

    xq = activation_quant(x)  # what the model's shared quantizer hands the layer
    with torch.no_grad():
        ref, out = lin(xq), fast(xq)
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    q, _ = quantize_activation_int(xq.reshape(-1, 384))
    assert torch.equal(torch._int_mm(q, fast.codes_t).long(), q.long() @ codes.long().t())


def test_to_int8_inference_refuses_binary_weights():
    lin = BitLinear(64, 64, bias=False, norm=None, act_quant=None, variant="bitnet_b1")
    with pytest.raises(ValueError, match="b1.58"):
        to_int8_inference(torch.nn.Sequential(lin))


def test_analytic_bytes_closed_form():
    a = cost.analytic_bytes("700M", 2.0, ctx=512, batch=16)
    d, f, _, L = cost.SHAPES["700M"]
    assert a["linear_params"] == L * (4 * d * d + 3 * d * f) == 679_477_248
    assert a["weights"] == 2 * a["linear_params"] + 2 * (32000 * d + 2 * L * d + d)
    assert a["kv"] == 2 * L * d * 512 * 16 * 2
    assert cost.cost_config("1.3B", "bitnet_b158").d_ff == 5632  # 5460 rounded up to TQ2_0's 256-blocks


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A two-layer 'tiny' shape (d_ff 320 -> 512) with a 1,024-entry vocabulary, prepared once."""
    mp = pytest.MonkeyPatch()
    mp.setitem(cost.SHAPES, "tiny", (256, 320, 4, 2))
    mp.setattr(cost, "VOCAB", 1024)
    mp.setattr(shapes, "VOCAB", 1024)
    out = tmp_path_factory.mktemp("cost") / "tiny"
    manifest = cost.prepare("tiny", out)
    yield out, manifest
    mp.undo()


def test_prepared_files_have_the_analytic_sizes(tiny):
    out, manifest = tiny
    assert manifest["d_ff_used"] == 512
    files = manifest["files"]
    for name, bpw in [("bitnet_b158-int8.safetensors", 1.0), ("fp16.safetensors", 2.0)]:
        analytic = cost.analytic_bytes("tiny", bpw)["weights"]
        extra = 4 * 14 if "bitnet_b158" in name else 0  # 14 betas (float32)
        assert 0 <= files[name] - analytic - extra < 16_384  # the safetensors header
    tq2 = cost.analytic_bytes("tiny", 66 / 256)["weights"]
    assert 0 < files["bitnet_b158-tq2_0.gguf"] - tq2 < 64_000  # GGUF header, vocabulary and the 14 scales


@pytest.mark.parametrize(
    "engine,variant", [("llama.cpp", "fp16"), ("llama.cpp", "bitnet_b158"), ("torch", "fp16"), ("torch", "bitnet_b158")]
)
def test_measure_checks_logits_then_times(tiny, engine, variant):
    pytest.importorskip("llama_cpp")
    out, _ = tiny
    r = cost.measure(out, engine, variant, prompt=16, new_tokens=6)
    assert r["ms_per_token"] > 0 and r["p10_ms"] <= r["ms_per_token"] <= r["p90_ms"]
    assert r["agreement"]["correlation"] > (0.9999 if variant == "fp16" else 0.98)
    assert r["kv_bytes"] > 0 and r["file_bytes"] > 0 and r["threads"] == 2


def test_measure_refuses_a_model_that_disagrees(tiny, tmp_path):
    import shutil

    out, _ = tiny
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    ref = dict(np.load(bad / "reference.npz"))
    ref["fp16"] = np.random.default_rng(0).normal(size=ref["fp16"].shape).astype(np.float32)
    np.savez(bad / "reference.npz", **ref)
    with pytest.raises(cost.CostError, match="disagree"):
        cost.measure(bad, "torch", "fp16", prompt=8, new_tokens=3)


def test_reports_end_to_end(tiny, tmp_path):
    pytest.importorskip("llama_cpp")
    from bitnet_repro.__main__ import main

    out, _ = tiny
    files = []
    for engine, variant in [(e, v) for e in ("llama.cpp", "torch") for v in ("fp16", "bitnet_b158")]:
        f = tmp_path / f"{engine}-{variant}.json"
        f.write_text(json.dumps(cost.measure(out, engine, variant, prompt=8, new_tokens=4)))
        files.append(str(f))
    assert main(["cost-table", *files, "--profile", "test", "--out-csv", str(tmp_path / "t4.csv"),
                 "--out-md", str(tmp_path / "t4.md")]) == 0  # fmt: skip
    md = (tmp_path / "t4.md").read_text()
    assert "| tiny | llama.cpp | BitNet b1.58 | TQ2_0 |" in md and "70B" in md
    assert main(["plot-cost", *files, "--profile", "test", "--figure", str(tmp_path / "figure8")]) == 0
    assert (tmp_path / "figure8.png").stat().st_size > 10_000 and (tmp_path / "figure8.md").is_file()

    t16 = tmp_path / "fp16.json"
    assert main(["cost-throughput", "--prep", str(out), "--variant", "fp16", "--batch", "2", "--context", "32",
                 "--out", str(t16)]) == 0  # fmt: skip
    # in one test process resident-memory deltas of a tiny model are noise, so b1.58 fills a stated budget
    budget = tmp_path / "budget.json"
    budget.write_text(json.dumps({"budget_bytes": 3e8}))
    t158 = tmp_path / "bitnet_b158.json"
    assert main(["cost-throughput", "--prep", str(out), "--variant", "bitnet_b158", "--budget-from", str(budget),
                 "--context", "32", "--out", str(t158)]) == 0  # fmt: skip
    f16, b = json.loads(t16.read_text()), json.loads(t158.read_text())
    assert f16["max_batch"] == 2 and b["budget_bytes"] == 3e8
    kv = 2 * 2 * 256 * (32 + 8) * 2  # layers, d_model, context + steps, 2 bytes, K and V
    assert b["kv_bytes_per_sequence"] == kv
    assert b["max_batch"] == int((3e8 - b["weights_resident_bytes"] - b["overhead_bytes"]) // kv) >= 1
    assert main(["cost-throughput", "--prep", str(out), "--variant", "bitnet_b158", "--budget-gb", "0.000001",
                 "--out", str(tmp_path / "x.json")]) == 2  # fmt: skip
    assert main(["table7", str(t16), str(t158), "--profile", "test", "--out-csv", str(tmp_path / "t7.csv"),
                 "--out-md", str(tmp_path / "t7.md")]) == 0  # fmt: skip
    assert "| FP16 (LLaMA) | tiny |" in (tmp_path / "t7.md").read_text()


def test_unknown_size_is_a_clear_error():
    with pytest.raises(cost.CostError, match="cost sizes are"):
        cost.cost_config("5B", "fp16")


def _tiny_b158(seed: int):
    from bitnet_repro.config import ModelConfig
    from bitnet_repro.model import Transformer

    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=300, d_model=64, n_layers=1, n_heads=2, d_ff=128, max_seq_len=32,
                      linear="bitnet_b158", arch="subln")  # fmt: skip
    return Transformer(cfg).eval()


def test_packed_triton_decoding_equals_the_plain_model():
    """The decode loop on 2-bit packed weights through the Triton W2A8 kernel (interpreter on CPU): same
    logits as BitLinear up to float rounding, same greedy tokens."""
    import copy

    from bitnet_repro.infer import generate
    from bitnet_repro.kernels.linear import PackedTernaryLinear, to_packed_inference

    model = _tiny_b158(0)
    fast = to_packed_inference(copy.deepcopy(model))
    assert sum(isinstance(m, PackedTernaryLinear) for m in fast.modules()) == 7
    idx = torch.randint(0, 300, (1, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, out = model(idx)[0], fast(idx)[0]
    assert torch.allclose(out, ref, atol=1e-4 * ref.abs().max().item())
    assert torch.equal(generate(fast, idx, 3, preallocate=True), generate(model, idx, 3))


def test_for_inference_picks_the_int8_path_on_cpu():
    from bitnet_repro.kernels.linear import for_inference

    model = for_inference(_tiny_b158(2), "cpu")
    assert sum(isinstance(m, TernaryInt8Linear) for m in model.modules()) == 7
    assert model.embed_tokens.weight.dtype == torch.float16
    with pytest.raises(ValueError, match="FP16 and BitNet b1.58"):
        from bitnet_repro.config import ModelConfig
        from bitnet_repro.model import Transformer

        for_inference(Transformer(ModelConfig(linear="bitnet_b1", arch="subln")), "cpu")


def test_blockwise_float32_reference_equals_the_float32_model():
    import copy

    from bitnet_repro.export.gguf import reference_logits

    mp = pytest.MonkeyPatch()
    mp.setitem(cost.SHAPES, "tiny", (256, 320, 4, 2))
    mp.setattr(cost, "VOCAB", 1024)
    mp.setattr(shapes, "VOCAB", 1024)
    try:
        for variant in ("fp16", "bitnet_b158"):
            model = cost.random_model("tiny", variant, seed=3, dtype=torch.bfloat16)
            full = copy.deepcopy(model).float()
            full.lm_head.weight = full.embed_tokens.weight
            ids = list(range(5, 25))
            assert np.array_equal(cost.reference_logits_float32(model, ids), reference_logits(full, ids))
            assert all(p.dtype == torch.bfloat16 for p in model.parameters())  # rounded back
    finally:
        mp.undo()
