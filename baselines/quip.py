"""QuIP (Chee et al. 2023): make weights and Hessian incoherent with random orthogonal transforms, then round
with LDLQ, which the QuIP paper shows is equivalent to GPTQ's update (its Theorem 6).

llm-compressor's `QuIPModifier` with transform_type="random-matrix" (random orthogonal U, V on both sides of
every Linear, online where they cannot be fused), followed by its GPTQ. Differences from the paper's QuIP,
stated in Table 3's caption: no Kronecker-factored transforms and no QuIP weight rescaling/diagonal
pre-processing. The rotations live in the in-memory model: a compressed save and reload drops them, so
models are evaluated without saving."""

from baselines import Baseline, register
from baselines.gptq import gptq_modifier
from bitnet_repro.ptq import ignore_patterns, oneshot


@register
class QuIP(Baseline):
    name = "quip"
    title = "QuIP"
    reference = "Chee et al. 2023, random orthogonal incoherence + LDLQ (= GPTQ rounding)"
    implementation = "llm-compressor QuIPModifier (random-matrix) + GPTQModifier"
    caveat = ("QuIP here: llm-compressor's random orthogonal U/V rotations + GPTQ rounding; no Kronecker "
              "factorization or QuIP's diagonal rescaling")  # fmt: skip
    w_bits = (2, 3, 4)
    a_bits = (16,)
    granularities = ("per_channel", "per_group")
    table3 = ("W2A16",)
    defaults = {"transform": "random-matrix", "damp": 0.01, "block_size": 128, "actorder": False}

    def apply(self, model, calib, setting):
        from llmcompressor.modifiers.transform import QuIPModifier

        quip = QuIPModifier(transform_type=setting.param("transform"), rotations=["v", "u"],
                            ignore=ignore_patterns(setting))  # fmt: skip
        oneshot(model, calib, [quip, gptq_modifier(setting)])
        return model
