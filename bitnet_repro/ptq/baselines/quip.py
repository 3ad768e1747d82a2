"""QuIP (Chee et al. 2023): make weights and Hessian incoherent with random orthogonal transforms, then round
with LDLQ, which the QuIP paper shows is equivalent to GPTQ's update (its Theorem 6).

llm-compressor's `QuIPModifier` with randomized Hadamard transforms (orthogonal U, V on both sides of every
Linear, online where they cannot be fused), followed by its GPTQ. Differences from the paper's QuIP, stated
in Table 3's caption: randomized Hadamard matrices (QuIP#'s incoherence processing) instead of Kronecker
products of random orthogonal matrices, and no QuIP diagonal rescaling. Not llm-compressor's
transform_type="random-matrix": that is a uniform random matrix (torch.rand), invertible but not orthogonal
and ill-conditioned, which ruins rounding (a one-off check on cpu-l, W2A16, the first 16K WikiText-2 tokens: PPL
5331 with it, 307 with randomized Hadamard, 308 for GPTQ alone; `--param transform=random-matrix` repeats it).
The rotations live in the in-memory model: a compressed save and reload drops them, so models are evaluated
without saving."""

from bitnet_repro.ptq.baselines import Baseline, register
from bitnet_repro.ptq.baselines.gptq import gptq_modifier
from bitnet_repro.ptq.quantize import ignore_patterns, oneshot

# llmcompressor is imported where used: heavy (seconds to import) and needed by few commands


@register
class QuIP(Baseline):
    name = "quip"
    title = "QuIP"
    reference = "Chee et al. 2023, random orthogonal incoherence + LDLQ (= GPTQ rounding)"
    implementation = "llm-compressor QuIPModifier (random-hadamard) + GPTQModifier"
    caveat = ("QuIP here: randomized Hadamard incoherence (as QuIP#) on both sides of every Linear, then GPTQ "
              "rounding (equivalent to QuIP's LDLQ); not QuIP's Kronecker-factored random orthogonal matrices, "
              "no diagonal rescaling")  # fmt: skip
    w_bits = (2, 3, 4)
    a_bits = (16,)
    granularities = ("per_channel", "per_group")
    table3 = ("W2A16",)
    defaults = {"transform": "random-hadamard", "damp": 0.01, "block_size": 128, "actorder": False}

    def apply(self, model, calib, setting):
        from llmcompressor.modifiers.transform import QuIPModifier

        quip = QuIPModifier(transform_type=setting.param("transform"), rotations=["v", "u"],
                            ignore=ignore_patterns(setting))  # fmt: skip
        oneshot(model, calib, [quip, gptq_modifier(setting)])
        return model
