"""The one writer of the paper's outputs: Markdown tables with their CSV and an HTML rendering beside them,
figures (PNG + PDF), and the labels and orders every table shares.

A paper table is one module of this package. It turns results into rows, then hands a `Table` (header cells,
alignment, cell strings) with its title, intro and notes to `write_table`, which writes the Markdown page, the
same page as HTML (what the report shows: `html_page`) and the CSV. Figures go through `save_figure`. README
"Adding a paper table" walks through a new one.

    python -m bitnet_repro.paper.writer PAGE.md [--out PAGE.html]

renders a Markdown page written elsewhere (the task inventory) as the same HTML.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitnet_repro.config import LINEAR_TYPES, VARIANT_LABELS
from bitnet_repro.presets import SIZES
from bitnet_repro.profile import REPO_ROOT
from bitnet_repro.utils import DATA_ENV, PAPER_ENV, atomic_write_text

# matplotlib is imported where used: heavy (seconds to import) and needed by few commands

SIZE_ORDER = list(SIZES)  # the presets' order: the smoke sizes, the CPU ladder, then the paper's
VARIANT_ORDER = list(LINEAR_TYPES)
VAL_NAMES = [("c4", "C4 held-out"), ("indomain", "in-domain"), ("wikitext2", "WikiText-2")]


def table_arguments(p, inputs: str, help: str, nargs: str | int = "+", ngram: str | None = None) -> None:
    """The arguments of a table command: its input files, the profile, the Markdown page and the CSV; with
    `ngram` (its help), the profile's ngram.json, read as JSON."""
    p.add_argument(inputs, nargs=nargs, type=Path, help=help)
    p.add_argument("--profile", required=True, help="profile name, stated in the table's title")
    p.add_argument("--out-csv", type=Path, required=True, help="CSV file to write (the table's rows, every column)")
    p.add_argument("--out-md", type=Path, required=True,
                   help="Markdown file to write (the table and its caption); its HTML page is written beside it")
    if ngram:
        p.add_argument("--ngram", type=read_json, help=ngram)


def figure_arguments(p, inputs: str, help: str, nargs: str | int | None = None) -> None:
    """The arguments of a figure command: its inputs, the profile, the output path without extension."""
    p.add_argument(inputs, nargs=nargs, type=Path, help=help)
    p.add_argument("--profile", required=True, help="profile name, stated in the figure's caption")
    p.add_argument("--out", type=Path, required=True, help="output path without extension (.png, .pdf, caption .md)")


def size_key(row: dict) -> tuple:
    """Rows in ladder order: size, then non-embedding parameters, then FP16, b1, b1.58."""
    size = SIZE_ORDER.index(row["size"]) if row["size"] in SIZE_ORDER else len(SIZE_ORDER)
    variant = VARIANT_ORDER.index(row["variant"]) if row["variant"] in VARIANT_ORDER else 9
    return (size, row["params_nonembedding"], variant)


def fmt(v: float | None, spec: str = ".2f") -> str:
    """A number, or '-' when it is missing."""
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def pm(value: float | None, stderr: float | None, scale: float = 100.0) -> str:
    """An accuracy with its standard error, in % by default: '61.2 ± 1.4'."""
    if value is None:
        return "-"
    return f"{value * scale:.1f} ± {stderr * scale:.1f}" if stderr is not None else f"{value * scale:.1f}"


def device_label(ours: dict) -> str:
    """Where a results JSON was measured, e.g. "cpu (2 threads, x86_64)" (threads absent for unscored models)."""
    threads = ours.get("throughput", {}).get("threads")
    parts = [f"{threads} threads" if threads else "", ours.get("meta", {}).get("processor", "")]
    return f"{ours.get('device', 'cpu')} ({', '.join(p for p in parts if p)})"


@dataclass
class Table:
    """A Markdown table: header cells, one alignment letter per column ('l' or 'r'), rows of cell strings."""

    columns: Sequence[str]
    align: str = ""
    rows: list[Sequence[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.align = self.align or "l" * len(self.columns)
        if len(self.align) != len(self.columns) or set(self.align) - {"l", "r"}:
            raise ValueError(f"align {self.align!r} must give 'l' or 'r' for each of {len(self.columns)} columns")

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells in a table of {len(self.columns)} columns: {cells}")
        self.rows.append([str(c) for c in cells])

    def lines(self) -> list[str]:
        rule = "|" + "".join("---:|" if a == "r" else "---|" for a in self.align)
        return [_line(self.columns), rule, *(_line(r) for r in self.rows)]

    def bullets(self) -> list[str]:
        """The rows as a list, one bullet each ('- first cell: header value, ...'): for a figure's caption, which
        the report reads as reStructuredText, where a Markdown table does not parse."""
        return [f"- {r[0]}: " + ", ".join(f"{h} {c}" for h, c in zip(self.columns[1:], r[1:], strict=True))
                for r in self.rows]  # fmt: skip


def _line(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(title: str, *blocks: str | Table | Iterable[str | Table]) -> str:
    """A Markdown page: '# title', then each block (a line, a Table, or a list of them) in order."""
    lines = [f"# {title}"]

    def put(b: Any) -> None:
        if isinstance(b, Table):
            lines.extend(b.lines())
        elif isinstance(b, str):
            lines.append(b)
        else:
            for x in b:
                put(x)

    for b in blocks:
        put(b)
    return "\n".join(lines) + "\n"


def write_table(out_md: Path, title: str, *blocks: str | Table | Iterable[str | Table],
                csv_rows: list[dict[str, Any]] | None = None, out_csv: Path | None = None,
                columns: list[str] | None = None, paper: str | Path | None = None) -> None:  # fmt: skip
    """The Markdown page (see `markdown`), the same page as HTML beside it (`out_md` with the suffix .html, see
    `html_page`) and, given `out_csv`, the rows as CSV with `columns` (default: the first row's keys). `paper`:
    the paper's table that the page's paper columns come from; when it is not there, the page says so
    (`paper_missing`)."""
    if out_csv is not None:
        write_csv(out_csv, csv_rows or [], columns if columns is not None else list((csv_rows or [{}])[0]))
    page = markdown(title, *blocks, paper_missing(paper))
    atomic_write_text(out_md, page)
    atomic_write_text(html_path(out_md), html_page(page))


def html_path(out_md: Path) -> Path:
    """Where `write_table` puts the HTML rendering of a Markdown page: beside it, suffix .html."""
    return Path(out_md).with_suffix(".html")


# The HTML rendering of a page: self-contained (one file, no scripts, no external resources), every rule scoped
# to the page's outer <div> so that the page can also be inlined into another (the report's front page).
HTML_CLASS = "paper-table"
HTML_STYLE = f"""
.{HTML_CLASS} {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1e293b;
  padding: 12px 16px; max-width: 100%; box-sizing: border-box; }}
.{HTML_CLASS} h1 {{ font-size: 19px; font-weight: 650; margin: 0 0 10px; color: #0f172a; }}
.{HTML_CLASS} h2 {{ font-size: 15px; font-weight: 650; margin: 18px 0 6px; color: #0f172a; }}
.{HTML_CLASS} h3 {{ font-size: 14px; font-weight: 650; margin: 14px 0 4px; }}
.{HTML_CLASS} p, .{HTML_CLASS} ul {{ margin: 6px 0; max-width: 90em; }}
.{HTML_CLASS} ul {{ padding-left: 1.4em; }}
.{HTML_CLASS} li {{ margin: 2px 0; }}
.{HTML_CLASS} .scroll {{ overflow-x: auto; margin: 10px 0 12px; }}
.{HTML_CLASS} table {{ border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums;
  margin: 0; }}
.{HTML_CLASS} th {{ background: #e2e8f0; color: #0f172a; font-weight: 600; text-align: left; vertical-align: bottom;
  border-bottom: 2px solid #64748b; }}
.{HTML_CLASS} th, .{HTML_CLASS} td {{ padding: 4px 6px; border-bottom: 1px solid #e2e8f0; }}
.{HTML_CLASS} td {{ vertical-align: top; overflow-wrap: break-word; }}
.{HTML_CLASS} th.r, .{HTML_CLASS} td.r {{ text-align: right; }}
.{HTML_CLASS} td.r {{ white-space: nowrap; }}
.{HTML_CLASS} tbody tr:nth-child(even) {{ background: #f8fafc; }}
.{HTML_CLASS} tbody tr:hover {{ background: #fef9c3; }}
.{HTML_CLASS} code {{ font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f1f5f9;
  padding: 0 3px; border-radius: 3px; overflow-wrap: break-word; }}
"""
_RULE = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+$")
# A number as the tables print one: 45.16, 1,032, 4.8e4, +0.352, 43.1%, 1.49x, 44.6 ± 2.2; '-' is a missing one
_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?[%x]?( ± [\d.]+)?$")


def _inline(text: str) -> str:
    """Markdown's inline marks in a line the writer wrote (`code`, **bold**) as HTML, everything else escaped."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append("<code>" + html.escape(part[1:-1]).replace("/", "/<wbr>") + "</code>")  # paths break at /
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part, quote=False)))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split(" | ")]


def _html_table(lines: list[str]) -> list[str]:
    """A Markdown table (header, rule, rows; or rows alone) as an HTML table, the rule's alignment kept."""
    header, rows, align = None, [_cells(r) for r in lines], []
    if len(lines) > 1 and _RULE.match(lines[1].strip()):
        header, rows = rows[0], rows[2:]
        align = ["r" if c.endswith(":") else "" for c in _cells(lines[1])]
    # a column of numbers (and '-') reads right-aligned, whatever the Markdown's alignment
    for i in range(max(map(len, rows), default=0)):
        column = [r[i] for r in rows if i < len(r) and r[i] != "-"]
        if column and all(_NUMBER.match(c) for c in column):
            align += [""] * (i + 1 - len(align))
            align[i] = "r"

    def cls(i: int) -> str:
        return ' class="r"' if i < len(align) and align[i] == "r" else ""

    out = ['<div class="scroll"><table>']
    if header is not None:
        out.append("<thead><tr>" + "".join(f"<th{cls(i)}>{_inline(c)}</th>" for i, c in enumerate(header))
                   + "</tr></thead>")  # fmt: skip
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td{cls(i)}>{_inline(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows]
    out.append("</tbody></table></div>")
    return out


def html_page(page: str) -> str:
    """A Markdown page as the writer writes it ('# title', lines of text, '- ' bullets, '## ' headings, tables)
    as one self-contained HTML page: the title as its heading, each line of text a paragraph, each table an
    HTML table with its columns' alignment."""
    lines = page.splitlines()
    title = next((x[2:].strip() for x in lines if x.startswith("# ")), "")
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            body += _html_table(lines[i:j])
            i = j
            continue
        if line.startswith("- "):
            j = i
            while j < len(lines) and lines[j].startswith("- "):
                j += 1
            body += ["<ul>", *(f"<li>{_inline(x[2:])}</li>" for x in lines[i:j]), "</ul>"]
            i = j
            continue
        m = re.match(r"^(#{1,3}) (.*)$", line)
        if m:
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(["<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(_plain(title))}</title>", f"<style>{HTML_STYLE}</style>", "</head>",
                      "<body>", f'<div class="{HTML_CLASS}">', *body, "</div>", "</body>", "</html>", ""])  # fmt: skip


def _plain(text: str) -> str:
    """A line without its inline marks (for the page's <title>)."""
    return text.replace("**", "").replace("`", "")


def write_html(md: Path, out: Path | None = None) -> Path:
    """The HTML rendering of a Markdown page on disk (`html_page`), beside it unless `out` is given."""
    out = out or html_path(md)
    atomic_write_text(out, html_page(Path(md).read_text(encoding="utf-8")))
    return out


def paper_dir() -> Path:
    """The directory of the paper's tables (CSV, FIGURES.md): $BITNET_REPRO_PAPER, else `paper/` beside the data
    directory named by $BITNET_REPRO_DATA, else `../shared/paper` beside the repository."""
    if os.environ.get(PAPER_ENV):
        return Path(os.environ[PAPER_ENV]).expanduser().resolve()
    if os.environ.get(DATA_ENV):
        beside = Path(os.environ[DATA_ENV]).expanduser().resolve().parent / "paper"
        if beside.is_dir():
            return beside
    return REPO_ROOT.parent / "shared" / "paper"


def paper_missing(path: str | Path | None) -> list[str]:
    """A note for a page whose paper columns are empty because the paper's table is not at `path`."""
    if path is None or Path(path).exists():
        return []
    return ["", f"**The paper's columns are empty**: its table was not found at `{path}`. Point the suite at the "
            f"paper's tables with `export {PAPER_ENV}=/path/to/paper` and rebuild this table."]  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows as CSV with the given columns (extra keys ignored), written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


STYLE = {v: (VARIANT_LABELS[v], ls) for v, ls in zip(LINEAR_TYPES, ("-", ":", "--"))}  # label, line style


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: Path, caption: str | None = None) -> None:
    """The figure as out.png and out.pdf, and its caption as out.md."""
    plt = pyplot()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".pdf"):
        fig.savefig(out.with_suffix(suffix), dpi=150, metadata={"CreationDate": None} if suffix == ".pdf" else {})
    plt.close(fig)
    if caption is not None:
        atomic_write_text(out.with_suffix(".md"), caption)


# ------------------------------------------------------------------------------------------------------
# The count-model floor and the FP16 reference, shared by the training, pilot and evaluation tables
# ------------------------------------------------------------------------------------------------------

NGRAM_ORDER = 3  # the floor the tables name: the Kneser-Ney trigram
NGRAM_NAMES = {1: "KN unigram", 2: "KN bigram", 3: "KN trigram"}


def ngram_rows(ngram: dict | None, protocol: str = "train") -> list[dict]:
    """The count models of ngram.json as rows with the summaries' keys (`val_<set>_loss|ppl|bpb`)."""
    if not ngram:
        return []
    rows = []
    for key, m in ngram["models"].items():
        order = int(key.removeprefix("kn"))
        row = {"size": "count model", "variant": NGRAM_NAMES.get(order, key), "order": order,
               "tokens": ngram["train_tokens"]}  # fmt: skip
        for n, _ in VAL_NAMES:
            v = m.get(f"{n}_{protocol}")
            if v:
                row.update({f"val_{n}_loss": v["loss"], f"val_{n}_ppl": v["ppl"], f"val_{n}_bpb": v["bpb"]})
        rows.append(row)
    return rows


def count_floor(ngram: dict | None) -> dict | None:
    """The floor the tables name (the Kneser-Ney trigram, NGRAM_ORDER) as a row of `ngram_rows`; None without it."""
    return next((c for c in ngram_rows(ngram) if c["order"] == NGRAM_ORDER), None)


def running_mean(values: list[float], k: int) -> list[float]:
    """The mean of each value and the k - 1 before it (fewer at the start): a training-loss curve, smoothed."""
    out = []
    for i in range(len(values)):
        window = values[max(0, i - k + 1) : i + 1]
        out.append(sum(window) / len(window))
    return out


def ngram_protocol(ngram: dict | None, tokens_c4: int | None) -> str:
    """Which scoring of the count models matches rows scored on `tokens_c4` C4 tokens: `train` (the first
    `eval_tokens`, the training runs' windows) or `whole` (the whole texts). Every order is scored on the same
    windows, so any fitted order tells."""
    models = (ngram or {}).get("models", {})
    train = next((m["c4_train"].get("tokens") for m in models.values() if "c4_train" in m), None)
    return "train" if ngram and tokens_c4 == train else "whole"


def floor_label(row: dict, floor: dict | None, sets: list[str], key: str = "val_{}_loss") -> str:
    """Where a model stands against the trigram: 'beats KN-3' (lower loss on every set), else 'n-gram level';
    empty when either loss is missing. `key` names a set's loss column (`val_c4_loss`, `loss_c4`)."""
    if not floor or row.get("status", "completed") != "completed":
        return ""
    pairs = [(row.get(key.format(n)), floor.get(key.format(n))) for n in sets]
    if any(a is None or b is None for a, b in pairs):
        return ""
    return "beats KN-3" if all(a < b for a, b in pairs) else "n-gram level"


def fp16_reference(size: str) -> str:
    """The FP16 size a row is compared with: its own, or the base size of a widened preset (`cpu-xs-2x`)."""
    return size.removesuffix("-2x")


def read_json(path: str | Path | None) -> Any:
    """A JSON input of a table (None when no path is given); also an argparse `type`."""
    return json.loads(Path(path).read_text()) if path else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render a Markdown table page as the HTML page the report shows.")
    ap.add_argument("md", type=Path, help="the Markdown page")
    ap.add_argument("--out", type=Path, help="the HTML page (default: beside the Markdown page, suffix .html)")
    args = ap.parse_args(argv)
    write_html(args.md, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
