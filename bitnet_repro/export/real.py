"""A real model's exports, each proven by logit agreement with our forward pass: a BitNet b1.58 checkpoint trained
from a pretrained model (BitDistill's students of SmolLM2) as `transformers` BitNetForCausalLM (saved and
reloaded through `from_pretrained`) and as GGUF TQ2_0 run by llama.cpp; the pretrained FP16 teacher as an F16
GGUF, the baseline of the cost comparison (`cost.real`).

SmolLM2-135M's widths (d_model 576) are not whole TQ blocks of 256, so the ternary GGUF is padded with zeros to
768 (`gguf.Padding`: the same model, computed exactly as the F32 padded file shows). Its vocabulary is
placeholder pieces (token ids only): llama.cpp runs it on token ids, SmolLM2's byte-level BPE tokenizer is not
written into GGUF here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.export.gguf import QK_K, LlamaCpp, Vocab, agreement, reference_logits, write_gguf
from bitnet_repro.pretrained import PRETRAINED, load_pretrained
from bitnet_repro.utils import atomic_write_text

N_CHECK = 64  # tokens whose logits every export must reproduce


def _check_ids(vocab_size: int, n: int) -> list[int]:
    return torch.randint(3, vocab_size, (n,), generator=torch.Generator().manual_seed(0)).tolist()


def _gguf_agreement(model, path: Path, weight_type: str, ids: list[int], pad: bool, reference: np.ndarray) -> dict:
    write_gguf(model, path, weight_type, Vocab.synthetic(model.cfg.vocab_size), name=path.stem, pad=pad)
    with LlamaCpp(path, n_ctx=max(len(ids), 128), kv_f32=True) as lc:
        theirs = lc.logits(ids)
    return {"file": path.name, "bytes": path.stat().st_size, "weight_type": weight_type, "padded": pad,
            "agreement": agreement(reference, theirs)}  # fmt: skip


def export_student(model_dir: Path, out: Path, n_check: int = N_CHECK, keep_f32: bool = False) -> dict[str, Any]:
    """A BitNet b1.58 checkpoint -> out/hf (BitNetForCausalLM), out/bitnet_b158-tq2_0.gguf, with agreements.

    Oracles: Hugging Face's BitNet computes our model as trained (per-token int8 activations): after the round
    trip through disk its first block's outputs equal ours to float rounding (`first_block_equal_fraction`: all
    of them, or all but those behind an 8-bit activation code that float rounding sent the other way); over many
    blocks such flips compound, so the logits of a deep model are close, not equal. The F32-codes GGUF (padded
    as the TQ2_0 one) must equal our graph without activation quantization (llama.cpp's BitNet graph has none),
    which proves the padding; the TQ2_0 file must be close to the model as trained (llama.cpp quantizes
    activations per block of 256)."""
    from transformers import AutoModelForCausalLM

    from bitnet_repro.export.hf import to_hf_bitnet

    model, cfg = load_model_dir(model_dir)
    model.eval()
    ids = _check_ids(cfg.model.vocab_size, min(n_check, cfg.model.max_seq_len))
    trained, no_act = reference_logits(model, ids), reference_logits(model, ids, act_quant=False)
    out.mkdir(parents=True, exist_ok=True)
    to_hf_bitnet(model).save_pretrained(out / "hf")
    reloaded = AutoModelForCausalLM.from_pretrained(out / "hf", dtype=torch.float32).eval()
    with torch.no_grad():
        x = torch.tensor([ids])
        hf_logits = reloaded(x).logits[0].float().numpy()
        # one block, where float rounding cannot yet flip an 8-bit activation code of a later block
        pe = reloaded.model.rotary_emb(reloaded.model.embed_tokens(x), torch.arange(len(ids))[None])
        ours_h = model.layers[0](model.embed_tokens(x), model.rope_cos[: len(ids)], model.rope_sin[: len(ids)])
        theirs_h = reloaded.model.layers[0](reloaded.model.embed_tokens(x), position_embeddings=pe, attention_mask=None)
        theirs_h = theirs_h[0] if isinstance(theirs_h, tuple) else theirs_h
        equal = (ours_h - theirs_h).abs() <= 1e-5 * ours_h.abs().max()  # float32 rounding of the block's output
        first_block = float(equal.double().mean())
    pad = bool(cfg.model.d_model % QK_K or cfg.model.d_ff % QK_K)
    f32 = _gguf_agreement(model, out / "bitnet_b158-f32.gguf", "f32", ids, pad, no_act)
    if not keep_f32:
        (out / "bitnet_b158-f32.gguf").unlink()
    result = {
        "model": str(model_dir), "run_id": cfg.run_id, "variant": cfg.variant, "check_tokens": len(ids),
        "teacher": cfg.distill.teacher if cfg.distill else None,
        "hf": {"class": type(reloaded).__name__, "dir": "hf", "agreement": agreement(trained, hf_logits),
               "first_block_equal_fraction": first_block},
        "gguf_f32_codes": {**f32, "oracle": "our graph without activation quantization"},
        "gguf": {**_gguf_agreement(model, out / "bitnet_b158-tq2_0.gguf", "tq2_0", ids, pad, trained),
                 "oracle": "the model as trained"},
    }  # fmt: skip
    atomic_write_text(out / "exports.json", json.dumps(result, indent=2) + "\n")
    np.savez(out / "reference.npz", ids=np.array(ids), logits=trained)
    return result


def export_teacher(name: str, out: Path, n_check: int = N_CHECK) -> dict[str, Any]:
    """A registered pretrained model -> out/fp16.gguf (F16, arch llama), close to its own logits."""
    from bitnet_repro.export.hf import from_hf_llama

    hf, _ = load_pretrained(name)
    model = from_hf_llama(hf).eval()
    ids = _check_ids(model.cfg.vocab_size, n_check)
    reference = reference_logits(model, ids)
    out.mkdir(parents=True, exist_ok=True)
    result = {"model": name, "variant": "fp16", "source": PRETRAINED[name][1], "check_tokens": len(ids),
              "gguf": {**_gguf_agreement(model, out / "fp16.gguf", "f16", ids, False, reference),
                       "oracle": "the pretrained model (transformers), converted exactly"}}  # fmt: skip
    atomic_write_text(out / "exports.json", json.dumps(result, indent=2) + "\n")
    np.savez(out / "reference.npz", ids=np.array(ids), logits=reference)
    return result


def export_real(model: str, out: str | Path) -> dict[str, Any]:
    """`model`: a registered pretrained name (the FP16 teacher) or a BitNet b1.58 checkpoint directory."""
    return export_teacher(model, Path(out)) if model in PRETRAINED else export_student(Path(model), Path(out))
