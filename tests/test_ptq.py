"""PTQ baselines: the registry, the quantizers' levels, SmoothQuant's and QuIP's function-preserving transforms,
SmoothQuant's advantage on outlier channels, which modules stay in high precision, non-finite models, the
README recipe for a new baseline, and the errors a user meets."""

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import bitnet_repro.ptq.baselines as baselines
from bitnet_repro.ptq.baselines import REGISTRY, Baseline, BaselineError, method_files, register, setting, unregister
from bitnet_repro.ptq.quantize import Calibration, FakeQuantLinear, absmax_quantize, oneshot
from bitnet_repro.ptq.run import finite_status, load_fp16, quantize, run_ptq

REPO = Path(__file__).resolve().parents[1]


def tiny_llama(seed: int = 0, dtype=torch.float32, outliers: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128)  # fmt: skip
    model = LlamaForCausalLM(cfg).to(dtype).eval()
    if outliers:  # a few input channels 40x larger than the rest, as in real LLMs' activations
        with torch.no_grad():
            for layer in model.model.layers:
                layer.input_layernorm.weight[[3, 17, 41]] = 40.0
                layer.post_attention_layernorm.weight[[5, 29]] = 40.0
    return model


def calib_for(model, n: int = 8, seq_len: int = 32, seed: int = 0) -> Calibration:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (n, seq_len), generator=g)
    vocab = {f"t{i}": i for i in range(model.config.vocab_size)}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")))
    return Calibration(ids, tok, "random ids")


# ------------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------------


def test_registry_matches_the_files_on_disk():
    baselines.discover()
    assert sorted(REGISTRY) == method_files()
    for name, cls in REGISTRY.items():
        assert cls.__module__ == f"bitnet_repro.ptq.baselines.{name}", f"{name} is registered by {cls.__module__}"
        assert cls.table3, f"{name} adds no Table 3 row"
        for label in cls.table3:
            setting(f"{name}:{label}")  # every advertised setting validates


def test_paper_table3_settings_are_all_there():
    specs = {s.spec for s in baselines.table3_settings()}
    for spec in ["absmax:W8A8", "absmax:W4A4", "absmax:W1A8", "smoothquant:W8A8", "smoothquant:W4A4",
                 "smoothquant:W1A8", "gptq:W4A16", "gptq:W2A16", "quip:W2A16", "llm_int8:W8A8"]:  # fmt: skip
        assert spec in specs


def test_unknown_method_and_impossible_settings_fail_clearly():
    with pytest.raises(BaselineError, match="Did you mean 'gptq'"):
        setting("gtpq:W4A16")
    with pytest.raises(BaselineError, match=r"activation bits 4, 8, 16 \(not quantized\), not 3"):
        setting("smoothquant:W8A3")
    with pytest.raises(BaselineError, match="activation bits 16 .*not 8"):
        setting("gptq:W4A8")
    with pytest.raises(BaselineError, match="weight bits"):
        setting("quip:W1A16")
    with pytest.raises(BaselineError, match="W<bits>A<bits>"):
        setting("absmax:8bit")
    with pytest.raises(BaselineError, match="no parameter"):
        setting("smoothquant:W8A8", params={"beta": 1})
    with pytest.raises(BaselineError, match="group_size"):
        setting("gptq:W4A16", granularity="per_group")
    s = setting("smoothquant:W8A8", params={"alpha": 0.8})
    assert s.param("alpha") == 0.8 and s.spec == "smoothquant:W8A8"


def test_cli_refuses_impossible_setting_with_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bitnet_repro", "ptq", "--model", "smollm2-135m", "--method",
                           "absmax:W4A3", "--calib-data", str(tmp_path), "--tasks", "winogrande", "--out",
                           str(tmp_path / "x.json")], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert proc.returncode == 2
    assert "Absmax supports activation bits 4, 8, 16" in proc.stderr
    assert not (tmp_path / "x.json").exists()


# ------------------------------------------------------------------------------------------------------
# Quantizers
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_absmax_takes_only_the_allowed_levels(bits):
    torch.manual_seed(bits)
    w = torch.randn(32, 96) * torch.rand(32, 1)
    q = absmax_quantize(w, bits, dim=1)
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1, keepdim=True) / qmax
    levels = q / scale
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert levels.round().abs().max() == qmax  # the row maximum lands on the top level
    assert (q - w).abs().le(scale / 2 + 1e-6).all()  # round to nearest: at most half a step away


def test_one_bit_is_bitnet_b1_binarization():
    torch.manual_seed(0)
    w = torch.randn(16, 64) + 0.3
    q = absmax_quantize(w, 1, dim=1)
    beta = w.abs().mean(dim=1, keepdim=True)
    centred = w - w.mean(dim=1, keepdim=True)
    assert torch.equal(q, torch.where(centred > 0, beta, -beta))
    assert all(torch.unique(row).numel() == 2 for row in q)
    tensor_wide = absmax_quantize(w, 1, dim=None)
    assert torch.unique(tensor_wide).numel() == 2


def test_fake_quant_linear_quantizes_activations_per_token():
    torch.manual_seed(0)
    lin = nn.Linear(32, 8)
    x = torch.randn(3, 5, 32)
    q = FakeQuantLinear(lin, 8, 4)
    expected = nn.functional.linear(absmax_quantize(x, 4, dim=-1), absmax_quantize(lin.weight, 8, dim=1), lin.bias)
    assert torch.equal(q(x), expected)
    assert torch.unique(absmax_quantize(x, 4, dim=-1)[0, 0]).numel() <= 15


# ------------------------------------------------------------------------------------------------------
# Method oracles
# ------------------------------------------------------------------------------------------------------


def test_smoothquant_smoothing_is_function_preserving_in_float64():
    """(X / s) (W s)^T = X W^T: llm-compressor's smoothing alone leaves the logits unchanged (float64)."""
    pytest.importorskip("llmcompressor")
    from llmcompressor.modifiers.transform import SmoothQuantModifier

    model = tiny_llama(dtype=torch.float64, outliers=True)
    ids = torch.randint(0, 256, (2, 24))
    before = model(ids).logits
    gains = model.model.layers[0].input_layernorm.weight.clone()
    oneshot(model, calib_for(model), [SmoothQuantModifier(smoothing_strength=0.5)])
    assert not torch.equal(model.model.layers[0].input_layernorm.weight, gains)  # it did smooth
    assert torch.allclose(model(ids).logits, before, rtol=0, atol=1e-9)


def test_smoothing_identity_closed_form():
    torch.manual_seed(0)
    x, w = torch.randn(10, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    x[:, 3] *= 50
    alpha = 0.5
    s = x.abs().amax(0) ** alpha / w.abs().amax(0) ** (1 - alpha)
    assert torch.allclose((x / s) @ (w * s).T, x @ w.T, rtol=1e-12, atol=1e-10)
    assert (x / s).abs().amax(0).std() < x.abs().amax(0).std()  # the outlier channel is flattened


def _logit_error(q, ref, ids):
    return (q(ids).logits - ref).pow(2).mean().item()


def test_smoothquant_beats_absmax_on_outlier_channels():
    pytest.importorskip("llmcompressor")
    base = tiny_llama(outliers=True)
    ids = torch.randint(0, 256, (4, 32), generator=torch.Generator().manual_seed(1))
    ref = base(ids).logits
    errors = {}
    for spec in ("absmax:W8A8", "smoothquant:W8A8", "absmax:W4A4", "smoothquant:W4A4"):
        from bitnet_repro.ptq.run import FP16Model

        m = FP16Model(copy.deepcopy(base), None, "tiny", {})
        calib = calib_for(base)
        errors[spec] = _logit_error(quantize(m, setting(spec), calib), ref, ids)
    assert errors["smoothquant:W8A8"] <= errors["absmax:W8A8"], errors
    assert errors["smoothquant:W4A4"] <= errors["absmax:W4A4"], errors


def test_quip_rotations_alone_preserve_the_function():
    """QuIP's random orthogonal transforms (no rounding) leave the in-memory model's logits unchanged."""
    pytest.importorskip("llmcompressor")
    from llmcompressor.modifiers.transform import QuIPModifier

    model = tiny_llama()
    ids = torch.randint(0, 256, (2, 24))
    before = model(ids).logits
    transform = setting("quip:W2A16").param("transform")
    oneshot(model, calib_for(model), [QuIPModifier(transform_type=transform, rotations=["v", "u"])])
    assert (model(ids).logits - before).abs().max() < 1e-3 * before.abs().max()  # float32 rounding of U, V


def test_gptq_rows_take_only_the_grid_levels():
    pytest.importorskip("llmcompressor")
    from bitnet_repro.ptq.run import FP16Model

    m = FP16Model(tiny_llama(), None, "tiny", {})
    model = quantize(m, setting("gptq:W2A16", calib_samples=8), calib_for(m.model))
    w = model.model.layers[0].mlp.down_proj.weight
    assert max(torch.unique(row).numel() for row in w) <= 4
    assert torch.equal(model.lm_head.weight, tiny_llama().lm_head.weight)  # kept in high precision


def test_llm_int8_runs_the_int8_path_in_eval_mode():
    pytest.importorskip("bitsandbytes")
    from bitnet_repro.ptq.run import FP16Model

    base = tiny_llama(outliers=True)
    ids = torch.randint(0, 256, (2, 16))
    ref = base(ids).logits
    model = quantize(FP16Model(copy.deepcopy(base), None, "tiny", {}), setting("llm_int8:W8A8"), None)
    assert not model.training
    assert type(model.model.layers[0].mlp.up_proj).__name__ == "Linear8bitLt"
    assert model.model.layers[0].mlp.up_proj.weight.dtype == torch.int8
    err = (model(ids).logits - ref).abs().max()
    assert 0 < err < 0.05 * ref.abs().max()


# ------------------------------------------------------------------------------------------------------
# High-precision modules are config
# ------------------------------------------------------------------------------------------------------


def test_embeddings_and_head_stay_high_precision_unless_config_says_otherwise():
    from bitnet_repro.ptq.run import FP16Model

    base = tiny_llama()
    kept = quantize(FP16Model(copy.deepcopy(base), None, "t", {}), setting("absmax:W4A8"), None)
    assert isinstance(kept.lm_head, nn.Linear) and not isinstance(kept.lm_head, FakeQuantLinear)
    assert torch.equal(kept.lm_head.weight, base.lm_head.weight)
    assert torch.equal(kept.model.embed_tokens.weight, base.model.embed_tokens.weight)
    assert isinstance(kept.model.layers[1].self_attn.o_proj, FakeQuantLinear)

    everything = setting("absmax:W4A8", keep=())
    full = quantize(FP16Model(copy.deepcopy(base), None, "t", {}), everything, None)
    assert isinstance(full.lm_head, FakeQuantLinear)
    emb = full.model.embed_tokens.weight
    assert not torch.equal(emb, base.model.embed_tokens.weight)
    assert max(torch.unique(row).numel() for row in emb) <= 15

    head_only = setting("absmax:W4A8", keep=("embed_tokens",))
    part = quantize(FP16Model(copy.deepcopy(base), None, "t", {}), head_only, None)
    assert isinstance(part.lm_head, FakeQuantLinear)
    assert torch.equal(part.model.embed_tokens.weight, base.model.embed_tokens.weight)


# ------------------------------------------------------------------------------------------------------
# End to end on a suite checkpoint: non-finite models, the README recipe
# ------------------------------------------------------------------------------------------------------


class _Poison(Baseline):
    name = "test_poison"
    title = "Poison"
    implementation = "this test"
    w_bits = (4,)
    table3 = ("W4A16",)
    needs_calibration = False
    defaults = {"value": float("nan")}

    def apply(self, model, calib, s):
        with torch.no_grad():
            model.model.layers[0].mlp.down_proj.weight.mul_(s.param("value"))
        return model


@pytest.fixture
def poison():
    register(_Poison)
    yield _Poison
    unregister(_Poison.name)


def test_non_finite_quantization_is_reported_not_raised(checkpoint, poison, tmp_path):
    from bitnet_repro.paper import table3

    data = checkpoint.parent / "data"
    nan = run_ptq(str(checkpoint), "test_poison:W4A16", data, ["winogrande"], limit=4, calib_samples=2,
                  calib_seq_len=32, out=tmp_path / "nan.json")  # fmt: skip
    assert nan["bitnet_repro"]["ptq"]["status"].startswith("non-finite weights (model.layers.0.mlp.down_proj")
    assert "results" not in nan
    inf = run_ptq(str(checkpoint), "test_poison:W4A16", data, ["winogrande"], limit=4, calib_samples=2,
                  calib_seq_len=32, params={"value": 1e38}, out=tmp_path / "inf.json")  # fmt: skip
    assert inf["bitnet_repro"]["ptq"]["status"] == "non-finite logits"
    fp = run_ptq(str(checkpoint), "absmax:W8A8", data, ["winogrande"], limit=4, calib_samples=2, calib_seq_len=32,
                 out=tmp_path / "ok.json")  # fmt: skip
    assert fp["bitnet_repro"]["ptq"]["status"] == "ok"
    rows = table3.run(sorted(tmp_path.glob("*.json")), tmp_path / "t.csv", tmp_path / "t.md", "test")
    statuses = sorted(r["status"] for r in rows)
    assert statuses[0] == "non-finite logits" and statuses[1].startswith("non-finite weights") and statuses[2] == "ok"
    md = (tmp_path / "t.md").read_text()
    assert "**non-finite logits**" in md and "**non-finite weights" in md


def test_finite_status_names_the_bad_weight():
    model = tiny_llama()
    ids = torch.randint(0, 256, (1, 8))
    assert finite_status(model, ids) == "ok"
    with torch.no_grad():
        model.model.layers[1].self_attn.k_proj.weight[0, 0] = math.inf
    assert finite_status(model, ids) == "non-finite weights (model.layers.1.self_attn.k_proj.weight)"


def test_load_fp16_refuses_a_bitnet_checkpoint(checkpoint, tmp_path):
    import shutil

    from bitnet_repro.ptq.quantize import PTQError

    bad = tmp_path / "b1"
    shutil.copytree(checkpoint, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["model"]["linear"], cfg["model"]["arch"] = "bitnet_b1", "subln"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PTQError, match="PTQ quantizes FP16"):
        load_fp16(str(bad))


# The README's "Adding a baseline" example, verbatim (a test below checks README still shows it).
TOY = '''"""Toy RTN: round-to-nearest 3-bit weights, activations untouched."""

from bitnet_repro.ptq.baselines import Baseline, register
from bitnet_repro.ptq.quantize import rtn_quantize


@register
class ToyRTN(Baseline):
    name = "toy_rtn"
    title = "Toy RTN"
    reference = "round-to-nearest, per output channel"
    implementation = "this suite (bitnet_repro.ptq.quantize.rtn_quantize)"
    w_bits = (3,)
    table3 = ("W3A16",)
    needs_calibration = False

    def apply(self, model, calib, setting):
        rtn_quantize(model, setting)
        return model
'''


@pytest.fixture
def toy_file():
    path = REPO / "bitnet_repro" / "ptq" / "baselines" / "toy_rtn.py"
    assert not path.exists()
    path.write_text(TOY)
    yield path
    path.unlink()
    unregister("toy_rtn")
    sys.modules.pop("bitnet_repro.ptq.baselines.toy_rtn", None)


def test_readme_shows_the_toy_baseline():
    readme = (REPO / "README.md").read_text()
    assert TOY.strip() in readme


def test_a_new_file_adds_a_table3_row(toy_file, checkpoint, tmp_path):
    """README's recipe: one new file in bitnet_repro/ptq/baselines/, nothing else edited, and Table 3 gets a row."""
    from bitnet_repro.paper import table3

    baselines.discover()
    assert "toy_rtn:W3A16" in {s.spec for s in baselines.table3_settings()}
    listed = subprocess.run([sys.executable, "-m", "bitnet_repro", "baselines"], capture_output=True, text=True,
                            cwd=REPO, check=True).stdout  # fmt: skip
    assert "toy_rtn" in listed
    plan = subprocess.run([sys.executable, "-m", "snakemake", "-n", "table3", "--config", "profile=cpu",
                           "--forceall", "--printshellcmds"], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert "--method toy_rtn:W3A16" in plan.stdout
    data = checkpoint.parent / "data"
    run_ptq(str(checkpoint), "toy_rtn:W3A16", data, ["winogrande", "token_ppl"], limit=4, calib_samples=2,
            calib_seq_len=32, ppl_max_tokens=256, out=tmp_path / "toy.json")  # fmt: skip
    rows = table3.run([tmp_path / "toy.json"], tmp_path / "t.csv", tmp_path / "t.md", "test")
    assert rows[0]["method"] == "Toy RTN" and rows[0]["spec"] == "toy_rtn:W3A16" and rows[0]["status"] == "ok"
    assert math.isfinite(rows[0]["ppl"])
    assert "| Toy RTN | W3A16 | yes |" in (tmp_path / "t.md").read_text()


def test_figure7_draws_every_method_and_size(tmp_path):
    import csv

    from bitnet_repro.paper import figure7

    rows = []
    for size, params in [("s", 1e5), ("m", 4e5), ("l", 1.6e6)]:
        for method, ptq, w, a in [("Transformer", "no", 16, 16), ("BitNet b1", "no", 1, 8), ("GPTQ", "yes", 2, 16)]:
            for shots in (0, 4):
                rows.append({"size": size, "params": params, "method": method, "ptq": ptq, "wbits": w, "abits": a,
                             "shots": shots, "avg": 0.45 + 0.01 * w / 16, "ppl": 100 * w if ptq == "yes" else 90,
                             "status": "ok"})  # fmt: skip
    table = tmp_path / "ptq_sizes.csv"
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    figure7.run(table, tmp_path / "figure7", "test")
    for ext in ("png", "pdf", "md"):
        assert (tmp_path / f"figure7.{ext}").stat().st_size > 0
    assert "s (100,000), m (400,000), l (1,600,000)" in (tmp_path / "figure7.md").read_text()


def test_ptq_perplexity_uses_the_runs_held_out_c4(checkpoint, tmp_path):
    """Token perplexity of a PTQ model is computed on the same held-out C4 documents as its FP16 run's."""
    import shutil

    from bitnet_repro.eval.harness import run_eval

    ckpt = tmp_path / "model"
    shutil.copytree(checkpoint, ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["data"]["c4_val_docs"] = 20
    (ckpt / "config.json").write_text(json.dumps(cfg))
    fp = run_eval(str(ckpt), ["token_ppl"], ppl_max_tokens=100_000)["bitnet_repro"]["token_ppl"]
    q = run_ptq(str(ckpt), "absmax:W8A8", checkpoint.parent / "data", ["token_ppl"], calib_samples=2,
                calib_seq_len=32, ppl_max_tokens=100_000)["bitnet_repro"]["token_ppl"]  # fmt: skip
    assert q["c4"]["tokens"] == fp["c4"]["tokens"] < 100_000
    assert q["c4"]["ppl"] == pytest.approx(fp["c4"]["ppl"], rel=0.02)
