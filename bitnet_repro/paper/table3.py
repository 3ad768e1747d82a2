"""Table 3: post-training quantization baselines against the FP16 models they quantize and BitNet b1 trained at
the same size, beside the paper's numbers, with the paper's claims checked on each model.

Inputs are results JSONs: `ptq` runs (a "ptq" entry in our section) and plain `eval` runs of the FP16 and
BitNet b1 checkpoints (or of the pretrained model). Every row states the model it was measured on, so a
CPU-scale table is never mistaken for the paper's 6.7B one.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from bitnet_repro.eval.results import summary_rows
from bitnet_repro.eval.tasks import table3_columns
from bitnet_repro.paper.evaluation import TABLE3_TASKS
from bitnet_repro.paper.writer import (
    Table,
    device_label,
    ngram_protocol,
    pm,
    read_csv,
    read_json,
    table_arguments,
    write_table,
)

COMMAND, HELP = ("table3", "ptq-table"), "Table 3: PTQ rows, FP16 and BitNet b1, beside the paper's numbers"


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "results", "results JSON of `ptq` and of `eval` (FP16, BitNet b1)")
    p.add_argument("--paper", type=Path, help="the paper's Table 3 CSV, for the columns labelled as the paper's")
    p.add_argument("--title", default="Table 3", help="the table's title")
    p.add_argument("--ngram", type=read_json, help="ngram.json of the profile: the Kneser-Ney trigram as the floor row")


TRAINED = {"bitnet_b1": ("BitNet b1", 1), "bitnet_b158": ("BitNet b1.58", 1.58)}  # variant -> (row, weight bits)
CHANCE = {c["short"]: c["chance"] for c in table3_columns()}
SHORTS = [c["short"] for c in table3_columns()]  # the paper's column order
PAPER_COLS = {"ppl": "ppl", "wg": "WG", "wge": "WGe", "hs": "HS", "sc": "SC", "avg": "avg"}


def _row(path: Path) -> dict[str, Any]:
    res = json.loads(path.read_text())
    ours = res["bitnet_repro"]
    ptq = ours.get("ptq")
    if ptq:
        info, s = ptq["model_info"], ptq["setting"]
        row = {"method": ptq["method_title"], "spec": s["spec"], "wbits": s["w_bits"], "abits": s["a_bits"],
               "ptq": "yes", "status": ptq["status"], "implementation": ptq["implementation"],
               "calibration": ptq["calibration"], "caveat": ptq["caveat"],
               "seconds_quantize": ptq["seconds_quantize"]}  # fmt: skip
    else:
        info = ours.get("run") or {"model": ours["model"], "size": ours["model"], "variant": "fp16"}
        method, wbits = TRAINED.get(info.get("variant", "fp16"), ("Transformer", 16))
        if info.get("distill"):  # a student of a pretrained teacher: BitDistill, or QAT with no distillation term
            d = info["distill"]
            method += " (BitDistill)" if d["logit_weight"] or d["relation_weight"] else " (QAT, no distillation)"
        teacher = (info.get("distill") or {}).get("teacher")
        row = {"method": method, "spec": info.get("variant", "fp16"), "wbits": wbits,
               "abits": 16 if wbits == 16 else 8, "ptq": "no", "status": "ok", "teacher": teacher}  # fmt: skip
    row.update({"model": info.get("model") or info.get("run_id"), "size": info.get("size"),
                "params": info.get("params_nonembedding") or info.get("params"),
                "params_nonembedding": info.get("params_nonembedding"), "source": info.get("source"),
                "tokens_trained": info.get("tokens_trained"), "shots": ours["num_fewshot"], "limit": ours["limit"],
                "device": device_label(ours)})  # fmt: skip
    m = {(r["task"], r["metric"]): r for r in summary_rows(res)}
    if ("token_ppl", "avg_ppl") in m:
        row["ppl"] = m[("token_ppl", "avg_ppl")]["value"]
        row["ppl_wikitext2"] = m[("token_ppl_wikitext2", "ppl")]["value"]
        row["ppl_c4"] = m[("token_ppl_c4", "ppl")]["value"]
        row["tokens_c4"] = m[("token_ppl_c4", "ppl")]["n"]
        c4 = ours["token_ppl"]["c4"]
        row["nll_c4"], row["bytes_c4"] = c4.get("nll"), c4.get("bytes")
        if ("token_ppl_c4", "bpb") in m:
            row["bpb_c4"] = m[("token_ppl_c4", "bpb")]["value"]
    accs = []
    for task, metric, short in TABLE3_TASKS:
        if (task, metric) in m:
            r = m[(task, metric)]
            row[short], row[f"{short}_se"], row[f"{short}_n"] = r["value"], r["stderr"], r["n"]
            accs.append(r["value"])
    if len(accs) == len(TABLE3_TASKS):
        row["avg"] = sum(accs) / len(accs)
    return row


def _paper(paper_csv: Path | None) -> dict[tuple[str, str], dict[str, str]]:
    if not paper_csv or not paper_csv.is_file():
        return {}
    return {(r["wbits"], r["method"]): r for r in read_csv(paper_csv)}


ORDER = {"Transformer": 0, "LLM.int8()": 1, "Absmax": 2, "SmoothQuant": 3, "GPTQ": 4, "QuIP": 5}


def trained_lowbit(r: dict[str, Any]) -> bool:
    """A model trained with low-bit weights (BitNet b1, b1.58, a BitDistill or QAT student), not quantized after."""
    return r["ptq"] == "no" and r["wbits"] < 16


def _sort_key(r: dict[str, Any]) -> tuple:
    return (r["shots"], trained_lowbit(r), -r["wbits"], ORDER.get(r["method"], 6), r["method"], -r["abits"])


def _fmt_ppl(v: float | None) -> str:
    if v is None:
        return "-"
    if not math.isfinite(v):
        return "inf" if v > 0 else "nan"
    return f"{v:.4g}" if v < 1e4 else f"{v:.1e}"


def trigram_floor(ngram: dict | None, rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """The Kneser-Ney trigram's Table 3 perplexity (mean of WikiText-2 and C4) and C4 bits per byte, on the
    tokens the rows were scored on (the first `eval_tokens`, or the whole texts). Rows of a pretrained model use
    its own tokenizer: then only bits per byte compare (`ppl` None), on the count model's first tokens."""
    if not ngram or "kn3" not in ngram.get("models", {}):
        return None
    kn3 = ngram["models"]["kn3"]
    if any(r.get("source") for r in rows):
        return {"ppl": None, "bpb_c4": kn3["c4_train"]["bpb"]} if "c4_train" in kn3 else None
    tokens = next((r.get("tokens_c4") for r in rows if r.get("tokens_c4")), None)
    protocol = ngram_protocol(ngram, tokens)
    c4, wt2 = kn3.get(f"c4_{protocol}"), kn3.get(f"wikitext2_{protocol}")
    if not c4 or not wt2:
        return None
    return {"ppl": (c4["ppl"] + wt2["ppl"]) / 2, "bpb_c4": c4["bpb"]}


def claims(rows: list[dict[str, Any]], floor: dict[str, float] | None = None) -> list[str]:
    """The paper's Table 3 claims (../shared/paper/FIGURES.md), checked on one model's zero-shot rows, and where
    the rows stand against the count-model floor. Collapse: perplexity at least 10x FP16's or a non-finite
    model. Close: perplexity within 10% of FP16's."""
    by = {(r["method"], r["wbits"], r["abits"]): r for r in rows}
    fp = by.get(("Transformer", 16, 16))
    if not fp or "ppl" not in fp:
        return ["(no FP16 row: claims not checked)"]
    base = fp["ppl"]

    def ppl(r):
        return r.get("ppl", math.inf) if r and r["status"] == "ok" else math.inf

    def collapsed(r):
        return r is not None and ppl(r) >= 10 * base

    def desc(r):
        if r is None:
            return "missing"
        acc = f", avg {100 * r['avg']:.1f}%" if r.get("avg") is not None else ""
        return f"PPL {_fmt_ppl(ppl(r))}{acc}" if r["status"] == "ok" else r["status"]

    out = [f"FP16: PPL {_fmt_ppl(base)}" + (f", avg {100 * fp['avg']:.1f}%" if fp.get("avg") else "")]
    low = [by.get((m, w, a)) for m, w, a in [("Absmax", 4, 4), ("SmoothQuant", 4, 4), ("Absmax", 1, 8),
                                             ("SmoothQuant", 1, 8)]]  # fmt: skip
    ok = all(collapsed(r) for r in low if r) and any(low)
    out.append(
        f"W4A4/W1A8 Absmax and SmoothQuant collapse: {'yes' if ok else 'NO'} ("
        + "; ".join(f"{r['method']} {r['spec'].split(':')[1]} {desc(r)}" for r in low if r)
        + ")"
    )
    g4, g2, q2 = by.get(("GPTQ", 4, 16)), by.get(("GPTQ", 2, 16)), by.get(("QuIP", 2, 16))
    if g4 and g2:
        close = ppl(g4) <= 1.1 * base
        out.append(f"GPTQ W4A16 close to FP16 (PPL within 10%): {'yes' if close else 'NO'} ({desc(g4)}); "
                   f"GPTQ W2A16 collapses: {'yes' if collapsed(g2) else 'NO'} ({desc(g2)})")  # fmt: skip
    if g2 and q2:
        out.append(f"QuIP W2A16 degrades less than GPTQ W2A16: {'yes' if ppl(q2) < ppl(g2) else 'NO'} "
                   f"(QuIP {desc(q2)}; GPTQ {desc(g2)})")  # fmt: skip
    rivals = [r for r in rows if r["ptq"] == "yes" and r["wbits"] <= 2]
    for t in (r for r in rows if trained_lowbit(r)):
        beats = [r for r in rivals if ppl(t) < ppl(r)]
        verdict = "yes" if len(beats) == len(rivals) else "NO"
        missed = "".join(f"; not beaten: {r['spec']} {desc(r)}" for r in rivals if r not in beats)
        out.append(f"{t['method']} beats every 1- and 2-bit PTQ method on PPL: {verdict} ({desc(t)}; "
                   f"beaten: {len(beats)}/{len(rivals)}{missed})")  # fmt: skip
    bd, qat = by.get(("BitNet b1.58 (BitDistill)", 1.58, 8)), by.get(("BitNet b1.58 (QAT, no distillation)", 1.58, 8))
    if bd and qat:
        out.append(f"BitDistill beats ternary QAT at equal tokens: {'yes' if ppl(bd) < ppl(qat) else 'NO'} "
                   f"(BitDistill {desc(bd)}; QAT {desc(qat)}; FP16 teacher {desc(fp)})")  # fmt: skip
    if floor and floor["ppl"] is None:  # another tokenizer: bits per byte
        level = [r for r in rows if r["status"] == "ok" and r.get("bpb_c4", math.inf) >= floor["bpb_c4"]]
        out.append(f"Rows at the n-gram level (C4 bits per byte not below the Kneser-Ney trigram's "
                   f"{floor['bpb_c4']:.3f}, fitted on the profile's own tokenizer, so only bits per byte compare): "
                   f"{len(level)} of {len(rows)}" + (" (" + ", ".join(r["spec"] for r in level) + ")" if level else "")
                   + f"; FP16 {'beats' if fp.get('bpb_c4', math.inf) < floor['bpb_c4'] else 'does NOT beat'} "
                   "the trigram")  # fmt: skip
    elif floor:
        level = [r for r in rows if ppl(r) >= floor["ppl"]]
        out.append(f"Rows at the n-gram level (PPL not below the Kneser-Ney trigram's {_fmt_ppl(floor['ppl'])} on "
                   f"the same tokens): {len(level)} of {len(rows)}"
                   + (" (" + ", ".join(f"{r['spec']}" for r in level) + ")" if level else "")
                   + f"; FP16 {'beats' if ppl(fp) < floor['ppl'] else 'does NOT beat'} the trigram")  # fmt: skip
    return out


def run(results: list[Path], out_csv: Path, out_md: Path, profile: str, paper: Path | None = None,
        title: str = "Table 3", ngram: dict | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (model, method, bit width, shots); the paper's Table 3 in columns labelled `paper_*`."""
    rows = [_row(p) for p in results]
    known = {r["size"]: r for r in rows if r["params"] and r["ptq"] == "yes"}
    measured = {(r["size"], r["tokens_c4"]): r["bytes_c4"] for r in rows if r.get("bytes_c4")}
    for r in rows:  # scored before bytes were recorded: the same tokens of the same text have the same bytes
        n_bytes = measured.get((r["size"], r.get("tokens_c4")))
        if r.get("bpb_c4") is None and r.get("nll_c4") is not None and n_bytes:
            r["bpb_c4"], r["bpb_derived"] = r["nll_c4"] * r["tokens_c4"] / (math.log(2) * n_bytes), True
    for r in rows:  # a pretrained model's plain evaluation: its size and tokens from its PTQ rows
        if not r["params"] and r["size"] in known:
            r["params"], r["tokens_trained"] = known[r["size"]]["params"], known[r["size"]]["tokens_trained"]
    size_params = {}
    for r in rows:
        size_params[r["size"]] = max(size_params.get(r["size"], 0), r["params"] or 0)
    rows.sort(key=lambda r: (size_params[r["size"]], str(r["size"])) + _sort_key(r))
    paper_csv, paper = paper, _paper(paper)  # the paper's rows by (bits, method)
    for r in rows:
        p = paper.get((str(r["wbits"]), r["method"]))
        for src, dst in PAPER_COLS.items():
            r[f"paper_{dst}"] = p[src] if p and p.get(src) else None
    cols = ["profile", "model", "size", "params", "tokens_trained", "device", "shots", "limit", "method", "spec",
            "wbits", "abits", "ptq", "status", "ppl", "ppl_wikitext2", "ppl_c4", "bpb_c4"]  # fmt: skip
    for short in SHORTS:
        cols += [short, f"{short}_se", f"{short}_n"]
    cols += ["avg", "calibration", "implementation", "seconds_quantize"] + [f"paper_{d}" for d in PAPER_COLS.values()]
    blocks: list = [""]
    models = {}
    for r in rows:
        models.setdefault((r["size"], r["shots"]), []).append(r)
    for (size, shots), rs in models.items():
        fp = next((r for r in rs if r["method"] == "Transformer" and r["params"]), rs[0])
        tokens = fp["tokens_trained"]
        tokens = f"{tokens / 1e6:.2f}M" if isinstance(tokens, (int, float)) else tokens
        counted = "non-embedding" if fp.get("params_nonembedding") else "all"
        table = Table(["Method", "Bits", "PTQ", "PPL", "C4 bpb", *SHORTS, "Avg", "Paper PPL",
                       *(f"Paper {s}" for s in SHORTS), "Paper Avg"])
        blocks += [f"## {size}: {fp['params'] or 0:,} parameters ({counted}), "
                  f"{tokens} training tokens, {shots}-shot", "",
                  f"Measured on {fp['device']}; at most {fp['limit']} items per task. "
                  f"Not the paper's 6.7B model: the paper's columns are for comparison of trends only."
                  + "".join(f" Weights: {src}, de-quantized to float32 on load; that is the unquantized reference "
                            "(the released BF16 weights are not held here), so every row starts from weights "
                            "that went through Q4_1 once."
                            for src in sorted({r["source"] for r in rs if r.get("source")}))
                  + "".join(f" {r['method']}: trained from {r['teacher']}'s weights for {r['tokens_trained']:,} "
                            f"tokens ({r['model']}), scored with its tokenizer, windows and items."
                            for r in rs if r.get("teacher")),
                  "", table]  # fmt: skip
        for r in rs:
            bits = "16" if r["method"] == "Transformer" else f"W{r['wbits']}A{r['abits']}"
            if r["status"] != "ok":
                ours = [f"**{r['status']}**"] + ["-"] * 6
            else:
                bpb = f"{r['bpb_c4']:.3f}" if r.get("bpb_c4") is not None else "-"
                ours = [_fmt_ppl(r.get("ppl")), bpb] + [pm(r.get(s), r.get(f"{s}_se")) for s in SHORTS]
                ours.append(f"{100 * r['avg']:.1f}" if r.get("avg") is not None else "-")
            paper = [r[f"paper_{d}"] or "-" for d in PAPER_COLS.values()]
            table.add(r["method"], bits, r["ptq"], *ours, *paper)
        floor = trigram_floor(ngram, rs) if shots == 0 else None
        if floor:
            label = "same tokens" if floor["ppl"] else "the profile's own tokenizer: bits per byte only"
            table.add(f"Kneser-Ney trigram (count model, {label})", "-", "-",
                      _fmt_ppl(floor["ppl"]) if floor["ppl"] else "-", f"{floor['bpb_c4']:.3f}",
                      *["-"] * (len(SHORTS) + 1 + len(PAPER_COLS)))  # fmt: skip
        if shots == 0:
            blocks += ["", "Paper claims on this model:", ""] + [f"- {c}" for c in claims(rs, floor)]
        blocks.append("")
    caveats = sorted({r["caveat"] for r in rows if r.get("caveat")})
    impl = sorted({f"{r['method']}: {r['implementation']}" for r in rows if r.get("implementation")})
    calib = sorted({r["calibration"] for r in rows if r.get("calibration")})
    blocks += [
        "PPL: token perplexity, the average of WikiText-2 and C4 (held-out) token perplexities; C4 bpb: bits per "
        "UTF-8 byte on C4 held-out"
        + (" (rows scored before bytes were recorded: their NLL over the bytes of the same tokens, which other rows "
           "recorded)" if any(r.get("bpb_derived") for r in rows) else "")
        + ". WG: Winogrande, "
        "WGe: WSC273, HS: HellaSwag (acc_norm), SC: StoryCloze 2016, accuracy in % ± the harness's standard "
        "error; chance 50 / 50 / 25 / 50 (Avg 43.8). Bits: WxAy = x-bit weights, y-bit activations (16: not "
        "quantized); embeddings and the output head stay in high precision. A model whose quantized weights or "
        "logits are not finite is marked as such and not scored.",
        "", "Implementations: " + "; ".join(impl) + ".",
        "", "Calibration: " + "; ".join(calib) + "." if calib else "",
        "", ("Differences from the papers' methods: " + "; ".join(caveats) + ".") if caveats else "",
        "", "Paper columns: the paper's Table 3 (6.7B models, ../shared/paper/table3_ptq_zeroshot_6.7B.csv).",
    ]  # fmt: skip
    write_table(out_md, f"{title}: post-training quantization vs. low-bit training ({profile} profile)", blocks,
                out_csv=out_csv, csv_rows=[{"profile": profile, **r} for r in rows], columns=cols,
                paper=paper_csv)  # fmt: skip
    return rows
