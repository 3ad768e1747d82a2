"""Post-training quantization of FP16 models: the methods (`baselines/`, one file each, registered by name),
what they share (`quantize`: quantizers, the fake-quantized Linear, llm-compressor's oneshot), one run of one
method on one model (`run`), and the independent GPTQ reference the tests check llm-compressor's against
(`gptq_ref`)."""
