"""Our models as GGUF files that llama.cpp runs, and the logit check that proves they are the same model.

FP16 (arch llama)       -> GGUF arch `llama`, weights F32 or F16. llama.cpp rotates adjacent pairs (rope
                           "norm") where we rotate halves, so q and k rows are permuted as in llama.cpp's
                           convert_hf_to_gguf.py; the product is unchanged.
BitNet b1.58 (subln)    -> GGUF arch `bitnet`, linear weights as their ternary codes {-1, 0, 1} in TQ2_0
                           (2.06 bits per weight), TQ1_0 (1.69) or F32, with beta beside each as the tensor's
                           `scale` (llama.cpp multiplies the matmul output by it). Norm layout: attn_norm,
                           attn_sub_norm, ffn_norm, ffn_sub_norm are our input_layernorm, attn_sub_norm,
                           post_attention_layernorm and ffn_sub_norm, one for one.

Two differences from our forward pass are llama.cpp's, not the file's, and the check measures both:
- llama.cpp's BitNet graph has no per-token absmax activation quantizer. With F32 codes it multiplies in
  float; with TQ2_0/TQ1_0 its CPU kernels quantize activations to 8 bits per block of 256 (Q8_K). So
  `reference_logits(..., act_quant=False)` is the exact oracle for F32 codes, and the model as trained
  (per-token 8-bit activations) is the close one for TQ2_0.
- llama.cpp's BitNet graph reads the output head from the token embeddings (a tied head). A checkpoint with
  its own lm_head cannot be written exactly, so `write_gguf` refuses it; the cost models tie it.

The vocabulary is the checkpoint's SentencePiece model (llama.cpp's `llama` tokenizer type) or, for models
that only measure cost, a synthetic one of the right size.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn

from bitnet_repro.bitlinear import AbsmaxQuant
from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.errors import ReproError
from bitnet_repro.eval.lm import find_tokenizer

# gguf and llama_cpp are imported where used: heavy (seconds to import) and needed by few commands

WEIGHT_TYPES = {"fp16": ("f32", "f16"), "bitnet_b158": ("tq2_0", "tq1_0", "f32")}
QK_K = 256  # TQ2_0 / TQ1_0 pack rows in blocks of 256 weights


class GGUFExportError(ReproError, ValueError):
    """A model or setting the GGUF export cannot write exactly; the message says what to do."""


def _permute_rope(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Half-split rotary rows -> llama.cpp's adjacent-pair layout (convert_hf_to_gguf.py's permute)."""
    out, inp = w.shape
    return w.reshape(n_heads, 2, out // n_heads // 2, inp).swapaxes(1, 2).reshape(out, inp)


def tied(model) -> bool:
    return model.lm_head.weight is model.embed_tokens.weight or torch.equal(
        model.lm_head.weight, model.embed_tokens.weight
    )


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: list[float]
    types: list[int]  # gguf.TokenType values
    unk: int = 0
    bos: int = 1
    eos: int = 2

    @classmethod
    def from_sentencepiece(cls, path: str | Path) -> Vocab:
        import gguf

        sp = spm.SentencePieceProcessor(model_file=str(path))
        types = []
        for i in range(sp.get_piece_size()):
            t = gguf.TokenType.NORMAL
            if sp.is_unknown(i):
                t = gguf.TokenType.UNKNOWN
            elif sp.is_control(i):
                t = gguf.TokenType.CONTROL
            elif sp.is_unused(i):
                t = gguf.TokenType.UNUSED
            elif sp.is_byte(i):
                t = gguf.TokenType.BYTE
            types.append(int(t))
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        return cls(pieces, [sp.get_score(i) for i in range(len(pieces))], types, sp.unk_id(), max(sp.bos_id(), 0),
                   sp.eos_id())  # fmt: skip

    @classmethod
    def synthetic(cls, size: int) -> Vocab:
        """<unk> <s> </s>, the 256 byte pieces, then placeholder pieces: a valid vocabulary of `size` entries
        for models that only measure cost (random weights)."""
        import gguf

        if size < 259 + 1:
            raise GGUFExportError(f"a synthetic vocabulary needs at least 260 entries, not {size}")
        pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
        n = size - len(pieces)
        pieces += [f"\u2581t{i}" for i in range(n)]
        types += [gguf.TokenType.NORMAL] * n
        return cls(pieces, [0.0] * 259 + [-float(i) for i in range(n)], [int(t) for t in types])


def _ternary(lin) -> tuple[np.ndarray, float]:
    """A b1.58 BitLinear's codes (float32 array holding -1, 0, 1) and beta, exactly as its forward uses them."""
    if lin.groups != 1:
        raise GGUFExportError("GGUF holds one weight scale per tensor; this model uses quant_groups > 1")
    codes, beta = lin.integer_weights()
    return codes.float().numpy(), float(beta)


def check_exportable(cfg, weight_type: str, pad: bool = False) -> None:
    allowed = WEIGHT_TYPES.get(cfg.linear)
    if allowed is None:
        raise GGUFExportError(
            f"GGUF export takes FP16 (arch llama) and BitNet b1.58 (arch subln) models, not {cfg.linear}: llama.cpp "
            "has no binary weight type for BitNet b1"
        )
    if weight_type not in allowed:
        raise GGUFExportError(f"{cfg.linear} models export as {', '.join(allowed)}, not {weight_type!r}")
    expected_arch = "llama" if cfg.linear == "fp16" else "subln"
    if cfg.arch != expected_arch:
        raise GGUFExportError(f"{cfg.linear} exports with arch {expected_arch} (llama.cpp's graph), not {cfg.arch}")
    if cfg.linear == "bitnet_b158" and (cfg.act_quantizer != "absmax" or cfg.quant_groups != 1):
        raise GGUFExportError("llama.cpp's BitNet graph holds absmax activations and one weight scale per tensor")
    if weight_type.startswith("tq") and not pad:
        bad = sorted({n for n in (cfg.d_model, cfg.d_ff) if n % QK_K})
        if bad:
            raise GGUFExportError(
                f"{weight_type.upper()} packs rows in blocks of {QK_K} weights; width(s) {bad} are not multiples of "
                f"{QK_K}. Pad them with zeros (--pad: the same model, wider), or export as f32"
            )


@dataclass(frozen=True)
class Padding:
    """Widths padded up to whole TQ blocks of 256, with zeros: the same model, computed by llama.cpp.

    A width that is not a multiple of 256 (SmolLM2-135M: d_model 576) cannot be packed as TQ2_0/TQ1_0. Padding
    the residual stream to `d_model` with zero channels, adding zero heads (query heads to `n_heads`, KV heads to
    `kv_heads`, keeping the query heads per KV head; SmolLM2: 576 -> 768, 9 -> 12 and 3 -> 4 heads of 64) and
    zero FFN channels to `d_ff` leaves every output the
    same: zero channels stay zero through every linear (their rows and columns are zero codes, each tensor's
    beta is the unpadded one), a zero head attends uniformly to zero values, and each RMSNorm over a padded
    width has its weight scaled by sqrt(width / padded width), which cancels the zeros in its mean square. Only
    the norms' epsilon is shared in GGUF: it is set for the residual-stream norms, so the FFN's SubLN sees
    epsilon x d_model / padded d_model (1e-5 against activations' mean squares of order 1e-2 and above)."""

    d_model: int
    d_ff: int
    n_heads: int
    kv_heads: int

    @classmethod
    def for_blocks(cls, cfg, block: int = QK_K) -> Padding:
        group = cfg.n_heads // cfg.kv_heads  # query heads per KV head
        if cfg.n_heads * cfg.head_dim != cfg.d_model:
            raise GGUFExportError(f"cannot pad: {cfg.n_heads} heads of {cfg.head_dim} are not d_model {cfg.d_model}")
        step = math.lcm(block, cfg.head_dim * group)  # whole blocks holding whole groups of heads
        d_model, d_ff = -(-cfg.d_model // step) * step, -(-cfg.d_ff // block) * block
        return cls(d_model, d_ff, d_model // cfg.head_dim, d_model // cfg.head_dim // group)

    @staticmethod
    def pad(a: np.ndarray, rows: int, cols: int | None = None) -> np.ndarray:
        out = np.zeros((rows, cols) if a.ndim == 2 else (rows,), dtype=a.dtype)
        out[tuple(slice(0, n) for n in a.shape)] = a
        return out


def write_gguf(model, path: str | Path, weight_type: str, vocab: Vocab, name: str = "bitnet-repro",
               pad: bool = False) -> Path:  # fmt: skip
    """Write `model` (our Transformer) to `path` as GGUF; see the module docstring for the mapping. `pad`: widths
    padded to whole TQ blocks (`Padding`), for a ternary model whose widths are not multiples of 256."""
    import gguf

    cfg = model.cfg
    check_exportable(cfg, weight_type, pad)
    if pad and cfg.linear != "bitnet_b158":
        raise GGUFExportError("padding to TQ blocks is for ternary models; FP16 models export at their own widths")
    P = Padding.for_blocks(cfg) if pad else Padding(cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.kv_heads)
    bitnet = cfg.linear == "bitnet_b158"
    if bitnet and not tied(model):
        raise GGUFExportError(
            "llama.cpp's BitNet graph computes logits with the token embeddings (a tied head); this model has its "
            "own lm_head, which GGUF's `bitnet` architecture cannot hold. Export a model with a tied head"
        )
    if len(vocab.pieces) != cfg.vocab_size:
        raise GGUFExportError(f"vocabulary has {len(vocab.pieces)} entries, the model {cfg.vocab_size}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arch = "bitnet" if bitnet else "llama"
    logging.getLogger("gguf").setLevel(logging.WARNING)  # its writer logs every file at INFO
    w = gguf.GGUFWriter(str(path.with_suffix(".tmp")), arch, use_temp_file=True)  # tensors spill to disk
    w.add_name(name)
    # the architecture's hyperparameters, GGUF key (GGUFWriter.add_<key>) <- our config field
    hparams = dict(context_length=cfg.max_seq_len, embedding_length=P.d_model, block_count=cfg.n_layers,
                   feed_forward_length=P.d_ff, head_count=P.n_heads, head_count_kv=P.kv_heads,
                   rope_dimension_count=cfg.head_dim, rope_freq_base=cfg.rope_theta,
                   layer_norm_rms_eps=cfg.norm_eps * cfg.d_model / P.d_model, vocab_size=cfg.vocab_size)  # fmt: skip
    for key, value in hparams.items():
        getattr(w, f"add_{key}")(value)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab.pieces)
    w.add_token_scores(vocab.scores)
    w.add_token_types(vocab.types)
    w.add_unk_token_id(vocab.unk)
    w.add_bos_token_id(vocab.bos)
    w.add_eos_token_id(vocab.eos)
    w.add_add_bos_token(False)  # our documents are trained as tokens + EOS, no BOS

    float_type = np.float16 if weight_type == "f16" else np.float32

    def f32(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().numpy()

    def norm(t: torch.Tensor, width: int) -> np.ndarray:  # an RMSNorm's weight over a (padded) width
        return Padding.pad(f32(t) * np.float32(np.sqrt(t.numel() / width)), width) if width != t.numel() else f32(t)

    def linear(gguf_name: str, lin, permute: bool = False, shape: tuple[int, int] | None = None) -> None:
        if bitnet:
            codes, beta = _ternary(lin)
            if shape and shape != codes.shape:
                codes = Padding.pad(codes, *shape)
            if weight_type == "f32":
                w.add_tensor(f"{gguf_name}.weight", codes)
            else:
                qtype = gguf.GGMLQuantizationType[weight_type.upper()]
                w.add_tensor(f"{gguf_name}.weight", gguf.quants.quantize(codes, qtype), raw_dtype=qtype)
            w.add_tensor(f"{gguf_name}.scale", np.array([beta], dtype=np.float32))
        else:
            t = lin.weight.detach().float()
            if permute:  # q has n_heads heads, k (grouped-query attention) kv_heads
                t = _permute_rope(t, cfg.n_heads if t.shape[0] == cfg.d_model else cfg.kv_heads)
            w.add_tensor(f"{gguf_name}.weight", t.numpy().astype(float_type))

    emb = Padding.pad(model.embed_tokens.weight.detach().float().numpy(), cfg.vocab_size, P.d_model)
    # embeddings stay in high precision (Sec. 2): as the weights for F32/F16 files, F16 beside ternary codes
    w.add_tensor("token_embd.weight", emb.astype(np.float16 if weight_type != "f32" else np.float32))
    w.add_tensor("output_norm.weight", norm(model.norm.weight, P.d_model))
    if not bitnet and not tied(model):
        w.add_tensor("output.weight", model.lm_head.weight.detach().float().numpy().astype(float_type))
    q, kv, hd = (P.n_heads * cfg.head_dim, P.d_model), (P.kv_heads * cfg.head_dim, P.d_model), cfg.head_dim
    for i, block in enumerate(model.layers):
        p, a, m = f"blk.{i}", block.self_attn, block.mlp
        w.add_tensor(f"{p}.attn_norm.weight", norm(block.input_layernorm.weight, P.d_model))
        w.add_tensor(f"{p}.ffn_norm.weight", norm(block.post_attention_layernorm.weight, P.d_model))
        if bitnet:
            w.add_tensor(f"{p}.attn_sub_norm.weight", norm(a.attn_sub_norm.weight, P.n_heads * hd))
            w.add_tensor(f"{p}.ffn_sub_norm.weight", norm(m.ffn_sub_norm.weight, P.d_ff))
        linear(f"{p}.attn_q", a.q_proj, permute=not bitnet, shape=q)
        linear(f"{p}.attn_k", a.k_proj, permute=not bitnet, shape=kv)
        linear(f"{p}.attn_v", a.v_proj, shape=kv)
        linear(f"{p}.attn_output", a.o_proj, shape=(P.d_model, P.n_heads * hd))
        linear(f"{p}.ffn_gate", m.gate_proj, shape=(P.d_ff, P.d_model))
        linear(f"{p}.ffn_up", m.up_proj, shape=(P.d_ff, P.d_model))
        linear(f"{p}.ffn_down", m.down_proj, shape=(P.d_model, P.d_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    path.with_suffix(".tmp").replace(path)
    return path


@contextlib.contextmanager
def no_act_quant(model):
    """Temporarily remove every activation quantizer: the oracle for llama.cpp's float BitNet graph."""

    saved = []
    for mod in model.modules():
        for name, child in list(mod.named_children()):
            if isinstance(child, AbsmaxQuant):
                saved.append((mod, name, child))
                setattr(mod, name, nn.Identity())
    try:
        yield model
    finally:
        for mod, name, child in saved:
            setattr(mod, name, child)


@torch.no_grad()
def reference_logits(model, ids: list[int], act_quant: bool = True) -> np.ndarray:
    model.eval()
    x = torch.tensor([ids])
    if act_quant:
        return model(x)[0][0].float().numpy()
    with no_act_quant(model):
        return model(x)[0][0].float().numpy()


class LlamaCpp:
    """A GGUF model loaded in llama.cpp (llama-cpp-python's low-level API): logits for every position."""

    def __init__(self, path: str | Path, n_ctx: int = 512, n_threads: int = 2, n_batch: int = 512,
                 kv_f32: bool = False, logits_all: bool = True) -> None:  # fmt: skip
        """`kv_f32`: keep the KV cache in F32 (llama.cpp's default is F16), for exact comparisons."""
        try:
            import llama_cpp
        except ImportError as e:  # pragma: no cover - installed with the suite
            raise RuntimeError("llama-cpp-python is not installed: pip install -e . (it builds llama.cpp)") from e
        kv = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} if kv_f32 else {}
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                   n_batch=n_batch, n_ubatch=n_batch, logits_all=logits_all, verbose=False,
                                   use_mmap=False, **kv)  # fmt: skip

    def close(self) -> None:
        self.llm.close()

    def __enter__(self) -> LlamaCpp:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def logits(self, ids: list[int]) -> np.ndarray:
        self.llm.reset()
        self.llm.eval(ids)
        return np.array(self.llm.scores[: len(ids)], dtype=np.float32)

    def time_decoding(self, prompt_ids: list[int], new_tokens: int) -> tuple[float, list[float]]:
        """Greedy decoding after a prefill of `prompt_ids`: the prefill's seconds and each output token's."""
        import time

        llm = self.llm
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt_ids)
        prefill_s = time.perf_counter() - t
        nxt, steps = int(np.argmax(llm.scores[llm.n_tokens - 1])), []
        for _ in range(new_tokens):
            t = time.perf_counter()
            llm.eval([nxt])
            steps.append(time.perf_counter() - t)
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        return prefill_s, steps


def agreement(ours: np.ndarray, theirs: np.ndarray) -> dict[str, float]:
    """How close two (T, V) logit arrays are: max |diff| over the logits' spread, top-1 agreement,
    correlation, and KL(ours || theirs) of the next-token distributions (nats, mean over positions)."""
    ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    spread = float(ours.max() - ours.min()) or 1.0
    lp = ours - np.logaddexp.reduce(ours, axis=-1, keepdims=True)
    lq = theirs - np.logaddexp.reduce(theirs, axis=-1, keepdims=True)
    kl = float((np.exp(lp) * (lp - lq)).sum(-1).mean())
    return {
        "max_abs_diff": float(np.abs(ours - theirs).max()),
        "max_rel_diff": float(np.abs(ours - theirs).max()) / spread,
        "top1_agreement": float((ours.argmax(-1) == theirs.argmax(-1)).mean()),
        "correlation": float(np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]),
        "kl_nats": kl,
    }


def export_checkpoint(model_dir: str | Path, out: str | Path, weight_type: str, tokenizer: str | Path | None = None,
                      check: bool = True, n_check: int = 64) -> dict:  # fmt: skip
    """A checkpoint directory of this suite -> a GGUF file with its SentencePiece vocabulary. With `check`,
    llama.cpp computes the logits of `n_check` tokens of the vocabulary's own text and they are compared with
    ours (the exact oracle for F32, the model as trained otherwise)."""

    model, cfg = load_model_dir(Path(model_dir))
    check_exportable(cfg.model, weight_type)
    vocab = Vocab.from_sentencepiece(tokenizer or find_tokenizer(Path(model_dir), cfg))
    path = write_gguf(model, out, weight_type, vocab, name=Path(model_dir).parent.name)
    result: dict = {"bytes": path.stat().st_size}
    if check:
        ids = torch.randint(3, cfg.model.vocab_size, (min(n_check, cfg.model.max_seq_len),),
                            generator=torch.Generator().manual_seed(0)).tolist()  # fmt: skip
        with LlamaCpp(path, n_ctx=cfg.model.max_seq_len, kv_f32=True) as lc:
            theirs = lc.logits(ids)
        exact = weight_type == "f32"
        result["agreement"] = agreement(reference_logits(model, ids, act_quant=not exact), theirs)
    return result
