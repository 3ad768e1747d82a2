"""The BitDistill table: the real pretrained model (SmolLM2-135M) turned into BitNet b1.58 students, BitDistill
against ternary QAT without distillation at the same tokens, each read against the teacher on the same
validation windows."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from bitnet_repro.paper.writer import (
    VAL_NAMES,
    Table,
    count_floor,
    floor_label,
    table_arguments,
    write_table,
)

COMMAND, HELP = "bitdistill-table", "BitDistill and QAT students of a pretrained model against their teacher"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "summaries", "summary.json of each bitdistill-<arm> run",
                    ngram="ngram.json of the profile: the Kneser-Ney trigram's bits per byte as the floor")
    p.add_argument("--configs", nargs="+", type=Path, required=True, help="config.json of the same runs")
    p.add_argument("--exports", nargs="*", type=Path, default=[],
                   help="exports.json of export-real (the teacher and each student)")
    p.add_argument("--cost", nargs="*", type=Path, default=[], help="cost-gguf's JSON (the teacher and its students)")


def export_table(exports: list[Path], cost: dict | None) -> tuple[list, list[dict]]:
    """The real model's exports and llama.cpp cost on this CPU: FP16 teacher (F16) against each student (TQ2_0,
    padded to whole blocks), with the logit agreement each export was checked by."""
    cost = {m["model"]: m for m in (cost or {}).get("models", [])}
    table = Table(["model", "export", "logit agreement with our model", "file (MB)", "resident (MB)",
                   "ms / output token (rounds)", "speed-up vs FP16 (rounds)", "prefill (s)"], "lllrrrrr")  # fmt: skip
    rows = []
    for path in exports:
        e = json.loads(path.read_text())
        c = cost.get(e["model"], {})
        name = e["model"] if e["variant"] == "fp16" else Path(e["model"]).parent.name

        def agree(a):
            return f"corr {a['correlation']:.5f}, top-1 {100 * a['top1_agreement']:.0f}%, KL {a['kl_nats']:.1e}"

        g = e["gguf"]
        kind = "GGUF F16 (llama)" if e["variant"] == "fp16" else (
            f"GGUF TQ2_0 (bitnet{', padded to 768' if g['padded'] else ''})")  # fmt: skip
        timing = [f"{c['resident_bytes'] / 1e6:.0f}",
                  f"{c['ms_per_token']:.1f} ({', '.join(f'{x:.1f}' for x in c['rounds_ms_per_token'])})",
                  f"x{c['speedup_vs_first']:.2f} ({', '.join(f'{x:.2f}' for x in c['speedup_vs_first_by_round'])})",
                  f"{c['prefill_s']:.2f}"] if c else ["-"] * 4  # fmt: skip
        table.add(name, kind, agree(g["agreement"]) + f" (vs {g['oracle']})", f"{g['bytes'] / 1e6:.0f}", *timing)
        if "hf" in e:
            table.add(name, "transformers BitNetForCausalLM (saved, reloaded)",
                      agree(e["hf"]["agreement"]) + f"; first block: {100 * e['hf']['first_block_equal_fraction']:.3f}%"
                      " of outputs equal to float rounding",
                      "", "", "", "", "")  # fmt: skip
            f = e["gguf_f32_codes"]
            table.add(name, "GGUF F32 codes, padded as above (the padding's check)",
                      f"{agree(f['agreement'])}, max rel diff {f['agreement']['max_rel_diff']:.1e} (vs {f['oracle']})",
                      "", "", "", "", "")  # fmt: skip
        rows.append({"model": name, "variant": e["variant"], "gguf_bytes": g["bytes"], "gguf_padded": g["padded"],
                     "gguf_correlation": g["agreement"]["correlation"], "gguf_kl": g["agreement"]["kl_nats"],
                     "hf_correlation": e.get("hf", {}).get("agreement", {}).get("correlation"),
                     "hf_first_block_equal_fraction": e.get("hf", {}).get("first_block_equal_fraction"),
                     **{k: c.get(k) for k in ("resident_bytes", "ms_per_token", "tokens_per_s", "speedup_vs_first",
                                              "prefill_s", "threads", "cpu")}})  # fmt: skip
    return table, rows


def run(summaries: list[Path], configs: list[Path], out_csv: Path, out_md: Path, profile: str,
        ngram: dict | None = None, exports: list[Path] = (), cost: list[Path] = ()) -> list[dict]:  # fmt: skip
    runs = [(json.loads(s.read_text()), json.loads(c.read_text())) for s, c in zip(summaries, configs)]
    sets = [n for n, _ in VAL_NAMES if all(f"val_{n}_loss" in s for s, _ in runs)]
    names = dict(VAL_NAMES)
    first = runs[0][0]
    teacher = {"arm": f"teacher: {first['teacher']} (FP16)", "tokens": None}
    for n in sets:  # same windows, same bytes: the student's bits per byte scale the teacher's loss exactly
        loss = first[f"teacher_val_{n}_loss"]
        teacher.update({f"val_{n}_loss": loss, f"val_{n}_bpb": loss * first[f"val_{n}_bpb"] / first[f"val_{n}_loss"]})
    rows = [teacher]
    for s, c in runs:
        d = c["distill"]
        rows.append({"arm": s["name"].removeprefix("bitdistill-"), "run_id": s["run_id"], "tokens": s["tokens"],
                     "logit_weight": d["logit_weight"], "relation_weight": d["relation_weight"],
                     "temperature": d["temperature"], "cpt_steps": d["cpt_steps"], "status": s["status"],
                     "wall_time_s": s["wall_time_s"], "tokens_per_s": round(s["tokens"] / s["wall_time_s"], 1),
                     **{f"val_{n}_{m}": s.get(f"val_{n}_{m}") for n in sets for m in ("loss", "bpb")}})  # fmt: skip
    table = Table(["model", "tokens", "loss weights (logits, relations)", *(f"{names[n]} loss (bpb)" for n in sets),
                   "vs teacher (nats)", "wall time (s)", "tokens/s"], "lrl" + "r" * len(sets) + "lrr")  # fmt: skip
    for r in rows:
        is_teacher = r["tokens"] is None
        gap = "" if is_teacher else " / ".join(f"{r[f'val_{n}_loss'] - teacher[f'val_{n}_loss']:+.3f}" for n in sets)
        if is_teacher:
            weights = ""
        elif not (r["logit_weight"] or r["relation_weight"]):
            weights = "none (cross-entropy only)"
        else:
            weights = (f"{r['logit_weight']:g}, {r['relation_weight']:g} (T={r['temperature']:g}; cross-entropy only "
                       f"for the first {r['cpt_steps']} steps)")  # fmt: skip
        timing = ["", ""] if is_teacher else [f"{r['wall_time_s']:.0f}", f"{r['tokens_per_s']:.0f}"]
        table.add(r["arm"], "-" if is_teacher else f"{r['tokens']:,}", weights,
                  *(f"{r[f'val_{n}_loss']:.3f} ({r[f'val_{n}_bpb']:.3f})" for n in sets), gap, *timing)  # fmt: skip
    floor = count_floor(ngram)
    if floor:  # another tokenizer and other windows: only bits per byte compare
        table.add("Kneser-Ney trigram (count model, the profile's own tokens)", "-", "",
                  *(f"- ({floor[f'val_{n}_bpb']:.3f})" for n in sets), "", "", "")  # fmt: skip
    arms = {r["arm"]: r for r in rows[1:]}
    claims = ["", "Claims:", ""]
    if {"bitdistill", "qat"} <= set(arms) and arms["bitdistill"]["tokens"] == arms["qat"]["tokens"]:
        b, q = arms["bitdistill"], arms["qat"]
        deltas = [q[f"val_{n}_loss"] - b[f"val_{n}_loss"] for n in sets]
        verdict = "yes" if all(x > 0 for x in deltas) else "NO" if all(x < 0 for x in deltas) else "mixed"
        claims.append(f"- BitDistill beats ternary QAT without distillation at equal tokens ({b['tokens']:,}): "
                      f"{verdict} (QAT loss minus BitDistill loss, nats: " + " / ".join(f"{x:+.3f}" for x in deltas)
                      + ")")  # fmt: skip
    gaps = {a: r[f"val_{sets[0]}_loss"] - teacher[f"val_{sets[0]}_loss"] for a, r in arms.items()}
    claims.append("- Students against the teacher on " + names[sets[0]] + ": "
                  + "; ".join(f"{a} {g:+.3f} nats (PPL x{math.exp(g):.2f})" for a, g in gaps.items()))  # fmt: skip
    if floor:
        levels = {a: floor_label(r, floor, sets, key="val_{}_bpb") for a, r in arms.items()}
        claims.append("- Against the count-model floor in bits per byte (below the Kneser-Ney trigram's "
                      + " / ".join(f"{floor[f'val_{n}_bpb']:.3f}" for n in sets) + " on every set, or not): "
                      + "; ".join(f"{a} {lvl}" for a, lvl in levels.items()))  # fmt: skip
    intro = ["", f"Profile `{profile}`: BitNet b1.58 students of the teacher's shape (SubLN inserted, ternary weights, "
             "8-bit activations), started from the teacher's weights and trained on the profile's documents "
             "tokenized with the teacher's tokenizer; `bitdistill` adds the logits and attention-relation "
             "distillation terms after its continued-pre-training steps, `qat` is cross-entropy only. Loss in nats "
             "per token (bits per byte in brackets) on the first validation tokens of each set, in windows of the "
             "training length; the teacher is scored on the same windows. These windows differ from Table 3's, "
             "so compare the PTQ rows of `table3_smollm2-135m` by their ratio to FP16, not by value. The count-model "
             "floor is the profile's Kneser-Ney trigram on its own tokenizer's first validation tokens of the same "
             "documents: another span of text, so compare it by bits per byte, as a floor of the same kind.",
             ""]  # fmt: skip
    notes = [*claims, "", f"Device: {first['device']}. Rule `bitdistill_table`, from the runs' summary.json and "
             "config.json."]  # fmt: skip
    if exports:
        timing = json.loads(cost[0].read_text()) if cost else None
        etable, erows = export_table(exports, timing)
        c = timing["models"][0] if timing else None
        notes += ["", "## Exports and inference cost of the real model (llama.cpp, this CPU)", "",
                  "Every export is checked on the logits of the same 64 tokens before it is timed. The student's "
                  "widths (d_model 576) are not whole TQ2_0 blocks of 256, so its GGUF is padded with zeros to 768 "
                  "(12 query and 4 KV heads of 64): the same model, as the F32-codes file of the same padding shows "
                  "against our graph without activation quantization (llama.cpp's BitNet graph has none; its TQ2_0 "
                  "kernels quantize activations per block of 256, hence the small difference from the model as "
                  "trained). The padding costs the ternary model a third more attention and embedding work than "
                  "SmolLM2's own widths would. The GGUF vocabularies are placeholder pieces: llama.cpp runs them "
                  "on token ids.", "", etable, ""]  # fmt: skip
        if c:
            notes.append(f"Timing: greedy decoding of {c['new_tokens']} tokens after a {c['prompt_tokens']}-token "
                         f"prompt, median time per token; {c['threads']} threads of {c['cpu']}; {timing['rounds']} "
                         "rounds, each measuring every model once in a fresh process (the row: its median round; the "
                         "speed-up: each round's FP16 time over the model's, median over rounds); resident memory of "
                         "the process while decoding, less what it held before loading (rules `export_real`, "
                         "`cost_gguf`).")  # fmt: skip
    columns = ["arm", "tokens", "logit_weight", "relation_weight", "temperature", "cpt_steps", "status",
               *[f"val_{n}_{m}" for n in sets for m in ("loss", "bpb")], "wall_time_s", "tokens_per_s",
               "run_id"]  # fmt: skip
    write_table(out_md, f"BitDistill, profile `{profile}`", intro, table, notes, out_csv=out_csv, csv_rows=rows,
                columns=columns)
    return rows
