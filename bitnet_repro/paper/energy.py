"""Tables 1 and 2 (the per-operation energies and the matmul energy by size, beside the paper's printed cells)
and Figure 3 (FP16 against BitNet across Table 10's sizes), from the energy model of `cost.energy`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bitnet_repro.cost.energy import OP_ENERGY_PJ, Shape, model_energy, table2
from bitnet_repro.paper.writer import Table, pyplot, read_csv, save_figure, write_csv, write_table
from bitnet_repro.presets import SIZES, preset_model

COMMAND, HELP = (("table1", "table2", "figure3", "energy"),
                 "Tables 1 and 2 (Figure 3 with --figure3): arithmetic energy of FP32/FP16 Transformers and BitNet")


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", type=Path, help="where Tables 1 and 2 go (CSV and Markdown)")
    p.add_argument("--figure3", type=Path, help="Figure 3's output path without extension (CSV, PNG, PDF, caption)")
    p.add_argument("--paper-table2", help="CSV of the paper's Table 2, for the columns labelled as the paper's")


def run(out_dir: Path | None = None, figure3: Path | None = None, paper_table2: str | None = None) -> None:
    """Tables 1 and 2 into `out_dir` and Figure 3 at `figure3`, whichever is given."""
    if figure3:
        for r in plot_figure3(figure3):
            print(f"{r['size']:>5}: FP16 / BitNet energy, MUL {r['mul_ratio']:.1f}x, ADD {r['add_ratio']:.1f}x")
    if out_dir:
        write_tables(out_dir, paper_table2)
        print((out_dir / "table2.md").read_text())


def _table(rows: list[dict]) -> Table:
    table = Table(list(rows[0]))
    for r in rows:
        table.add(*r.values())
    return table


def write_tables(out_dir, paper_table2=None) -> list[dict]:
    """results/energy/table1.{csv,md} (the per-operation energies used) and table2.{csv,md}: our Table 2 with
    the paper's printed cells beside, labelled as the paper's."""
    out_dir = Path(out_dir)
    t1 = [{"bits": b, "add_pj_45nm": e["add"][0], "add_pj_7nm": e["add"][1], "mul_pj_45nm": e["mul"][0],
           "mul_pj_7nm": e["mul"][1]} for b, e in OP_ENERGY_PJ.items()]  # fmt: skip
    paper = {}
    if paper_table2 and Path(paper_table2).is_file():
        paper = {(r["model"], r["size"], r["wbits"]): r for r in read_csv(Path(paper_table2))}
    rows = []
    for r in table2():
        row = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
        ref = paper.get((r["model"], r["size"], str(r["wbits"])))
        for k in ("mul_j_7nm", "add_j_7nm", "mul_j_45nm", "add_j_45nm"):
            row[f"paper_{k}"] = float(ref[k]) if ref else None
            row[f"rel_diff_{k}"] = round(abs(r[k] - float(ref[k])) / float(ref[k]), 4) if ref else None
        rows.append(row)
    write_table(out_dir / "table1.md", "Table 1: energy per operation (pJ), the values the energy model uses", "",
                "From Horowitz (2014) and Zhang et al. (2022), as printed in the paper's Table 1.", "", _table(t1),
                out_csv=out_dir / "table1.csv", csv_rows=t1)  # fmt: skip
    cols = ["model", "size", "wbits"]
    md_rows = []
    for r in rows:
        m = {c: r[c] for c in cols}
        for k, label in (("mul_j_7nm", "MUL 7nm"), ("add_j_7nm", "ADD 7nm"), ("mul_j_45nm", "MUL 45nm"),
                         ("add_j_45nm", "ADD 45nm")):  # fmt: skip
            m[label] = f"{r[k]:.3f}"
            m[f"{label} (paper)"] = "-" if r[f"paper_{k}"] is None else f"{r[f'paper_{k}']:.2f}"
        md_rows.append(m)
    write_table(out_dir / "table2.md", "Table 2: energy (J) of the matrix multiplications for 512 input tokens", "",
        "Computed by `bitnet_repro.cost.energy` from Eq. 10-12 and Table 1 (accounting in its docstring: the six "
        "projections of every block, 4d FFN, no output head, plus Q K^T and A V; BitNet projections as INT8 "
        "additions and FP16 rescaling, attention in FP16). Columns marked (paper) are the paper's printed values.",
        "", _table(md_rows), out_csv=out_dir / "table2.csv", csv_rows=rows, paper=paper_table2)  # fmt: skip
    return rows


def plot_figure3(out, tokens: int = 512, node: str = "7nm") -> list[dict]:
    """Figure 3: matmul energy (MUL and ADD) of the FP16 Transformer and BitNet at `node` across the sizes of
    Table 10 (b1-125M .. b1-30B; their d_model and layers, FFN 4d as in Table 2), for `tokens` input tokens.
    Writes out.csv, out.png, out.pdf and a caption out.md."""
    plt = pyplot()
    out = Path(out)
    rows = []
    for name, spec in SIZES.items():
        if spec["source"] != "Table 10":
            continue
        shape = Shape(spec["d_model"], spec["n_layers"])
        params = preset_model(name, "fp16").n_params_nonembedding
        fp = model_energy(shape, tokens, "FP16", node)
        bn = model_energy(shape, tokens, "INT8", node, bitnet=True)
        rows.append({"size": name.removeprefix("b1-"), "d_model": shape.d_model, "n_layers": shape.n_layers,
                     "params": params, "node": node, "tokens": tokens,
                     "fp16_mul_j": fp["mul"], "fp16_add_j": fp["add"], "bitnet_mul_j": bn["mul"],
                     "bitnet_add_j": bn["add"], "mul_ratio": fp["mul"] / bn["mul"],
                     "add_ratio": fp["add"] / bn["add"],
                     "total_ratio": (fp["mul"] + fp["add"]) / (bn["mul"] + bn["add"])})  # fmt: skip
    write_csv(out.with_suffix(".csv"), rows, list(rows[0]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    x = range(len(rows))
    for ax, op in zip(axes, ("mul", "add")):
        w = 0.38
        low = min(r[f"bitnet_{op}_j"] for r in rows)
        bottom = 10 ** math.floor(math.log10(low / 3))  # the bars stand on a power of ten well below the lowest
        ax.bar([i - w / 2 for i in x], [r[f"fp16_{op}_j"] - bottom for r in rows], w, bottom=bottom,
               label="Transformer (FP16)", color="#4c72b0")  # fmt: skip
        ax.bar([i + w / 2 for i in x], [r[f"bitnet_{op}_j"] - bottom for r in rows], w, bottom=bottom,
               label="BitNet", color="#dd8452")  # fmt: skip
        for i, r in zip(x, rows):
            ax.annotate(f"{r[f'{op}_ratio']:.0f}x" if r[f"{op}_ratio"] >= 10 else f"{r[f'{op}_ratio']:.1f}x",
                        (i + w / 2, r[f"bitnet_{op}_j"]), ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set(yscale="log", ylim=(bottom, None), xticks=list(x), xticklabels=[r["size"] for r in rows],
               xlabel="model size (Table 10)", ylabel="energy (J, log scale)",
               title=f"{op.upper()} energy at {node}, {tokens} input tokens")  # fmt: skip
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Figure 3: matmul energy of the energy model (computed at {node}, not measured); labels: FP16 / "
                 "BitNet", fontsize=10)  # fmt: skip
    save_figure(fig, out, (
        f"Figure 3. Energy of the matrix multiplications (Eq. 10-12, Table 1 at {node}) for {tokens} input "
        f"tokens, FP16 Transformer vs BitNet, at the sizes of Table 10 ({', '.join(r['size'] for r in rows)}). "
        "Accounting as Table 2 (bitnet_repro.cost.energy): the six projections of every block with a 4d FFN, no "
        "output head, plus Q K^T and A V; BitNet's projections are INT8 additions plus FP16 rescaling and its "
        "attention stays in FP16. Labels: FP16 / BitNet ratio. Data: figure3.csv.\n"))  # fmt: skip
    return rows
