"""Post-training-quantization baselines (Absmax, SmoothQuant, GPTQ, QuIP, LLM.int8): one file per method,
each self-registering under a name. Empty until the PTQ baselines land."""
