"""SmoothQuant (Xiao et al. 2023): migrate activation outliers into the weights, then absmax W/A quantization.

The smoothing is llm-compressor's `SmoothQuantModifier`: per input channel j, s_j = max|X_j|^alpha /
max|W_j|^(1-alpha) from the calibration activations; the preceding RMSNorm gain is divided by s and the
following q/k/v (and gate/up) weights multiplied by it, which leaves the FP model's function unchanged. The
quantization that follows is the same round-to-nearest as Absmax, so the two rows differ only by smoothing."""

from bitnet_repro.ptq.baselines import register
from bitnet_repro.ptq.baselines.absmax import Absmax
from bitnet_repro.ptq.quantize import ignore_patterns, oneshot, rtn_quantize

# llmcompressor is imported where used: heavy (seconds to import) and needed by few commands


@register
class SmoothQuant(Absmax):  # Absmax's bit widths, granularities and Table 3 rows, after smoothing
    name = "smoothquant"
    title = "SmoothQuant"
    reference = "Xiao et al. 2023 (smoothing strength alpha), then absmax W per channel, A per token"
    implementation = "llm-compressor SmoothQuantModifier + this suite's round-to-nearest"
    needs_calibration = True
    defaults = {"alpha": 0.5}

    def apply(self, model, calib, setting):
        from llmcompressor.modifiers.transform import SmoothQuantModifier

        alpha = float(setting.param("alpha"))
        oneshot(model, calib, [SmoothQuantModifier(smoothing_strength=alpha, ignore=ignore_patterns(setting))])
        rtn_quantize(model, setting)
        return model
