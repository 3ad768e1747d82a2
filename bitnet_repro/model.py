"""The model family: a LLaMA-alike decoder (Sec. 4.1: RMSNorm, SwiGLU, rotary embeddings, no biases) whose
linear layers are nn.Linear (the FP16 baseline), or BitLinear with binary (BitNet b1) or ternary
(BitNet b1.58) weights. Embeddings and the output head stay in high precision (Sec. 2).

Module names follow Hugging Face's LlamaForCausalLM / BitNetForCausalLM, so conversion is a rename-free copy.

Norm layouts (`ModelConfig.arch`), per block, with N = RMSNorm and Q = activation quantizer:

    llama   h = x + o(attn(q,k,v(N x)))                  ; x = h + down(silu(gate(N h)) * up(N h))
    subln   h = x + o(Q N_sub attn(q,k,v(Q N x)))        ; x = h + down(Q N_sub(silu(gate(Q N h)) * up(Q N h)))
    preln   subln without N_sub                          (Table 9, "Pre-LN")
    bmt     preln + N after q, k, v (per head), N(o(.)) + local shortcut, N before down, N after down
            (BMT, Zhang et al. 2023, Fig. 1; RMSNorm in place of its LayerNorm)

Appendix D puts an RMSNorm inside every BitLinear and removes the block's pre-norms. q/k/v read the same
input, and so do gate/up, so with their norm gains shared that is exactly `subln`: one pre-norm in front of
q/k/v and one in front of gate/up (HF's input_layernorm and post_attention_layernorm), and the BitLinears of
o_proj and down_proj normalise their own inputs (HF's attn_sub_norm and ffn_sub_norm, llama.cpp's
attn_sub_norm / ffn_sub_norm). tests/test_model.py proves the equivalence against Appendix D's module.
The shared norm is followed by one shared activation quantizer, since its input is shared too.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from bitnet_repro.bitlinear import AbsmaxQuant, BitLinear, ElasticQuant, RMSNorm, kv_fake_quant
from bitnet_repro.config import ModelConfig

SUBLN_NORMS = ("attn_sub_norm.weight", "ffn_sub_norm.weight")  # what a llama-layout model lacks


def load_full_precision(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load a llama-layout model's weights (a teacher, or a converted `transformers` model) into `model` of the
    same shape; SubLN's norms, which such a model lacks, keep their unit init. Returns the keys that did not
    map either way (empty when everything did)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    return sorted(k for k in missing if not k.endswith(SUBLN_NORMS)) + sorted(unexpected)


def make_linear(cfg: ModelConfig, in_features: int, out_features: int) -> nn.Linear:
    if cfg.linear == "fp16":
        return nn.Linear(in_features, out_features, bias=False)
    return BitLinear(
        in_features, out_features, bias=False, norm=None, act_quant=None,
        variant=cfg.linear,
        eps=cfg.quant_eps, eps_mode=cfg.eps_mode, groups=cfg.quant_groups,
    )  # fmt: skip


def make_act_quant(cfg: ModelConfig, dim: int, after_nonlinearity: bool = False) -> nn.Module:
    """The activation quantizer in front of a group of BitLinears (Identity for FP16)."""
    if not cfg.is_bitnet:
        return nn.Identity()
    sec3 = cfg.linear == "bitnet_b1" and cfg.b1_act_recipe == "sec3"
    unsigned = sec3 and after_nonlinearity  # Sec. 3.1.1: unsigned absmax after the non-linear activation
    if cfg.act_quantizer == "elastic":
        return ElasticQuant(dim, bits=cfg.act_bits, unsigned=unsigned)
    return AbsmaxQuant(
        bits=cfg.act_bits,
        per_train="tensor" if sec3 else "token",  # Sec. 3.1.1 (b1): per tensor in training ...
        per_eval="token",  # ... and per token at inference; b1.58 is per token throughout (Sec. 4.1)
        unsigned=unsigned, eps=cfg.quant_eps, eps_mode=cfg.eps_mode, groups=cfg.quant_groups,
    )  # fmt: skip


def rotary_cos_sin(cfg: ModelConfig, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary embeddings (Su et al. 2024) in LLaMA's half-split layout; (T, head_dim) each, float32."""
    dim = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim))
    freqs = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, self.n_heads, self.head_dim, self.arch = cfg.d_model, cfg.n_heads, cfg.head_dim, cfg.arch
        self.n_kv_heads = cfg.kv_heads
        kv = self.n_kv_heads * self.head_dim
        self.q_proj, self.k_proj = make_linear(cfg, d, d), make_linear(cfg, d, kv)
        self.v_proj, self.o_proj = make_linear(cfg, d, kv), make_linear(cfg, d, d)
        if cfg.arch == "subln":
            self.attn_sub_norm = RMSNorm(d, cfg.norm_eps, cfg.quant_groups)
        if cfg.arch == "bmt":
            self.q_norm, self.k_norm, self.v_norm = (RMSNorm(cfg.head_dim, cfg.norm_eps) for _ in range(3))
            self.o_norm = RMSNorm(d, cfg.norm_eps)
        self.o_quant = make_act_quant(cfg, d)
        self.gqa = self.n_kv_heads != self.n_heads  # grouped-query attention (converted SmolLM2)
        self.kv_bits: int | None = None  # inference only (set_kv_bits): K and V quantized per head (Sec. 4.2)

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, kv=None) -> torch.Tensor:
        """h (B, T, C). With `kv` (an infer.LayerCache), K and V are appended to it and the queries attend to
        everything cached: a prefill (empty cache, causal) or single-token decode steps."""
        B, T, C = h.shape
        q = self.q_proj(h).view(B, T, self.n_heads, self.head_dim)
        k, v = (p(h).view(B, T, self.n_kv_heads, self.head_dim) for p in (self.k_proj, self.v_proj))
        if self.arch == "bmt":
            q, k, v = self.q_norm(q), self.k_norm(k), self.v_norm(v)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if kv is not None:
            causal = kv.length == 0
            if not causal and T != 1:
                raise ValueError("a KV-cached forward is a prefill (empty cache) or one token at a time")
            k, v = kv.append(k, v, self.kv_bits)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=self.gqa)
        else:
            if self.kv_bits:
                k, v = kv_fake_quant(k, self.kv_bits), kv_fake_quant(v, self.kv_bits)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.gqa)
        a = a.transpose(1, 2).reshape(B, T, C)
        if self.arch == "subln":
            a = self.attn_sub_norm(a)
        out = self.o_proj(self.o_quant(a))
        if self.arch == "bmt":
            out = self.o_norm(out) + a  # BMT: "a layernorm followed by a local shortcut"
        return out


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, f, self.arch = cfg.d_model, cfg.d_ff, cfg.arch
        self.gate_proj, self.up_proj = make_linear(cfg, d, f), make_linear(cfg, d, f)
        self.down_proj = make_linear(cfg, f, d)
        if cfg.arch in ("subln", "bmt"):  # SubLN's norm before down_proj; BMT normalises the same input
            self.ffn_sub_norm = RMSNorm(f, cfg.norm_eps, cfg.quant_groups)
        if cfg.arch == "bmt":
            self.down_norm = RMSNorm(d, cfg.norm_eps)
        self.down_quant = make_act_quant(cfg, f, after_nonlinearity=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = F.silu(self.gate_proj(h)) * self.up_proj(h)
        if self.arch in ("subln", "bmt"):
            z = self.ffn_sub_norm(z)
        out = self.down_proj(self.down_quant(z))
        return self.down_norm(out) if self.arch == "bmt" else out


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        groups = cfg.quant_groups if cfg.arch == "subln" else 1
        self.input_layernorm = RMSNorm(d, cfg.norm_eps, groups)
        self.attn_quant = make_act_quant(cfg, d)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(d, cfg.norm_eps, groups)
        self.mlp_quant = make_act_quant(cfg, d)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, kv=None) -> torch.Tensor:
        x = x + self.self_attn(self.attn_quant(self.input_layernorm(x)), cos, sin, kv)
        return x + self.mlp(self.mlp_quant(self.post_attention_layernorm(x)))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)  # high precision (Sec. 2)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)  # high precision (Sec. 2)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        cos, sin = rotary_cos_sin(cfg, cfg.max_seq_len, torch.device("cpu"))
        self.register_buffer("rope_cos", cos, persistent=False)  # (max_seq_len, head_dim)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=self.cfg.init_std)

    def extend_context(self, max_seq_len: int) -> None:
        """Rotary tables for `max_seq_len` positions (evaluation beyond the training length, e.g. a student
        trained on short sequences from a teacher that saw long ones); the weights are unchanged."""
        if max_seq_len <= self.cfg.max_seq_len:
            return
        self.cfg = dataclasses.replace(self.cfg, max_seq_len=max_seq_len)
        cos, sin = rotary_cos_sin(self.cfg, max_seq_len, self.rope_cos.device)
        self.rope_cos, self.rope_sin = cos, sin

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache=None, skip_blocks: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> logits (B, T, vocab) and, given targets, the mean cross-entropy. With `cache`
        (an infer.KVCache) the tokens continue the cached ones (KV-cached decoding). `skip_blocks` is a
        diagnostic: embeddings -> final norm -> head, every block skipped."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {start + T} tokens is longer than model.max_seq_len={self.cfg.max_seq_len}")
        cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
        x = self.embed_tokens(idx)  # (B, T, C)
        for i, block in enumerate([] if skip_blocks else self.layers):
            x = block(x, cos, sin, cache.layers[i] if cache is not None else None)
        logits = self.lm_head(self.norm(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def count_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())  # a tied head is counted once
        if non_embedding:
            n -= self.embed_tokens.weight.numel() + (0 if self.cfg.tie_embeddings else self.lm_head.weight.numel())
        return n
