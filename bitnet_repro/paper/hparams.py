"""Tables 10-13 of the BitNet paper, the hyperparameters: the shapes and recipes the DAG trains with, read from
the resolved profiles (the presets of `bitnet_repro/presets.py` through `workflows/profiles/*.yaml`), beside the
values the paper prints, so that a changed preset changes the table; each row names the fields where ours differ.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bitnet_repro.config import VARIANT_LABELS, RunConfig
from bitnet_repro.paper.writer import Table, read_csv, write_table
from bitnet_repro.profile import Profile

COMMAND, HELP = (("table10", "table11", "table12", "table13", "hparams-table"),
                 "Tables 10-13: the hyperparameters the DAG trains with, beside the paper's")

FILES = {"10": "table10_b1_hparams.csv", "11": "table11_ablation_hparams.csv", "12": "table12_b158_configs.csv",
         "13": "table13_b158_hparams.csv"}  # fmt: skip
# our field -> the paper CSV's column
T10 = {"d_model": "hidden", "n_layers": "layers", "n_heads": "heads", "lr": "lr", "weight_decay": "weight_decay",
       "steps": "steps", "warmup_steps": "warmup"}  # fmt: skip
T11 = {"lr": "peak_lr", "steps": "training_updates", "batch_tokens": "tokens_per_sample", "betas": "adam_beta",
       "schedule": "lr_scheduler", "warmup_steps": "warmup_updates", "weight_decay": "weight_decay"}  # fmt: skip
T12 = {"d_model": "hidden", "d_ff": "glu", "n_heads": "heads", "n_layers": "layers"}
T13 = {"lr": "lr_stage1", "lr_stage2": "lr_stage2", "weight_decay": "wd_stage1", "wd_stage2": "wd_stage2",
       "batch_tokens": "batch_tokens", "steps": "steps", "warmup_steps": "warmup"}  # fmt: skip
# What the paper prints outside its tables' cells: Table 10's caption (polynomial decay, batch size 128, i.e.
# Table 11's 256K tokens) and Appendix B (2,048-token sequences, gradient clipping disabled); Appendix C (Adam β,
# 2,048-token sequences) and, for BitNet b1.58, Table 13's arrows and Figure 10 (the two-stage schedule).
B1_TEXT = {"schedule": "polynomial decay", "batch_tokens": "256K", "seq_len": "2048", "grad_clip": "disabled"}
B158_TEXT = {"betas": "(0.9, 0.95)", "seq_len": "2048"}
WORDS = {"polynomial decay": "polynomial", "two-stage": "two_stage", "disabled": 0.0}
# our fields, in the CSV's and the page's order, with the page's headers
HEADERS = {"d_model": "hidden", "n_layers": "layers", "n_heads": "heads", "d_ff": "FFN (SwiGLU)",
           "params_nonembedding": "block linear weights (N)", "schedule": "schedule", "lr": "peak LR",
           "lr_stage2": "LR stage 2", "weight_decay": "WD", "wd_stage2": "WD stage 2", "betas": "Adam β",
           "warmup_steps": "warmup", "steps": "steps", "batch_tokens": "batch tokens", "seq_len": "seq len",
           "grad_clip": "grad clip"}  # fmt: skip
COMPARED = [f for f in HEADERS if f != "params_nonembedding"]
B1_COLUMNS = ["d_model", "n_layers", "n_heads", "d_ff", "lr", "weight_decay", "steps", "betas", "warmup_steps",
              "batch_tokens", "seq_len", "schedule", "grad_clip"]  # fmt: skip
B158_COLUMNS = ["d_model", "d_ff", "n_heads", "n_layers", "lr", "lr_stage2", "weight_decay", "wd_stage2", "betas",
                "batch_tokens", "steps", "warmup_steps", "seq_len", "schedule"]  # fmt: skip


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profiles", nargs="+", type=Path, required=True, help="profile YAML files, the paper's among them")
    p.add_argument("--paper-dir", type=Path, help="directory of the paper's tables (CSV); without it, '-'")
    p.add_argument("--profile", required=True, help="name of the profile whose ladder is listed first")
    p.add_argument("--out-csv", type=Path, required=True, help="CSV file to write (every row, every column)")
    p.add_argument("--out-md", type=Path, required=True, help="Markdown file to write (the tables and their captions)")


def resolved(run: RunConfig) -> dict[str, Any]:
    """A run's shape and recipe; a one-stage schedule's stage 2 is its stage 1, as Table 13's LLaMA rows print it."""
    m, t = run.model, run.train
    return {"d_model": m.d_model, "n_layers": m.n_layers, "n_heads": m.n_heads, "d_ff": m.d_ff,
            "params_nonembedding": m.n_params_nonembedding, "schedule": t.schedule, "lr": t.lr,
            "lr_stage2": t.lr if t.lr_stage2 is None else t.lr_stage2, "weight_decay": t.weight_decay,
            "wd_stage2": t.weight_decay if t.wd_stage2 is None else t.wd_stage2, "betas": t.betas,
            "warmup_steps": t.warmup_steps, "steps": t.steps, "batch_tokens": t.batch_tokens, "seq_len": t.seq_len,
            "grad_clip": t.grad_clip}  # fmt: skip


def value(printed: str) -> Any:
    """A printed value as our config holds it: token counts '256K', '1M' with K = 1024 and M = 1024²
    (128 x 2048 = 262,144; 512 x 2048 = 1,048,576), '(0.9, 0.98)' a pair, the paper's words in our names."""
    s = printed.strip()
    if s in WORDS:
        return WORDS[s]
    if s.startswith("("):
        return tuple(float(x) for x in s.strip("()").split(","))
    scale = {"K": 1024, "M": 1024**2}.get(s[-1:], 1)
    try:
        return float(s[:-1] if scale > 1 else s) * scale
    except ValueError:
        return s


def same(ours: Any, paper: Any) -> bool:
    """Equal as numbers (pairs element by element), else as names."""
    if isinstance(ours, tuple) and isinstance(paper, tuple):
        return len(ours) == len(paper) and all(same(a, b) for a, b in zip(ours, paper))
    if isinstance(ours, (int, float)) and isinstance(paper, (int, float)):
        return math.isclose(ours, paper, rel_tol=1e-9, abs_tol=1e-12)
    return ours == paper


def paper_values(run: RunConfig, tables: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """The paper's printed values for a run of the `paper` profile (its Table 10 row, or its Table 12 and 13
    rows), by our field names; {} where the paper has no row."""
    family, _, tag = run.size.partition("-")
    pick = lambda t, **keys: next((r for r in tables.get(t, []) if all(r[k] == v for k, v in keys.items())), None)  # noqa: E731
    if family == "b1" and (row := pick("10", size=tag)):
        betas = f"({row['adam_beta1']}, {row['adam_beta2']})"
        return {**{k: row[c] for k, c in T10.items()}, "betas": betas, **B1_TEXT}
    out = {k: row[c] for k, c in T12.items()} if family == "b158" and (row := pick("12", size=tag)) else {}
    if family == "b158" and (row := pick("13", size=tag, model=model_label(run))):
        out.update({k: row[c] for k, c in T13.items()}, **B158_TEXT)
        if run.variant != "fp16":
            out["schedule"] = "two-stage"
    return out


def model_label(run: RunConfig) -> str:
    """The paper's name for a run's model: Table 10's FP16 Transformer, Table 13's LLaMA LLM, or BitNet's."""
    if run.variant == "fp16":
        return "FP16 Transformer" if run.size.startswith("b1-") else "LLaMA LLM"
    return VARIANT_LABELS[run.variant]


def show(field: str, v: Any) -> str:
    """Our value as the page prints it: learning rates as the paper does (2.4e-3), token counts with commas."""
    if field in ("lr", "lr_stage2"):
        mantissa, exp = f"{v:e}".split("e")
        return f"{float(mantissa):g}e{int(exp)}"
    if field in ("batch_tokens", "params_nonembedding"):
        return f"{v:,}"
    if field == "betas":
        return f"({v[0]:g}, {v[1]:g})"
    return "off" if field == "grad_clip" and v == 0 else f"{v:g}" if isinstance(v, float) else str(v)


def comparison(table: str, runs: list[RunConfig], columns: list[str], tables: dict, rows: list[dict]) -> Table:
    """One page row per size and recipe (`ours / paper` in each cell; the models of a size that train alike share
    a row), one CSV row per run, appended to `rows`."""
    out = Table(["size", "model", *(HEADERS[f] for f in columns), "differs from the paper"],
                "ll" + "r" * len(columns) + "l")  # fmt: skip
    for run in runs:
        ours, paper = resolved(run), paper_values(run, tables)
        differs = [f for f in COMPARED if f in paper and not same(ours[f], value(paper[f]))]
        rows.append({"table": table, "profile": run.profile, "run": run.name, "size": run.size,
                     "variant": run.variant, **ours, **{f"paper_{f}": paper.get(f) for f in COMPARED},
                     "differs": ";".join(differs)})  # fmt: skip
        unmatched = table == "12-13" and "13" in tables and "lr" not in paper
        cells = [run.size.partition("-")[2], model_label(run) + (" (no row in Table 13)" if unmatched else ""),
                 *(f"{show(f, ours[f])} / {paper.get(f, '-')}" for f in columns),
                 ", ".join(differs) or ("none" if paper else "-")]  # fmt: skip
        if out.rows and out.rows[-1][0] == cells[0] and out.rows[-1][2:] == cells[2:]:
            out.rows[-1][1] += f", {cells[1]}"
        else:
            out.add(*cells)
    return out


def ladder(p: Profile, rows: list[dict]) -> Table:
    """Every run of a profile's ladder with its resolved recipe (stage 2: two-stage schedules only)."""
    cols = [f for f in HEADERS if f != "grad_clip"]
    out = Table(["run", "size", "variant", *(HEADERS[f] for f in cols)], "lll" + "r" * len(cols))
    for run in p.runs:
        ours = resolved(run)
        rows.append({"table": "ladder", "profile": p.name, "run": run.name, "size": run.size, "variant": run.variant,
                     **ours})  # fmt: skip
        one_stage = run.train.schedule != "two_stage"
        out.add(run.name, run.size, VARIANT_LABELS[run.variant],
                *("-" if one_stage and f.endswith("stage2") else show(f, ours[f]) for f in cols))  # fmt: skip
    return out


def table11_line(tables: dict, runs: list[RunConfig], every: list[RunConfig]) -> str:
    """What of Table 11 (the b1 ablations' recipe, its Absmax column) the b1 runs share, and whether any run is
    the Elastic ablation."""
    elastic = [r.name for r in every if r.model.act_quantizer == "elastic"]
    trained = (f"The DAG trains the Elastic ablation as {', '.join(elastic)}" if elastic else
               "The Elastic ablation (Table 9) is not trained by the DAG yet (no run of these profiles sets "
               "`act_quantizer: elastic`)")  # fmt: skip
    absmax = {r["hyperparameter"]: r["absmax"] for r in tables.get("11", [])}
    if not absmax or not runs:
        return f"Table 11 (the recipe of the BitNet b1 ablations, Table 9): not compared. {trained}."
    sizes = lambda rs: list(dict.fromkeys(r.size.partition("-")[2] for r in rs))  # noqa: E731
    shared, parts = [], []
    for f, c in T11.items():
        have = sizes(r for r in runs if same(resolved(r)[f], value(absmax[c])))
        if have == sizes(runs):
            shared.append(HEADERS[f])
        else:
            parts.append(f"its {HEADERS[f]} {absmax[c]} is that of {', '.join(have) or 'no size'}")
    return (f"Table 11 (the recipe of the BitNet b1 ablations, Table 9; its Absmax column): the b1 runs of every "
            f"size share its {', '.join(shared) or 'nothing'}; {'; '.join(parts) or 'and all of it'}. "
            f"{trained}.")  # fmt: skip


def run(profiles: list[Path], paper_dir: Path | None, profile: str, out_csv: Path, out_md: Path) -> list[dict]:
    """The page and the CSV: Tables 10 and 12-13 from the `paper` profile among `profiles`, Table 11's line, then
    the ladder of each other profile (`profile`'s first)."""
    loaded = [Profile.load(p) for p in profiles]
    paper = next((p for p in loaded if p.name == "paper"), None)
    if paper is None:
        raise ValueError(f"--profiles {[str(p) for p in profiles]}: none is the `paper` profile")
    missing = [f for f in FILES.values() if paper_dir is None or not (paper_dir / f).is_file()]
    tables = {t: read_csv(paper_dir / f) for t, f in FILES.items() if f not in missing}
    b1 = [r for r in paper.runs if r.size.startswith("b1-")]
    b158 = [r for r in paper.runs if r.size.startswith("b158-")]
    every = [r for p in loaded for r in (*p.runs, *p.pilots)]
    rows: list[dict] = []
    blocks: list[Any] = ["", f"Profile `{profile}`. The shapes and recipes the DAG trains with, resolved from the "
                         "profiles (the presets of `bitnet_repro/presets.py` with the overrides of "
                         f"{', '.join(f'`{p}`' for p in profiles)}), beside the values the paper prints. Each cell: "
                         "ours / the paper's ('-' where the paper prints none); the last column lists the fields "
                         "whose values differ, compared as numbers (2.4e-3 = 0.0024; token counts 256K and 1M read "
                         "with K = 1024 and M = 1024²: 128 x 2048 = 262,144 and 512 x 2048 = 1,048,576)."]  # fmt: skip
    if missing:
        where = f"looked in {paper_dir} for {', '.join(missing)}" if paper_dir else "no --paper-dir given"
        blocks += ["", f"The paper's tables were not found ({where}): the paper's values read '-'."]
    blocks += ["", "## Table 10: BitNet b1 and the FP16 Transformer, the `paper` profile", "",
               comparison("10", b1, B1_COLUMNS, tables, rows),
               "", "## Tables 12 and 13: BitNet b1.58 and LLaMA LLM, the `paper` profile", "",
               comparison("12-13", b158, B158_COLUMNS, tables, rows),
               "", "## Table 11", "", table11_line(tables, b1, every)]  # fmt: skip
    others = sorted((p for p in loaded if p.name != "paper"), key=lambda p: p.name != profile)
    for p in others:
        blocks += ["", f"## The `{p.name}` profile's ladder", "", ladder(p, rows)]
    blocks += ["", "Notes:", "",
               "- Table 10 gives no FFN width: the b1 paper's Transformer has a 4d two-matrix FFN, and a SwiGLU of "
               "width 8d/3 (rounded up to a multiple of 64) has the same parameter count (`presets.py`).",
               "- The paper's values outside its tables' cells are read from its text: Table 10's caption (polynomial "
               "decay, batch size 128) and Appendix B (2,048-token sequences, gradient clipping disabled); Appendix C "
               "(Adam β (0.9, 0.95), 2,048-token sequences, batch size 512) and Table 13's arrows (BitNet b1.58's "
               "two-stage schedule). The paper gives no schedule for LLaMA LLM.",
               "- A one-stage schedule's stage-2 LR and WD are its stage-1 values (as Table 13's LLaMA).",
               "- N: the weights of the blocks' linear layers (Kaplan et al.'s non-embedding count); the training "
               "table's non-embedding count also includes the norm gains."]  # fmt: skip
    extra = [f"{model_label(r)} {r.size.partition('-')[2]}" for r in b158 if "lr" not in paper_values(r, tables)]
    if extra and "13" in tables:
        blocks.append(f"- Table 13 has no row for {', '.join(extra)} "
                      "(the paper sets BitNet b1.58 3.9B against LLaMA LLM 3B, Tables 4 and 5): the DAG trains "
                      "one, compared with Table 12's shape only.")  # fmt: skip
    columns = ["table", "profile", "run", "size", "variant", *HEADERS, *(f"paper_{f}" for f in COMPARED), "differs"]
    title = f"Hyperparameters (Tables 10-13) beside the paper's, profile `{profile}`"
    write_table(out_md, title, blocks, out_csv=out_csv, csv_rows=rows, columns=columns)
    return rows
