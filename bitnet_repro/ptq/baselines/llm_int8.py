"""LLM.int8() (Dettmers et al. 2022) through bitsandbytes: int8 weights per output channel, int8 activations
per token, with the input features whose magnitude exceeds `threshold` kept in FP16 (mixed-precision
decomposition). An extra 8-bit reference beside Absmax and SmoothQuant; not in the paper's Table 3.

bitsandbytes runs the int8 path only in eval() mode (in train mode it silently falls back to weight-only), so
the model is returned in eval mode and `run_ptq` keeps it there."""

import torch.nn as nn

from bitnet_repro.ptq.baselines import Baseline, register
from bitnet_repro.ptq.quantize import replace_linears

# bitsandbytes is imported where used: heavy (seconds to import) and needed by few commands


def int8_linear(linear: nn.Linear, threshold: float) -> nn.Module:
    import bitsandbytes as bnb

    q = bnb.nn.Linear8bitLt(linear.in_features, linear.out_features, bias=linear.bias is not None,
                            has_fp16_weights=False, threshold=threshold)  # fmt: skip
    q.load_state_dict(linear.state_dict())
    return q.to(linear.weight.device).eval()  # the move quantizes the weights to int8


@register
class LLMInt8(Baseline):
    name = "llm_int8"
    title = "LLM.int8()"
    reference = "Dettmers et al. 2022, int8 with FP16 outlier features (threshold 6)"
    implementation = "bitsandbytes Linear8bitLt"
    w_bits = (8,)
    a_bits = (8,)
    granularities = ("per_channel",)
    table3 = ("W8A8",)
    needs_calibration = False
    defaults = {"threshold": 6.0}

    def apply(self, model, calib, setting):
        threshold = float(setting.param("threshold"))
        replace_linears(model, setting, lambda _, lin: int8_linear(lin, threshold))
        return model.eval()
