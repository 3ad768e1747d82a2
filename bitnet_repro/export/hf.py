"""Exact converters between our checkpoints and the ecosystem's formats.

`export_hf_llama` writes a complete Hugging Face model directory (weights, config, tokenizer.json) that
lm-eval's stock `hf` model type and the PTQ libraries load as is; tests/test_eval.py shows both model types
give the same scores.

FP16 (arch llama)      -> transformers.LlamaForCausalLM (PTQ libraries, lm-eval's `hf` model type)
BitNet b1.58 (subln)   -> transformers.BitNetForCausalLM with `AutoBitLinear` in online mode (latent weights,
                          quantized on the fly as in training), the layout of Hugging Face's BitNet
transformers.LlamaForCausalLM -> ours (`from_hf_llama`): a pretrained model (SmolLM2) as an FP16 model, or as
                          the start of a BitNet b1.58 student (SubLN inserted, unit weights), grouped-query
                          attention and a tied head kept
Module names are the same on both sides, so the state dict is copied as is; parity is tested on logits.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.config import ModelConfig
from bitnet_repro.errors import ReproError
from bitnet_repro.eval.lm import find_tokenizer
from bitnet_repro.model import Transformer, load_full_precision

# tokenizers and transformers are imported where used: heavy (seconds to import) and needed by few commands


def _common(cfg) -> dict:
    return dict(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=cfg.max_seq_len, rms_norm_eps=cfg.norm_eps, hidden_act="silu",
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta}, tie_word_embeddings=cfg.tie_embeddings,
        attention_bias=False, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip


def _state(model: Transformer) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in model.state_dict().items():
        out[k if k == "lm_head.weight" else f"model.{k}"] = v
    return out


def to_hf_llama(model: Transformer):
    """An FP16 (arch llama) model as a `transformers.LlamaForCausalLM` with identical weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = model.cfg
    if cfg.linear != "fp16":
        raise ValueError(f"to_hf_llama converts FP16 models; this one is {cfg.linear} (use to_hf_bitnet)")
    hf = LlamaForCausalLM(LlamaConfig(**_common(cfg), mlp_bias=False))
    hf.load_state_dict(_state(model), strict=True)
    return hf.eval()


def to_hf_bitnet(model: Transformer):
    """A BitNet b1.58 (arch subln) model as a `transformers.BitNetForCausalLM` whose linear layers are
    `AutoBitLinear(online_quant=True)`: absmean ternary weights and per-token int8 activations, computed from
    the latent weights exactly as our BitLinear does."""
    from transformers import BitNetConfig, BitNetForCausalLM
    from transformers.integrations.bitnet import replace_with_bitnet_linear
    from transformers.utils.quantization_config import BitNetQuantConfig

    cfg = model.cfg
    if cfg.linear != "bitnet_b158" or cfg.arch != "subln" or cfg.act_quantizer != "absmax" or cfg.quant_groups != 1:
        raise ValueError("Hugging Face's BitNet layout holds BitNet b1.58 with arch subln, absmax, one group")
    if cfg.eps_mode != "clamp" or cfg.quant_eps != 1e-5:
        raise ValueError("Hugging Face's BitNet clamps the scales at 1e-5 (eps_mode clamp, quant_eps 1e-5)")
    qcfg = BitNetQuantConfig(
        linear_class="autobitlinear", quantization_mode="online", modules_to_not_convert=["lm_head"]
    )
    hf = BitNetForCausalLM(BitNetConfig(**_common(cfg)))
    replace_with_bitnet_linear(hf, modules_to_not_convert=["lm_head"], quantization_config=qcfg)
    hf.to_empty(device="cpu")
    hf.load_state_dict(_state(model), strict=True)
    hf.model.rotary_emb.__init__(hf.config)  # its inv_freq buffer was emptied by to_empty
    hf.config.quantization_config = qcfg  # so that save_pretrained -> from_pretrained rebuilds AutoBitLinear
    return hf.eval()


def hf_tokenizer(sp_model: str | Path):
    """Our SentencePiece model as a `transformers` fast tokenizer that tokenizes identically.

    SentencePiece always adds its dummy prefix, also before a leading space; `transformers`' Llama tokenizer
    (Metaspace, prepend "first") does not, so the conversion keeps the SentencePiece vocabulary and merges and
    uses the equivalent normalizer (prepend "▁", spaces to "▁"). No BOS is declared or added: documents were
    trained as `tokens + EOS`, so lm-eval's `hf` type then uses EOS as the prefix of an empty context, as our
    model type does."""
    from tokenizers import normalizers
    from transformers import LlamaTokenizer, PreTrainedTokenizerFast
    from transformers.tokenization_utils_sentencepiece import SentencePieceExtractor

    vocab, _, merges = SentencePieceExtractor(str(sp_model)).extract()
    backend = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=False, add_eos_token=False)._tokenizer
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = None
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="<unk>", bos_token=None)


def export_hf_llama(model_dir: str | Path, out_dir: str | Path, tokenizer: str | Path | None = None) -> Path:
    """An FP16 checkpoint directory of this suite -> a Hugging Face `LlamaForCausalLM` directory."""

    model, cfg = load_model_dir(Path(model_dir))
    hf = to_hf_llama(model)
    hf.config.bos_token_id = None  # no BOS in training (see hf_tokenizer)
    out_dir = Path(out_dir)
    hf.save_pretrained(out_dir)
    hf_tokenizer(tokenizer or find_tokenizer(Path(model_dir), cfg)).save_pretrained(out_dir)
    return out_dir


class ConversionError(ReproError, ValueError):
    """A `transformers` model this converter cannot hold exactly."""


def from_hf_llama(hf, linear: str = "fp16", arch: str | None = None) -> Transformer:
    """A `transformers` Llama model (e.g. SmolLM2) as our model with the same weights.

    linear="fp16" (arch llama) computes exactly what `hf` computes. linear="bitnet_b158" gives BitDistill's
    starting student: every block linear a BitLinear holding the teacher's weights as its latent weights, and
    with arch "subln" (the default) SubLN's two extra norms inserted with unit weights; embeddings, norms and
    head copied. With quantization off (`bitlinear.set_quantization(model, 0)`) and arch "preln" it computes
    what `hf` computes."""
    c = hf.config
    if c.model_type != "llama":
        raise ConversionError(f"from_hf_llama converts Llama models; this teacher is a {c.model_type!r} model")
    rope = getattr(c, "rope_parameters", None) or {"rope_type": "default", "rope_theta": c.rope_theta}
    if rope.get("rope_type", "default") != "default" or c.hidden_act != "silu" or c.attention_bias or c.mlp_bias:
        raise ConversionError(
            f"only plain Llama blocks convert exactly (default RoPE, SiLU, no biases); got rope {rope}, "
            f"act {c.hidden_act}, attention_bias {c.attention_bias}, mlp_bias {c.mlp_bias}"
        )
    cfg = ModelConfig(
        vocab_size=c.vocab_size, d_model=c.hidden_size, n_layers=c.num_hidden_layers, n_heads=c.num_attention_heads,
        d_ff=c.intermediate_size, max_seq_len=c.max_position_embeddings, linear=linear,
        arch="llama" if linear == "fp16" else (arch or "subln"), norm_eps=c.rms_norm_eps,
        rope_theta=float(rope["rope_theta"]), init_std=c.initializer_range,
        n_kv_heads=None if c.num_key_value_heads == c.num_attention_heads else c.num_key_value_heads,
        tie_embeddings=bool(c.tie_word_embeddings),
    )  # fmt: skip
    model = Transformer(cfg)
    state = {k.removeprefix("model."): v for k, v in hf.state_dict().items() if "rotary_emb" not in k}
    if unmapped := load_full_precision(model, state):
        raise ConversionError(f"weights that do not map: {unmapped}")
    return model.eval()
