"""The evaluation tables: every trained model's token perplexity and bits per byte, BLiMP and the Table 3 tasks
zero- and few-shot beside the count models (`eval_report`), and the real pretrained models' scores
(`pretrained_report`, with --pretrained)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_repro.eval.results import summary_rows
from bitnet_repro.eval.tasks import canonical_counts, group_tasks, table3_columns
from bitnet_repro.paper.writer import (
    NGRAM_ORDER,
    VAL_NAMES,
    Table,
    device_label,
    floor_label,
    fmt,
    ngram_protocol,
    ngram_rows,
    pm,
    size_key,
    table_arguments,
    write_csv,
    write_table,
)

COMMAND, HELP = "eval-report", "collect evaluation results into tables"
_COLUMNS = {c["task"]: c for c in table3_columns()}
TABLE3_TASKS = [(t, _COLUMNS[t]["metric"], _COLUMNS[t]["short"]) for t in group_tasks("table3")]  # the group's order
CANONICAL_N = canonical_counts()


def arguments(p: argparse.ArgumentParser) -> None:
    table_arguments(p, "results", "results JSON files written by `eval`", ngram="ngram.json: the count models as rows")
    p.add_argument("--pretrained", action="store_true", help="the pretrained-model table (one row per task)")
    p.add_argument("--out-long", type=Path, help="long CSV of every (model, suite, task, metric)")


def run(results: list[Path], out_csv: Path, out_md: Path, profile: str, pretrained: bool = False,
        ngram: dict | None = None, out_long: Path | None = None) -> list[dict]:  # fmt: skip
    """The evaluation table of the trained models, or with `pretrained` the pretrained models' table."""
    if pretrained:
        return pretrained_report(results, out_csv, out_md, profile)
    return eval_report(results, out_csv, out_md, out_long, profile, ngram)


def load_eval(path: Path) -> tuple[dict, list[dict]]:
    res = json.loads(path.read_text())
    return res, summary_rows(res)


def eval_report(files: list[Path], out_csv: Path, out_md: Path, out_long: Path | None, profile: str,
                ngram: dict | None = None) -> list[dict]:  # fmt: skip
    """One row per trained model: token PPL and bits per byte (C4, in-domain, WikiText-2), BLiMP, and the Table 3
    tasks zero- and few-shot; the count models of `ngram` as rows; plus a long CSV of every (model, suite, task,
    metric) for later tables."""
    long_rows, by_run = [], {}
    for path in files:
        res, rows = load_eval(path)
        ours = res["bitnet_repro"]
        run, suite = dict(ours.get("run", {})), path.stem
        summary = path.parents[2] / "runs" / run.get("run_id", "-") / "summary.json"
        if summary.is_file():  # the training table's parameter count (norm gains included), for one number per model
            run["params_nonembedding"] = json.loads(summary.read_text())["params_nonembedding"]
        key = run.get("run_id", ours["model"])
        device = device_label(ours)
        entry = by_run.setdefault(key, {"run": run, "suites": {}, "device": device})
        entry["suites"][suite] = ({(r["task"], r["metric"]): r for r in rows}, ours)
        for r in rows:
            long_rows.append({"profile": profile, "run_id": key, "size": run.get("size"),
                              "variant": run.get("variant"), "suite": suite, "num_fewshot": ours["num_fewshot"],
                              "limit": ours["limit"], **r})  # fmt: skip
    out = []
    for key, e in by_run.items():
        run = e["run"]
        row = {"size": run.get("size"), "variant": run.get("variant"),
               "params_nonembedding": run.get("params_nonembedding"), "tokens": run.get("tokens_trained"),
               "run_id": key, "device": e["device"]}  # fmt: skip
        for m, ours in e["suites"].values():
            if ("token_ppl_wikitext2", "ppl") in m:
                for n, _ in VAL_NAMES:
                    for metric, col in (("ppl", "ppl"), ("nll", "loss"), ("bpb", "bpb")):
                        if (f"token_ppl_{n}", metric) in m:
                            row[f"{col}_{n}"] = m[(f"token_ppl_{n}", metric)]["value"]
                            row[f"tokens_{n}"] = m[(f"token_ppl_{n}", metric)]["n"]
                row["ppl_avg"] = m[("token_ppl", "avg_ppl")]["value"]
                row["ppl_window"] = ours["token_ppl"]["window"]
            if ("wikitext", "word_perplexity") in m:
                row["wikitext_word_ppl"] = m[("wikitext", "word_perplexity")]["value"]
            if ("blimp", "acc") in m:
                row["blimp"], row["blimp_se"] = m[("blimp", "acc")]["value"], m[("blimp", "acc")]["stderr"]
                row["blimp_n"] = sum(r["n"] or 0 for (t, _), r in m.items() if t.startswith("blimp_"))
            shots = ours["num_fewshot"]
            accs = []
            for task, metric, short in TABLE3_TASKS:
                if (task, metric) in m:
                    r = m[(task, metric)]
                    row[f"{short}_{shots}shot"], row[f"{short}_{shots}shot_se"] = r["value"], r["stderr"]
                    row[f"{short}_{shots}shot_n"] = r["n"]
                    accs.append(r["value"])
            if len(accs) == len(TABLE3_TASKS):
                row[f"avg_{shots}shot"] = sum(accs) / len(accs)
        out.append(row)
    out.sort(key=lambda r: size_key({**r, "params_nonembedding": r["params_nonembedding"] or 0}))
    shots_seen = sorted({int(c.split("_")[1][0]) for r in out for c in r if c.startswith("avg_")})
    counts = []
    # the count models scored on the same tokens as the models: the first `eval_tokens` (train protocol) or all
    protocol = ngram_protocol(ngram, out[0].get("tokens_c4")) if out else "whole"
    for c in ngram_rows(ngram, protocol=protocol):
        counts.append({"size": "count model", "variant": c["variant"], "order": c["order"], "tokens": c["tokens"],
                       **{f"{m}_{n}": c.get(f"val_{n}_{m}") for n, _ in VAL_NAMES for m in ("ppl", "loss", "bpb")}})
        if ngram and "blimp" in ngram["models"][f"kn{c['order']}"]:
            b = ngram["models"][f"kn{c['order']}"]["blimp"]
            counts[-1].update(blimp=b["acc"], blimp_se=b["stderr"], blimp_n=b["n"])
    floor = next((c for c in counts if c["order"] == NGRAM_ORDER), None)
    sets = [n for n, _ in VAL_NAMES if any(f"loss_{n}" in r for r in out)]
    for r in out:
        r["level"] = floor_label(r, floor, sets, key="loss_{}")
    cols = ["size", "variant", "params_nonembedding", "tokens",
            *[f"{m}_{n}" for n, _ in VAL_NAMES for m in ("ppl", "loss", "bpb")], "ppl_avg", "ppl_window", "level",
            "wikitext_word_ppl", "blimp", "blimp_se", "blimp_n"]  # fmt: skip
    for s in shots_seen:
        for _, _, short in TABLE3_TASKS:
            cols += [f"{short}_{s}shot", f"{short}_{s}shot_se", f"{short}_{s}shot_n"]
        cols.append(f"avg_{s}shot")
    cols += ["device", "run_id"]
    if out_long is not None:
        write_csv(out_long, long_rows, ["profile", "run_id", "size", "variant", "suite", "num_fewshot", "limit",
                                         "task", "metric", "value", "stderr", "n"])  # fmt: skip
    ns = {f"{short}_{s}": next((r.get(f"{short}_{s}shot_n") for r in out if r.get(f"{short}_{s}shot_n")), None)
          for s in shots_seen for _, _, short in TABLE3_TASKS}  # fmt: skip
    has_word = any(r.get("wikitext_word_ppl") is not None for r in out)
    n_c4 = out[0].get("tokens_c4") if out else None
    scope = f"the first {n_c4:,} tokens" if protocol == "train" and n_c4 else "the scored tokens"
    count_scope = "the same tokens" if protocol == "train" else "the whole texts"
    intro = [
        "",
        "Every model the profile trains, evaluated by the `eval_model` rule through lm-evaluation-harness on local "
        "data (README, 'Evaluation'). PPL: token level, non-overlapping windows of the model's context length, "
        f"on {scope} of each text (C4 held-out documents, the in-domain split of the training mix, WikiText-2 "
        "test), with bits per UTF-8 byte in brackets. The count models are interpolated Kneser-Ney n-grams fitted "
        f"on the training tokens and scored on the same windows ({count_scope}; rule `ngram_baselines`); BLiMP "
        "for them compares "
        "the two sentences' n-gram log-probabilities. vs KN-3: the model's loss minus the trigram's on C4, nats "
        "per token (negative is better); level: `beats KN-3` when it is lower on every text, else `n-gram level`. "
        "Word PPL: lm-eval's `wikitext` (word perplexity of the 62 test documents, rolling windows). BLiMP: mean "
        "accuracy over the 67 paradigms (chance 50%). WG Winogrande, WGe WSC273, SC StoryCloze 2016, HS HellaSwag "
        "(acc_norm), in %, ± the harness's standard error; chance is 50 / 50 / 50 / 25.",
        "",
    ]
    table = Table(["size", "variant", "non-emb. params", "tokens",
                   *(f"{name} PPL (bpb)" for n, name in VAL_NAMES if n in sets), "vs KN-3", "level",
                   *(["word PPL"] if has_word else []), "BLiMP",
                   *(f"{short} {s}-shot" for s in shots_seen for _, _, short in TABLE3_TASKS),
                   *(f"Avg {s}-shot" for s in shots_seen)],
                  "llrr" + "r" * len(sets) + "rl" + "r" * (has_word + 1 + 5 * len(shots_seen)))  # fmt: skip

    def ppl_cells(r: dict) -> list[str]:
        return [f"{fmt(r.get(f'ppl_{n}'))} ({fmt(r.get(f'bpb_{n}'), '.3f')})" for n in sets]

    for c in counts:
        cells = ["count model", c["variant"], "-", f"{c['tokens']:,}", *ppl_cells(c),
                 "0 (the floor)" if c is floor else "", "", *(["-"] if has_word else []),
                 pm(c.get("blimp"), c.get("blimp_se"))]
        cells += ["-"] * (5 * len(shots_seen))
        table.add(*cells)
    for r in out:
        vs = (f"{r['loss_c4'] - floor['loss_c4']:+.3f}" if floor and r.get("loss_c4") is not None
              and floor.get("loss_c4") is not None else "")  # fmt: skip
        cells = [r["size"], r["variant"], f"{r['params_nonembedding'] or 0:,}", f"{r['tokens'] or 0:,}",
                 *ppl_cells(r), vs, r.get("level", ""), *([fmt(r.get("wikitext_word_ppl"))] if has_word else []),
                 pm(r.get("blimp"), r.get("blimp_se"))]  # fmt: skip
        cells += [pm(r.get(f"{short}_{s}shot"), r.get(f"{short}_{s}shot_se")) for s in shots_seen
                  for _, _, short in TABLE3_TASKS]  # fmt: skip
        cells += [pm(r.get(f"avg_{s}shot"), None) for s in shots_seen]
        table.add(*cells)
    counts_rows, counts = counts, ", ".join(f"{k.replace('_', ' ')}-shot n={v}" for k, v in ns.items() if v)
    blimp_n = next((r.get("blimp_n") for r in out if r.get("blimp_n")), None)
    notes = ["", f"Examples scored per task: {counts}; BLiMP {blimp_n} pairs. Canonical sizes: "
              + ", ".join(f"{t} {CANONICAL_N[t]}" for t, _, _ in TABLE3_TASKS)
              + "; a smaller n is the profile's `limit` (the first n items, lm-eval's convention).",
              f"Device: {out[0]['device'] if out else '-'}."]  # fmt: skip
    write_table(out_md, f"Evaluation, profile `{profile}`", intro, table, notes,
                out_csv=out_csv, csv_rows=counts_rows + out, columns=cols)  # fmt: skip
    return out


def pretrained_report(files: list[Path], out_csv: Path, out_md: Path, profile: str) -> list[dict]:
    """Scores of the real pretrained models, one row per (model, task, metric), with n against the canonical size."""
    rows, notes = [], []
    for path in files:
        res, summary = load_eval(path)
        ours = res["bitnet_repro"]
        tp = ours["throughput"]
        if tp.get("examples"):
            notes.append(f"`{ours['model']}` {path.stem}: {tp['examples']} examples in {tp['seconds']:.0f} s = "
                         f"{tp['examples_per_second']} examples/s ({tp['tokens_per_second']} tokens/s, "
                         f"{tp['threads']} threads)")  # fmt: skip
        blimp_n = sum(r["n"] or 0 for r in summary if r["task"].startswith("blimp_"))
        for r in summary:
            if r["task"].startswith("blimp_"):
                continue
            if r["task"] == "blimp":
                r = {**r, "n": blimp_n}
            rows.append({"model": ours["model"], "suite": path.stem, "num_fewshot": ours["num_fewshot"], **r,
                         "n_canonical": CANONICAL_N.get(r["task"], 67000 if r["task"] == "blimp" else None),
                         "limit": ours["limit"],
                         "window": ours["token_ppl"]["window"] if r["task"].startswith("token_ppl") else None,
                         })  # fmt: skip
    intro = ["", "Zero-shot scores through the suite's lm-eval model type and local task files (README, 'Evaluation'), "
             "± the harness's standard error (perplexity: bootstrap, 1000 resamples). n: items scored; a smaller n "
             "than canonical is the profile's `limit` (the first n items). token_ppl: token-level perplexity in "
             "non-overlapping windows.", ""]  # fmt: skip
    table = Table(["model", "task", "metric", "value", "± stderr", "n", "canonical n"], "lllrrrr")
    for r in rows:
        pct = r["metric"] in ("acc", "acc_norm")
        v = f"{r['value'] * 100:.2f}" if pct else f"{r['value']:.3f}"
        se = "" if r["stderr"] is None else (f"{r['stderr'] * 100:.2f}" if pct else f"{r['stderr']:.3f}")
        table.add(r["model"], r["task"], f"{r['metric']}{' (%)' if pct else ''}", v, se,
                  r["n"] if r["n"] is not None else "-", r["n_canonical"] or "-")  # fmt: skip
    columns = ["model", "suite", "num_fewshot", "task", "metric", "value", "stderr", "n", "n_canonical", "limit",
               "window"]  # fmt: skip
    write_table(out_md, f"Real pretrained model(s), profile `{profile}`", intro, table,
                ["", "Throughput (CPU, fp32):", ""], [f"- {n}" for n in notes],
                out_csv=out_csv, csv_rows=rows, columns=columns)  # fmt: skip
    return rows
