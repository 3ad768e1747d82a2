"""Export subcommands: Hugging Face and GGUF files, packed low-bit artefacts.

Implementation modules are imported inside each command, so that a command loads only what it needs."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_export_hf(args: argparse.Namespace) -> None:
    """Write an FP16 checkpoint as a Hugging Face LlamaForCausalLM directory (with its tokenizer)."""
    from bitnet_repro.export.hf import export_hf_llama

    print(export_hf_llama(args.model, args.out, args.tokenizer))


def cmd_export_gguf(args: argparse.Namespace) -> None:
    """Write a checkpoint as a GGUF file for llama.cpp, and check llama.cpp's logits against ours."""
    from bitnet_repro.export.gguf import export_checkpoint

    r = export_checkpoint(args.model, args.out, args.type, args.tokenizer, check=not args.no_check)
    print(f"{args.out}: {r['bytes']:,} bytes ({args.type})")
    if "agreement" in r:
        print("llama.cpp vs ours: " + ", ".join(f"{k} {v:.3g}" for k, v in r["agreement"].items()))


def cmd_export_real(args: argparse.Namespace) -> None:
    """A real model's exports with their logit agreement: a BitNet b1.58 student as Hugging Face BitNet and GGUF
    TQ2_0, or a pretrained FP16 teacher as GGUF F16."""
    import json

    from bitnet_repro.export.real import export_real

    print(json.dumps(export_real(args.model, args.out), indent=2))


def cmd_pack(args: argparse.Namespace) -> None:
    """Pack a BitNet checkpoint into a versioned inference artefact (packed weights, scales, config)."""
    from bitnet_repro.export.packed import pack_checkpoint

    m = pack_checkpoint(Path(args.model), Path(args.out))
    print(f"{m['variant']} -> {args.out}: {m['bytes']['total']:,} bytes ({m['packing']})")


def register(add, command: str | None = None) -> None:
    """Add this area's subcommands (`add(name, fn, help)` returns the subparser)."""
    p = add("export-hf", cmd_export_hf, "write an FP16 checkpoint as a Hugging Face LlamaForCausalLM directory")
    p.add_argument("--model", required=True, help="checkpoint directory (FP16, arch llama)")
    p.add_argument("--tokenizer", help="SentencePiece model, if not found beside the checkpoint")
    p.add_argument("--out", required=True, help="output directory")
    p = add("export-gguf", cmd_export_gguf, "write an FP16 or BitNet b1.58 checkpoint as GGUF for llama.cpp")
    p.add_argument("--model", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="output .gguf file")
    p.add_argument(
        "--type",
        default="f16",
        choices=["f32", "f16", "tq2_0", "tq1_0"],
        help="weight type: f32/f16 (FP16 models; f32 also BitNet codes), tq2_0/tq1_0 (BitNet b1.58)",
    )
    p.add_argument("--tokenizer", help="SentencePiece model, if not found beside the checkpoint")
    p.add_argument("--no-check", action="store_true", help="skip the logit check through llama-cpp-python")
    p = add("export-real", cmd_export_real, "export a real model (BitDistill student or its pretrained teacher), "
            "with logit agreement")
    p.add_argument("--model", required=True, help="BitNet b1.58 checkpoint directory, or a pretrained name")
    p.add_argument("--out", required=True, help="output directory")
    p = add("pack", cmd_pack, "pack a BitNet b1.58 / b1 checkpoint into an inference artefact (2 / 1 bit weights)")
    p.add_argument("--model", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="artefact directory")
