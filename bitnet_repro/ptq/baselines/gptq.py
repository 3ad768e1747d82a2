"""GPTQ (Frantar et al. 2023): weight-only quantization that rounds one column at a time and updates the
remaining columns to compensate, using the inverse Hessian of the layer's calibration inputs.

llm-compressor's `GPTQModifier`, run layer by layer on the calibration sequences (its sequential pipeline),
symmetric integer grid, one scale per output channel (or per group). GPTQModel 7.6.0 gives the same
per-layer result within the tolerance of tests/test_gptq_crosscheck.py."""

from bitnet_repro.ptq.baselines import Baseline, register
from bitnet_repro.ptq.quantize import ignore_patterns, oneshot

# compressed_tensors and llmcompressor are imported where used: heavy (seconds to import) and needed by few commands


def scheme(setting):
    """compressed-tensors' quantization scheme for the setting's weights (activations stay in FP)."""
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme

    grouped = setting.granularity == "per_group"
    weights = QuantizationArgs(num_bits=setting.w_bits, type="int", symmetric=True,
                               strategy="group" if grouped else "channel",
                               group_size=setting.group_size if grouped else None)  # fmt: skip
    return {"group_0": QuantizationScheme(targets=["Linear"], weights=weights)}


def gptq_modifier(setting):
    from llmcompressor.modifiers.quantization import GPTQModifier

    return GPTQModifier(config_groups=scheme(setting), ignore=ignore_patterns(setting),
                        dampening_frac=float(setting.param("damp")), block_size=int(setting.param("block_size")),
                        actorder=bool(setting.param("actorder")) or None)  # fmt: skip


@register
class GPTQ(Baseline):
    name = "gptq"
    title = "GPTQ"
    reference = "Frantar et al. 2023, weight-only, symmetric per channel"
    implementation = "llm-compressor GPTQModifier (sequential)"
    w_bits = (2, 3, 4, 8)
    a_bits = (16,)
    granularities = ("per_channel", "per_group")
    table3 = ("W4A16", "W2A16")
    defaults = {"damp": 0.01, "block_size": 128, "actorder": False}

    def apply(self, model, calib, setting):
        oneshot(model, calib, [gptq_modifier(setting)])
        return model
