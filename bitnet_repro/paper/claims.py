"""The claims ledger: each headline claim of the paper (../shared/paper/FIGURES.md) plus the small-scale "b1.58
matches FP16 at twice the width" check, with what this profile measured, whether the claim holds here, and the
file the numbers come from. Computed from the result files, never written by hand.

`holds` is true or false only where the models compared are worth comparing: a model-quality comparison between
models that do not beat the Kneser-Ney trigram fitted on the same tokens measures little, so there it is null
and `at_face_value` says what the numbers would read. Null also where this scale cannot test a claim (a 70B
model) or the result is not built yet; `reason` says which.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bitnet_repro.config import VARIANT_LABELS
from bitnet_repro.paper.writer import (
    VAL_NAMES,
    Table,
    count_floor,
    floor_label,
    fmt,
    fp16_reference,
    read_csv,
    read_json,
    write_table,
)
from bitnet_repro.utils import atomic_write_text

COMMAND, HELP = "claims-ledger", "the claims ledger: the paper's headline claims checked on this profile's results"

MATCH_NATS = 0.01  # "matches": a loss gap of at most 0.01 nats per token (1% perplexity)
CLOSE = 1.10  # "close to" / "stays close": perplexity within 10%; as in Table 3's claim lines
COLLAPSE = 10.0  # "collapses": perplexity at least 10x FP16's; as in Table 3's claim lines
TABLE3_CHANCE = 0.4375  # WG, WGe, SC 50%, HS 25% (bitnet_repro/eval/tasks/_table3.yaml)
TABLE6_CHANCE = {"ARCe": 0.25, "ARCc": 0.25, "HS": 0.25, "BQ": 0.5, "OQ": 0.25, "PQ": 0.5, "WGe": 0.5}
NOT_BUILT = "not built yet: "


@dataclass
class Claim:
    id: str
    claim: str  # as FIGURES.md words it
    paper: str  # the paper's evidence
    holds: bool | None = None
    at_face_value: bool | None = None  # what the comparison reads, whether or not the models are worth comparing
    measured: str = ""
    reason: str = ""
    sources: list[str] = field(default_factory=list)


CLAIMS = [  # (id, claim, paper's evidence), in FIGURES.md's order
    ("b158_matches_fp16", "BitNet b1.58 matches FP16 LLaMA perplexity from 3B; the gap shrinks as size grows",
     "Table 4, Figure 9"),
    ("b1_beats_lowbit_ptq", "BitNet b1 beats every 1- and 2-bit PTQ method by a wide margin, and is close to 8-bit "
     "PTQ", "Table 3, Figure 7"),
    ("ptq_low_bits_collapse", "Absmax/SmoothQuant at W4A4 and W1A8 collapse to near-random accuracy and huge "
     "perplexity", "Table 3"),
    ("gptq_quip", "GPTQ W4A16 stays close to FP16; GPTQ W2A16 collapses; QuIP W2A16 degrades but less than GPTQ",
     "Table 3"),
    ("b1_stable_lr", "BitNet b1 trains stably at learning rates where FP16 diverges", "Figure 6"),
    ("two_stage_schedule", "Two-stage LR/WD schedule lowers final loss", "Figure 2 right"),
    ("subln_absmax", "Absmax + SubLN is better than Elastic, Pre-LN and BMT", "Table 9"),
    ("kv4_free", "KV cache at 4 bits costs no accuracy", "Table 6"),
    ("cost_memory_latency", "Memory 2.6x-3.55x and latency 1.23x-2.71x better than FP16 for 700M-3B, growing with "
     "size", "Table 4, Figure 8"),
    ("cost_70b_throughput", "70B: 11x batch, 8.9x throughput", "Table 7"),
    ("b158_2x_width", "BitNet b1.58 matches FP16 at twice the hidden size (small-scale check, BitNet b1.58 "
     "Reloaded)", "not in the paper: BitNet b1.58 Reloaded, 100K-48M parameters"),
]  # fmt: skip


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--training", type=Path, required=True, help="tables/training.csv of the profile")
    p.add_argument("--ngram", type=Path, required=True, help="baselines/ngram.json of the profile: the floor")
    for name, help in [("table3", "tables/table3.csv"), ("ptq-sizes", "tables/ptq_sizes.csv (Figure 7)"),
                       ("pilots", "tables/pilots.csv (the LR pilots)"),
                       ("stability", "figures/figure6.csv (the stability test)"), ("table6", "tables/table6.csv"),
                       ("table4", "tables/table4_cost.csv"), ("table7", "tables/table7.csv")]:  # fmt: skip
        p.add_argument(f"--{name}", type=Path, help=f"{help}, when built")
    p.add_argument("--table3-pretrained", nargs="*", type=Path, default=[],
                   help="Table 3 on each real pretrained model (tables/table3_<model>.csv)")  # fmt: skip
    p.add_argument("--profile", required=True, help="profile name, stated in the ledger's title")
    p.add_argument("--out-json", type=Path, required=True, help="JSON file to write (one entry per claim)")
    p.add_argument("--out-md", type=Path, required=True, help="Markdown file to write (the ledger as a table)")


def _cell(v: str) -> float | str | None:
    """A CSV cell: a number as a float, text as it is, a blank as None."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return v or None


def _rows(path: Path | None) -> list[dict[str, Any]]:
    """A results CSV with its numbers as floats (blank cells None)."""
    if path is None:
        return []
    return [{k: _cell(v) for k, v in r.items()} for r in read_csv(path)]


class Ladder:
    """The profile's trained models (training.csv) against the Kneser-Ney trigram on the same validation windows."""

    def __init__(self, training: Path, ngram: dict) -> None:
        self.rows = [r for r in _rows(training) if r["size"] != "count model"]
        self.floor = count_floor(ngram)
        self.sets = [n for n, _ in VAL_NAMES if all(r.get(f"val_{n}_loss") is not None for r in self.rows)]

    def get(self, size: str, variant: str) -> dict | None:
        return next((r for r in self.rows if r["size"] == size and r["variant"] == variant), None)

    def sizes(self) -> list[str]:
        return list(dict.fromkeys(r["size"] for r in self.rows if r["variant"] == "fp16"))

    def beats_floor(self, row: dict | None) -> bool:
        return row is not None and floor_label(row, self.floor, self.sets) == "beats KN-3"

    def at_floor(self, rows: list[dict | None]) -> list[str]:
        """The names of the rows that do not beat the trigram (the reason a comparison is not a result)."""
        return [f"{r['size']} {r['variant']}" for r in rows if r is not None and not self.beats_floor(r)]


def _not_worth(at_floor: list[str]) -> str:
    return (f"at the n-gram level (not below the Kneser-Ney trigram on every validation set): {', '.join(at_floor)}; "
            "a comparison between such models measures little")  # fmt: skip


def _gap_claim(c: Claim, ladder: Ladder, pairs: list[tuple[str, str]], source: str) -> None:
    """b1.58 against FP16 at each (b1.58 size, FP16 size) pair: C4 loss gaps, whether they shrink, where they match."""
    found = [(s, f, ladder.get(s, "bitnet_b158"), ladder.get(f, "fp16")) for s, f in pairs]
    found = [x for x in found if x[2] and x[3]]
    if not found:
        c.reason = "no b1.58 and FP16 models of matching sizes in the training table"
        return
    gaps = [(s, f, b["val_c4_loss"] - fp["val_c4_loss"]) for s, f, b, fp in found]
    c.measured = "b1.58 - FP16 C4 loss (nats): " + ", ".join(
        f"{s}{'' if s == f else f' vs {f}'} {g:+.3f}" for s, f, g in gaps
    )
    matches = [s for s, _, g in gaps if g <= MATCH_NATS]
    shrinks = all(b < a for (_, _, a), (_, _, b) in zip(gaps, gaps[1:], strict=False))
    c.at_face_value = bool(matches) and (shrinks or len(gaps) == 1)
    c.measured += f"; matches (gap <= {MATCH_NATS} nats) at: {', '.join(matches) or 'no size'}"
    if len(gaps) > 1:
        c.measured += f"; the gap shrinks with size: {'yes' if shrinks else 'no'}"
    c.sources.append(source)
    floor = ladder.at_floor([r for x in found for r in x[2:]])
    c.holds, c.reason = (None, _not_worth(floor)) if floor else (c.at_face_value, "")


def _ptq_claims(by_claim: dict[str, Claim], tables: list[tuple[str, list[dict], bool, str]]) -> None:
    """Table 3's claims on each model's zero-shot rows: (model, rows, worth comparing, source)."""
    collapse, gq = by_claim["ptq_low_bits_collapse"], by_claim["gptq_quip"]
    verdicts: dict[str, list[tuple[bool, bool]]] = {"collapse": [], "gq": []}
    for model, rows, worth, source in tables:
        rows = [r for r in rows if r.get("shots") in (None, 0.0) and r["status"] == "ok"]
        fp = next((r for r in rows if r["method"] == "Transformer"), None)
        if fp is None:
            continue
        by = {r["spec"]: r for r in rows}
        ppl = {k: r["ppl"] if r.get("ppl") is not None and math.isfinite(r["ppl"]) else math.inf for k, r in by.items()}
        base = ppl[fp["spec"]]
        low = [k for k in ("absmax:W4A4", "smoothquant:W4A4", "absmax:W1A8", "smoothquant:W1A8") if k in by]
        if low:
            ok = all(ppl[k] >= COLLAPSE * base for k in low)
            verdicts["collapse"].append((ok, worth))
            collapse.measured += (f"{model}: FP16 PPL {base:.4g}; " + "; ".join(
                f"{k.split(':')[0]} {k.split(':')[1]} PPL {ppl[k]:.3g} ({ppl[k] / base:.3g}x), avg "
                f"{100 * by[k]['avg']:.1f}% (chance {100 * TABLE3_CHANCE:.1f}%)" for k in low) + ". ")  # fmt: skip
            collapse.sources.append(source)
        if all(k in by for k in ("gptq:W4A16", "gptq:W2A16", "quip:W2A16")):
            g4, g2, q2 = ppl["gptq:W4A16"], ppl["gptq:W2A16"], ppl["quip:W2A16"]
            parts = [g4 <= CLOSE * base, g2 >= COLLAPSE * base, base < q2 < g2]
            verdicts["gq"].append((all(parts), worth))
            gq.measured += (f"{model}: GPTQ W4A16 PPL {g4:.4g} ({g4 / base:.3g}x FP16: close "
                            f"{'yes' if parts[0] else 'no'}), GPTQ W2A16 {g2:.3g} ({g2 / base:.3g}x: collapses "
                            f"{'yes' if parts[1] else 'no'}), QuIP W2A16 {q2:.3g} (degrades, less than GPTQ: "
                            f"{'yes' if parts[2] else 'no'}). ")  # fmt: skip
            gq.sources.append(source)
    for c, v in ((collapse, verdicts["collapse"]), (gq, verdicts["gq"])):
        c.measured = c.measured.strip()
        if not v:
            c.reason = NOT_BUILT + "Table 3 (`snakemake table3`, `snakemake table3_pretrained`)"
            continue
        c.at_face_value = all(ok for ok, _ in v)
        tested = [ok for ok, worth in v if worth]
        c.holds = all(tested) if tested else None
        partly = tested and len(tested) < len(v)
        c.reason = ("tested only on the models whose FP16 beats the count-model floor" if partly
                    else "" if tested else "every FP16 model here is at the n-gram level")  # fmt: skip
        c.reason += "; collapse judged by perplexity, the accuracies are given" if c is collapse else ""


def _b1_vs_ptq(c: Claim, ladder: Ladder, rows: list[dict], source: str) -> None:
    """BitNet b1 against the 1-2-bit PTQ rows and the 8-bit rows of the FP16 model of its size, per size."""
    worth, face = [], []
    for size in dict.fromkeys(r["size"] for r in rows):
        at = [r for r in rows if r["size"] == size and r.get("shots") in (None, 0.0) and r["status"] == "ok"]
        b1 = next((r for r in at if r["spec"] == "bitnet_b1"), None)
        low = [r for r in at if r["ptq"] == "yes" and r["wbits"] <= 2]
        w8 = [r for r in at if r["ptq"] == "yes" and r["wbits"] == 8]
        if not b1 or not low:
            continue
        beats = [r for r in low if b1["ppl"] < r["ppl"]]
        close = all(b1["ppl"] <= CLOSE * r["ppl"] for r in w8)
        face.append(len(beats) == len(low) and close)
        worth.append(not ladder.at_floor([ladder.get(size, "fp16"), ladder.get(size, "bitnet_b1")]))
        c.measured += (f"{size}: b1 PPL {b1['ppl']:.4g} beats {len(beats)}/{len(low)} 1-2-bit PTQ rows (best of them "
                       f"{min(r['ppl'] for r in low):.4g}); vs 8-bit PTQ: {b1['ppl'] / min(r['ppl'] for r in w8):.3g}x "
                       f"PPL (close: {'yes' if close else 'no'}). ")  # fmt: skip
    c.measured = c.measured.strip()
    if not face:
        c.reason = NOT_BUILT + "Table 3 / Figure 7 with a BitNet b1 row (`snakemake table3 figure7`)"
        return
    c.sources.append(source)
    c.at_face_value = all(face)
    tested = [f for f, w in zip(face, worth, strict=True) if w]
    c.holds = all(tested) if tested else None
    floor = ladder.at_floor([ladder.get(s, v) for s in ladder.sizes() for v in ("fp16", "bitnet_b1")])
    c.reason = "" if tested else _not_worth(floor)


def _stability(c: Claim, pilots: list[dict], source: str) -> None:
    """Figure 6 from the stability test (figure6.csv, one row per run with its variant) or, without it, the LR
    pilots (one arm per variant): the LRs at which FP16 and b1 diverged (a run's status) or completed."""
    key = "variant" if pilots and "variant" in pilots[0] else "arm"
    arms = {a: sorted((r for r in pilots if r[key] == a), key=lambda r: r["lr"]) for a in ("fp16", "bitnet_b1")}
    if not all(arms.values()):
        c.reason = NOT_BUILT + "the LR pilots of FP16 and BitNet b1 (`snakemake pilots`); Figure 6's LR ladder"
        return
    c.sources.append(source)

    def desc(a: str) -> str:
        best = min((r["val_c4_loss"] for r in arms[a] if r["status"] == "completed"), default=math.nan)
        return ", ".join(f"{r['lr']:g} " + (f"{r['val_c4_loss'] - best:+.3f}" if r["status"] == "completed"
                                           else r["status"]) for r in arms[a])  # fmt: skip

    what = "Stability test" if key == "variant" else "LR pilots"
    c.measured = (f"{what} (C4 loss minus the arm's best, nats): FP16 {desc('fp16')}; "
                  f"BitNet b1 {desc('bitnet_b1')}")  # fmt: skip
    # the stability test's `outcome` (figure6.py: diverged, not converged, converged); the pilots have only `status`
    ok = {a: {r["lr"] for r in rs if r.get("outcome", "converged") == "converged" and r["status"] == "completed"}
          for a, rs in arms.items()}  # fmt: skip
    fp_div = [r["lr"] for r in arms["fp16"] if r["status"] == "diverged"]
    fp_bad = [r["lr"] for r in arms["fp16"] if r["lr"] not in ok["fp16"]]
    c.measured += "; outcomes: " + "; ".join(
        f"{VARIANT_LABELS[a]} " + ", ".join(f"{r['lr']:g} {r.get('outcome', r['status'])}" for r in rs)
        for a, rs in arms.items())  # fmt: skip
    if not fp_bad:
        top = arms["fp16"][-1]["lr"]
        c.reason = f"FP16 converged at every LR (up to {top:g}, {top / arms['fp16'][0]['lr']:g}x the lowest)" + (
            "" if key == "variant" else "; Figure 6's stability test is not built (`snakemake figure6`)"
        )
        return
    strict = sorted(set(fp_div) & ok["bitnet_b1"])
    c.at_face_value = c.holds = bool(set(fp_bad) & ok["bitnet_b1"])
    c.reason = (f"FP16 first fails to converge at LR {min(fp_bad):g} (diverged from "
                f"{fmt(min(fp_div, default=None), 'g')}; not converged = completed, but nearer the unigram count model "
                "than its arm's best run, "
                f"figure6.py); BitNet b1 converges at {', '.join(f'{x:g}' for x in sorted(ok['bitnet_b1']))}; "
                f"at an LR where FP16 diverges outright: {', '.join(f'{x:g}' for x in strict) or 'none'}; a "
                "matter of training, not model quality, so the n-gram floor does not gate it")  # fmt: skip


def _kv4(c: Claim, rows: list[dict], source: str) -> None:
    """Table 6: the task average with a 16-bit and a 4-bit KV cache, per size, against 2 standard errors and chance."""
    by = {(r["size"], int(r["kv_bits"])): r for r in rows}
    sizes = [s for s in dict.fromkeys(r["size"] for r in rows) if (s, 16) in by and (s, 4) in by]
    if not sizes:
        c.reason = NOT_BUILT + "Table 6 (`snakemake table6`)"
        return
    c.sources.append(source)
    chance = sum(TABLE6_CHANCE.values()) / len(TABLE6_CHANCE)
    free, above = [], []
    for s in sizes:
        a, b = by[(s, 16)], by[(s, 4)]
        se = math.sqrt(sum(a[f"{k}_se"] ** 2 for k in TABLE6_CHANCE)) / len(TABLE6_CHANCE)
        free.append(abs(b["avg"] - a["avg"]) <= 2 * se)
        above.append(a["avg"] - chance > 2 * se)
        c.measured += f"{s}: {100 * a['avg']:.1f}% -> {100 * b['avg']:.1f}% (2 s.e. {200 * se:.1f}); "
    c.measured = c.measured.rstrip("; ") + f"; chance {100 * chance:.1f}%"
    c.at_face_value = all(free)
    tested = [f for f, a in zip(free, above, strict=True) if a]
    c.holds = all(tested) if tested else None
    c.reason = "" if tested else "every model's 16-bit-cache average is within 2 standard errors of chance"


def _cost(c: Claim, rows: list[dict], source: str) -> None:
    """Table 4's cost columns: b1.58 against FP16 through llama.cpp (TQ2_0) per size; growth with size."""
    lc = [r for r in rows if r["engine"] == "llama.cpp" and r["format"] == "TQ2_0" and r.get("memory_ratio")]
    if not lc:
        c.reason = NOT_BUILT + "Table 4's cost columns (`snakemake table4`)"
        return
    c.sources.append(source)
    c.measured = "llama.cpp TQ2_0 against F16 on this CPU: " + "; ".join(
        f"{r['size']} memory {r['memory_ratio']:.2f}x, latency {r['latency_ratio']:.2f}x "
        f"(paper {r['paper_memory_ratio']:.2f}x, {r['paper_latency_ratio']:.2f}x)"
        for r in lc
    )
    torch = [r for r in rows if r["engine"] == "torch" and r.get("latency_ratio")]
    if torch:
        c.measured += "; the PyTorch int8-code path: " + "; ".join(
            f"{r['size']} memory {r['memory_ratio']:.2f}x, latency {r['latency_ratio']:.2f}x" for r in torch
        )
    better = all(r["memory_ratio"] > 1 and r["latency_ratio"] > 1 for r in lc)
    grows = all(b["memory_ratio"] >= a["memory_ratio"] and b["latency_ratio"] >= a["latency_ratio"]
                for a, b in zip(lc, lc[1:], strict=False))  # fmt: skip
    in_range = all(r["memory_ratio"] >= 2.6 and r["latency_ratio"] >= 1.23 for r in lc)
    c.at_face_value = c.holds = better and grows and in_range
    c.reason = (
        f"at the paper's shapes with random weights (quality plays no part); at least the paper's lower "
        f"bounds: {'yes' if in_range else 'no'}; growing with size: {'yes' if grows else 'no'}"
        + ("; through llama.cpp's ternary kernels only, the PyTorch path is no kernel" if torch else "")
    )


def _throughput(c: Claim, rows: list[dict], source: str) -> None:
    if not rows:
        c.reason = NOT_BUILT + "Table 7 (`snakemake table7`)"
        return
    fp, b = rows[0], rows[-1]
    c.sources.append(source)
    c.measured = (f"{b['size']} in a {fp['budget_gb']:.2f} GB budget: batch {b['max_batch']:g} vs {fp['max_batch']:g} "
                  f"({b['batch_ratio']:.2f}x), throughput {b['tokens_per_s']:.1f} vs {fp['tokens_per_s']:.1f} tokens/s "
                  f"({b['throughput_ratio']:.2f}x)")  # fmt: skip
    c.at_face_value = b["batch_ratio"] > 1 and b["throughput_ratio"] > 1
    c.reason = (f"a 70B model does not fit this machine; at {b['size']} both ratios are above 1: "
                f"{'yes' if c.at_face_value else 'no'} (the paper's 11x / 8.9x are at 70B)")  # fmt: skip


def run(training: Path, ngram: Path, profile: str, out_json: Path, out_md: Path, table3: Path | None = None,
        ptq_sizes: Path | None = None, pilots: Path | None = None, table6: Path | None = None,
        table4: Path | None = None, table7: Path | None = None, stability: Path | None = None,
        table3_pretrained: list[Path] = ()) -> list[dict]:  # fmt: skip
    ladder = Ladder(training, read_json(ngram))
    claims = {i: Claim(i, text, paper) for i, text, paper in CLAIMS}
    sizes = ladder.sizes()
    _gap_claim(claims["b158_matches_fp16"], ladder, [(s, s) for s in sizes], str(training))
    wide = [(r["size"], fp16_reference(r["size"])) for r in ladder.rows
            if r["variant"] == "bitnet_b158" and r["size"] != fp16_reference(r["size"])]  # fmt: skip
    _gap_claim(claims["b158_2x_width"], ladder, wide, str(training))
    claims["b158_matches_fp16"].reason += "; the paper's claim starts at 3B parameters" if sizes else ""
    ptq_tables = []
    if table3:
        size = next((r["size"] for r in _rows(table3)), "")
        ptq_tables.append((f"{size} (ours)", _rows(table3), not ladder.at_floor([ladder.get(size, "fp16")]),
                           str(table3)))  # fmt: skip
    for path in table3_pretrained:  # a real pretrained model: only bits per byte compare with the floor
        rows = _rows(path)
        fp = next((r for r in rows if r["method"] == "Transformer"), {})
        worth = ladder.floor is not None and (fp.get("bpb_c4") or math.inf) < ladder.floor["val_c4_bpb"]
        ptq_tables.append((f"{fp.get('size', path.stem)} (pretrained)", rows, worth, str(path)))
    _ptq_claims(claims, ptq_tables)
    b1_rows = _rows(ptq_sizes) if ptq_sizes else _rows(table3) if table3 else []
    _b1_vs_ptq(claims["b1_beats_lowbit_ptq"], ladder, b1_rows, str(ptq_sizes or table3))
    _stability(claims["b1_stable_lr"], _rows(stability or pilots), str(stability or pilots))
    claims["two_stage_schedule"].reason = NOT_BUILT + "the schedule ablation (Figure 2 right, four arms)"
    claims["subln_absmax"].reason = NOT_BUILT + "the ablations of Table 9 (Elastic, Pre-LN, BMT)"
    _kv4(claims["kv4_free"], _rows(table6), str(table6))
    _cost(claims["cost_memory_latency"], _rows(table4), str(table4))
    _throughput(claims["cost_70b_throughput"], _rows(table7), str(table7))
    entries = [asdict(c) for c in claims.values()]
    floor = ladder.floor or {}
    meta = {"profile": profile, "floor": {n: floor.get(f"val_{n}_loss") for n in ladder.sets},
            "models_beating_floor": [f"{r['size']} {r['variant']}" for r in ladder.rows if ladder.beats_floor(r)],
            "models": len(ladder.rows), "seed_spread": None}  # fmt: skip
    atomic_write_text(out_json, json.dumps({"meta": meta, "claims": entries}, indent=2) + "\n")
    _write_md(out_md, profile, entries, meta)
    return entries


def _verdict(v: bool | None) -> str:
    return {True: "**holds**", False: "**does not hold**", None: "untested here"}[v]


def _write_md(out_md: Path, profile: str, entries: list[dict], meta: dict) -> None:
    table = Table(["claim", "paper", "here", "measured", "read at face value", "why / from"], "llllll")
    for e in entries:
        face = {True: "yes", False: "no", None: "-"}[e["at_face_value"]]
        table.add(
            e["claim"],
            e["paper"],
            _verdict(e["holds"]),
            e["measured"] or "-",
            face,
            "; ".join(x for x in (e["reason"], ", ".join(f"`{s}`" for s in e["sources"])) if x) or "-",
        )
    counts = {v: sum(e["holds"] is v for e in entries) for v in (True, False, None)}
    intro = ["", f"Each headline claim of the paper (`FIGURES.md`) checked on the results of profile `{profile}`, "
             f"computed from the files named (rule `claims_ledger`): {counts[True]} hold, {counts[False]} do not, "
             f"{counts[None]} cannot be tested here. A model-quality claim counts only where the models compared beat "
             "the Kneser-Ney trigram fitted on the same tokens on every validation set ("
             f"{len(meta['models_beating_floor'])} of {meta['models']} trained models do); elsewhere the ledger says "
             "what the numbers read at face value, but not that the claim holds or fails. No seed spread is measured "
             "yet, so no difference is tested against run-to-run noise.",
             "", f"Thresholds: matches = loss gap at most {MATCH_NATS} nats; close = perplexity within "
             f"{100 * (CLOSE - 1):.0f}%; collapses = perplexity at least {COLLAPSE:g}x FP16's.", ""]  # fmt: skip
    write_table(
        out_md,
        f"Claims ledger, profile `{profile}`",
        intro,
        table,
        ["", "The same entries, with the numbers, are in `claims.json`."],
    )
