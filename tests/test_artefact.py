"""The pack step: a BitNet checkpoint -> packed artefact, exact against the checkpoint, sized as counted, and
refused when it is from another format version or variant."""

import json

import pytest
import torch

from bitnet_repro.checkpoint import load_model_dir, save_model_dir
from bitnet_repro.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from bitnet_repro.export.packed import ArtefactError, load_packed, pack_checkpoint, read_manifest
from bitnet_repro.kernels.pack import packed_bytes
from bitnet_repro.model import Transformer


def _checkpoint(tmp_path, variant: str):
    linear = {"bitnet_b158": "bitnet_b158", "bitnet_b1": "bitnet_b1", "fp16": "fp16"}[variant]
    arch = "llama" if variant == "fp16" else "subln"
    mc = ModelConfig(vocab_size=512, d_model=64, n_layers=2, n_heads=4, d_ff=96, max_seq_len=64, linear=linear,
                     arch=arch)  # fmt: skip
    tc = TrainConfig(seq_len=32, steps=1, warmup_steps=0, batch_tokens=32, micro_batch=1, eval_every=1, ckpt_every=1)
    cfg = RunConfig(name=f"t-{variant}", model=mc, train=tc, data=DataConfig(vocab_size=512), size="t",
                    variant=variant)  # fmt: skip
    torch.manual_seed(0)
    model = Transformer(mc)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # fresh, non-trivial values everywhere (norm gains included)
    out = tmp_path / variant / "model"
    save_model_dir(out, model.state_dict(), cfg, meta={})
    return out


@pytest.mark.parametrize("variant", ["bitnet_b158", "bitnet_b1"])
def test_packed_model_equals_the_checkpoint(tmp_path, variant):
    ckpt = _checkpoint(tmp_path, variant)
    manifest = pack_checkpoint(ckpt, tmp_path / "art")
    packed, _ = load_packed(tmp_path / "art", variant)
    ref, _ = load_model_dir(ckpt)
    ref.eval()
    from bitnet_repro.bitlinear import BitLinear

    ref_layers = {n: m for n, m in ref.named_modules() if isinstance(m, BitLinear)}
    assert len(ref_layers) == len(manifest["layers"]) == 2 * 7
    with torch.no_grad():
        for name, lin in ref_layers.items():  # quantized weights: bitwise
            assert torch.equal(packed.get_submodule(name).quantized_weight(), lin.quantized_weight()), name
        for key, value in ref.state_dict().items():  # the rest is stored in FP16, as the paper counts memory
            if not any(key == f"{n}.weight" for n in ref_layers):
                value.copy_(value.half().float())
        ids = torch.randint(0, 512, (2, 32))
        assert torch.equal(packed(ids)[0], ref(ids)[0])


@pytest.mark.parametrize("variant,fmt", [("bitnet_b158", "ternary"), ("bitnet_b1", "binary")])
def test_artefact_size_is_the_analytic_count(tmp_path, variant, fmt):
    ckpt = _checkpoint(tmp_path, variant)
    m = pack_checkpoint(ckpt, tmp_path / "art")
    expected = sum(packed_bytes(o, i, fmt) for o, i in m["layers"].values())
    assert m["bytes"]["packed_weights"] == expected
    n_weights = sum(o * i for o, i in m["layers"].values())
    assert expected == n_weights * (2 if fmt == "ternary" else 1) // 8  # rows divide 4 and 8 here
    ref, cfg = load_model_dir(ckpt)
    other = sum(p.numel() for n, p in ref.state_dict().items() if not n.endswith("proj.weight")) * 2
    assert m["bytes"]["other_fp16"] == other
    assert m["bytes"]["total"] == expected + 4 * len(m["layers"]) + other
    # the file: those bytes plus the safetensors header (names, shapes, offsets)
    assert 0 < m["bytes"]["file"] - m["bytes"]["total"] < 8192


def test_old_versions_and_other_variants_are_refused(tmp_path):
    ckpt = _checkpoint(tmp_path, "bitnet_b158")
    pack_checkpoint(ckpt, tmp_path / "art")
    with pytest.raises(ArtefactError, match="packed for bitnet_b158, not bitnet_b1"):
        load_packed(tmp_path / "art", "bitnet_b1")
    manifest = json.loads((tmp_path / "art" / "manifest.json").read_text())
    manifest["format_version"] = 0
    (tmp_path / "art" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtefactError, match="format_version 0; this bitnet_repro reads version 1. Re-pack"):
        read_manifest(tmp_path / "art")
    with pytest.raises(ArtefactError, match="manifest.json is missing"):
        read_manifest(tmp_path)
    with pytest.raises(ArtefactError, match="takes BitNet b1.58 or b1"):
        pack_checkpoint(_checkpoint(tmp_path, "fp16"), tmp_path / "art2")
