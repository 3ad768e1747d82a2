"""Absmax: symmetric round-to-nearest of weights and activations (Dettmers et al. 2022, the paper's Absmax).

Weights get one scale per output channel (the setting's granularity), activations one per token, computed on
the fly. At 1 bit the weights are binarized as BitNet b1 does: sign(W - mean W) scaled by mean|W| (per
channel here; the libraries' 1-bit grid {-1, 0} is not what the paper compares against)."""

from bitnet_repro.ptq.baselines import Baseline, register
from bitnet_repro.ptq.quantize import rtn_quantize


@register
class Absmax(Baseline):
    name = "absmax"
    title = "Absmax"
    reference = "Dettmers et al. 2022, absmax round-to-nearest (W per channel, A per token)"
    implementation = "this suite (bitnet_repro.ptq.quantize.FakeQuantLinear)"
    w_bits = (1, 2, 3, 4, 8)
    a_bits = (4, 8, 16)
    granularities = ("per_channel", "per_tensor", "per_group")
    table3 = ("W8A8", "W4A4", "W1A8")
    needs_calibration = False

    def apply(self, model, calib, setting):
        rtn_quantize(model, setting)
        return model
