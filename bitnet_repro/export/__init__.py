"""Exports to the ecosystem's formats, each proven by logit parity: `transformers` Llama and BitNet (`hf`),
GGUF for llama.cpp (`gguf`), and the suite's packed low-bit artefacts (`packed`)."""
