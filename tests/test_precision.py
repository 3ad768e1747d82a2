"""Precision: `auto` resolution and its fallback, quantizers in fp32 under bf16 autocast, BitLinear's bf16 forward
against exact integer arithmetic, a model that compiles without graph breaks, and a compiled bf16 run that
resumes bitwise."""

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from bitnet_repro import precision
from bitnet_repro.bitlinear import (
    BitLinear,
    activation_quant,
    quantize_activation_int,
    weight_quant_b1,
    weight_quant_b158,
)
from bitnet_repro.config import ConfigError, DataConfig, TrainConfig
from bitnet_repro.cost.train_bench import bitlinear_error, step_flops
from bitnet_repro.model import Transformer
from bitnet_repro.presets import preset_model
from bitnet_repro.profile import load_profile, make_run
from bitnet_repro.train import train


def test_auto_resolves_by_device_and_falls_back_without_bf16_units(monkeypatch):
    assert precision.resolve_precision("auto", "cuda") == "bf16"
    assert precision.resolve_precision("fp32", "cuda") == "fp32"
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert "falls back to fp32" in precision.precision_note("fp32", "cpu")
    assert "emulated" in precision.precision_note("bf16", "cpu")
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    with pytest.raises(ValueError, match="not one of"):
        precision.resolve_precision("fp8", "cpu")


def test_precision_is_resolved_in_the_config_and_named_in_the_run_id(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    assert TrainConfig(precision="auto").precision == "fp32"  # never `auto` in a config
    with pytest.raises(ConfigError, match="train.precision"):
        TrainConfig(precision="half")
    profile = load_profile("smoke")
    base = make_run(profile, DataConfig(vocab_size=512), "tiny-1", "bitnet_b158")
    assert "precision" not in base.to_dict()["train"]  # at the default: ids of runs trained before are kept
    bf16 = make_run(profile, DataConfig(vocab_size=512), "tiny-1", "bitnet_b158",
                    train_overrides={"precision": "bf16", "compile": True})  # fmt: skip
    assert bf16.to_dict()["train"]["precision"] == "bf16" and bf16.to_dict()["train"]["compile"] is True
    assert bf16.run_id != base.run_id


def test_quantizers_compute_in_fp32_under_bf16():
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(4, 16, 96, generator=g) * 3).bfloat16()
    w = (torch.randn(64, 96, generator=g) * 0.02).bfloat16()
    for kwargs in ({}, {"per": "tensor"}, {"unsigned": True}, {"unsigned": True, "per": "tensor", "groups": 2}):
        assert torch.equal(activation_quant(x, **kwargs), activation_quant(x.float(), **kwargs).bfloat16())
    assert torch.equal(weight_quant_b158(w), weight_quant_b158(w.float()).bfloat16())
    assert torch.equal(weight_quant_b1(w), weight_quant_b1(w.float()).bfloat16())
    # the fp32 arithmetic matters: quantizing in bf16 itself gives other codes
    scale = 127 / x.abs().amax(dim=-1, keepdim=True)
    in_bf16 = (x * scale).round().clamp(-128, 127) / scale
    assert not torch.equal(in_bf16, activation_quant(x))


def test_bitlinear_bf16_forward_against_exact_integer_arithmetic():
    """bf16 autocast rounds the fake-quantized operands and the output to bf16, as on a GPU: within a few bf16
    ulps of the exact integer result, while the integer path (torch._int_mm) is exact up to the fp32 scales."""
    err = bitlinear_error(256, 128, 336)
    assert err["max_rel_error"]["fp32"] < 1e-5
    assert err["max_rel_error"]["int8_int_mm"] < 1e-5
    assert 1e-4 < err["mean_rel_error"]["bf16_autocast"] < 2**-7
    # and the codes BitLinear feeds the matmul are those of fp32 (quantizers in fp32)
    layer = BitLinear(128, 336)
    x = torch.randn(8, 128)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    xq = layer.act_quant(layer.norm(x))
    ref = F.linear(xq, layer.quantized_weight())
    assert ((y.float() - ref).abs().max() / ref.abs().mean()).item() < 2**-5
    codes, _ = quantize_activation_int(layer.norm(x))
    assert codes.abs().max().item() == 127


@pytest.mark.parametrize("variant", ["fp16", "bitnet_b1", "bitnet_b158"])
def test_the_model_traces_without_graph_breaks(variant):
    cfg = preset_model("tiny-2", variant, vocab_size=512, max_seq_len=32)
    model = Transformer(cfg).train()
    x = torch.randint(0, 512, (2, 32))
    torch._dynamo.reset()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        explanation = torch._dynamo.explain(model)(x, x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_step_flops_counts_the_matmuls():
    cfg = preset_model("tiny-2", "fp16", vocab_size=512, max_seq_len=64)
    n = cfg.n_params_nonembedding + cfg.d_model * cfg.vocab_size
    assert step_flops(cfg, 64) == 64 * (6 * n + 12 * cfg.n_layers * cfg.d_model * 64)


def test_compiled_bf16_run_resumes_bitwise(token_dir, tmp_path):
    profile = load_profile("smoke")
    t = dict(steps=6, warmup_steps=2, eval_every=3, ckpt_every=2, eval_tokens=512, precision="bf16", compile=True)
    run = make_run(profile, DataConfig(vocab_size=512), "tiny-1", "bitnet_b158", train_overrides=t)
    full = train(run, token_dir, tmp_path / "full", progress=False)
    assert full["precision"] == "bf16" and full["compile"] is True and "compile_s" in full
    train(run, token_dir, tmp_path / "resumed", progress=False, stop_after=3)
    resumed = train(run, token_dir, tmp_path / "resumed", progress=False)  # from the step-2 checkpoint, compiled again
    a = load_file(str(tmp_path / "full/model/model.safetensors"))
    b = load_file(str(tmp_path / "resumed/model/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["val_c4_loss"] == full["val_c4_loss"]
    losses = [[json.loads(x)["loss"] for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
              for d in ("full", "resumed")]  # fmt: skip
    assert losses[0] == losses[1]


def test_evaluation_precision(checkpoint):
    from bitnet_repro.eval.lm import SuiteLM

    fp32, bf16 = (SuiteLM(pretrained=str(checkpoint), precision=p) for p in ("fp32", "bf16"))
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    ctx, cont = fp32.tok_encode("The cat sat on"), fp32.tok_encode(" the mat by the door")
    (a, _), (b, _) = (lm._loglikelihood_tokens([(("", ""), ctx, cont)], disable_tqdm=True)[0] for lm in (fp32, bf16))
    assert a != b and abs(a - b) < 0.05 * abs(a)  # bf16 rounding, nothing more
