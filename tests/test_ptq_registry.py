"""Every registered PTQ method, taken from the registry (a new file in bitnet_repro/ptq/baselines/ is tested
here without editing this file): each of its Table 3 settings quantizes a tiny Llama into a model that runs,
gives finite logits that differ from the original's, and leaves the high-precision modules alone. The registry
refuses a method that leaves a required attribute unset."""

import copy

import pytest
import torch
from test_ptq import calib_for, tiny_llama

from bitnet_repro.ptq.baselines import REGISTRY, REQUIRED, Baseline, BaselineError, discover, register, setting
from bitnet_repro.ptq.quantize import PTQError
from bitnet_repro.ptq.run import FP16Model, finite_status, quantize

SPECS = [f"{name}:{label}" for name, cls in discover().items() for label in cls.table3]


def quantized(spec: str):
    """The tiny model quantized with `spec`; skipped, with the reason, when the method's library is missing."""
    base = tiny_llama(outliers=True)
    try:
        model = quantize(FP16Model(copy.deepcopy(base), None, "tiny", {}), setting(spec, calib_samples=8),
                         calib_for(base))  # fmt: skip
    except ImportError as e:
        pytest.skip(f"{spec} needs {e.name}, which is not installed")
    except PTQError as e:
        if isinstance(e.__cause__, ImportError):
            pytest.skip(f"{spec}: {e}")
        raise
    return base, model


def test_every_method_file_is_tested():
    assert {spec.partition(":")[0] for spec in SPECS} == set(REGISTRY)


@pytest.mark.parametrize("spec", SPECS)
def test_method_quantizes_a_tiny_model(spec):
    base, model = quantized(spec)
    ids = torch.randint(0, base.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before, after = base(ids).logits, model(ids).logits
    assert after.shape == before.shape
    assert finite_status(model, ids) == "ok"
    assert not torch.equal(after, before), f"{spec} left the model's outputs unchanged"
    assert torch.equal(model.lm_head.weight, base.lm_head.weight)  # `keep`: high precision by default
    assert torch.equal(model.model.embed_tokens.weight, base.model.embed_tokens.weight)


@pytest.mark.parametrize("attribute", REQUIRED)
def test_registry_refuses_a_method_without_a_required_attribute(attribute):
    declared = {"name": "test_incomplete", "title": "Incomplete", "implementation": "this suite", "w_bits": (4,),
                "table3": ("W4A16",)}  # fmt: skip
    del declared[attribute]
    incomplete = type("Incomplete", (Baseline,), declared)
    with pytest.raises(BaselineError, match=f"does not set {attribute}.*README"):
        register(incomplete)
    assert "test_incomplete" not in REGISTRY


def test_registry_refuses_a_table3_row_the_method_does_not_support():
    odd = type("Odd", (Baseline,), {"name": "test_odd", "title": "Odd", "implementation": "this suite",
                                    "w_bits": (4,), "table3": ("W2A16",)})  # fmt: skip
    with pytest.raises(BaselineError, match="Table 3 setting W2A16 is outside its w_bits"):
        register(odd)


def test_method_parameters_must_have_their_defaults_kind():
    with pytest.raises(BaselineError, match="alpha must be a number .*not 'high'"):
        setting("smoothquant:W8A8", params={"alpha": "high"})
    with pytest.raises(BaselineError, match="block_size must be a whole number"):
        setting("gptq:W4A16", params={"block_size": 64.5})
    assert setting("smoothquant:W8A8", params={"alpha": 1}).param("alpha") == 1
