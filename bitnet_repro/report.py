"""Tables from training summaries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .utils import atomic_write_text, write_csv

VAL_NAMES = [("c4", "C4 held-out"), ("indomain", "in-domain"), ("wikitext2", "WikiText-2")]
COLUMNS = ["size", "variant", "params_nonembedding", "params_total", "tokens", "status",
           *[f"val_{n}_{m}" for n, _ in VAL_NAMES for m in ("loss", "ppl", "bpb", "skip_loss")],
           "wall_time_s", "device", "run_id"]  # fmt: skip
SIZE_ORDER = ["tiny-1", "tiny-2", "cpu-xs", "cpu-s", "cpu-m", "cpu-l", "cpu-xs-2x"]
VARIANT_ORDER = ["fp16", "bitnet_b1", "bitnet_b158"]
NGRAM_ORDER = 3  # the floor the tables name: the Kneser-Ney trigram


def _key(row: dict) -> tuple:
    size = SIZE_ORDER.index(row["size"]) if row["size"] in SIZE_ORDER else len(SIZE_ORDER)
    variant = VARIANT_ORDER.index(row["variant"]) if row["variant"] in VARIANT_ORDER else 9
    return (size, row["params_nonembedding"], variant)


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def ngram_rows(ngram: dict | None, protocol: str = "train") -> list[dict]:
    """The count models of ngram.json as rows with the summaries' keys (`val_<set>_loss|ppl|bpb`)."""
    if not ngram:
        return []
    from .ngram import NGRAM_NAMES

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


def floor_label(row: dict, floor: dict | None, sets: list[str], key: str = "val_{}_loss") -> str:
    """Where a model stands against the trigram: 'beats KN-3' (lower loss on every set), else 'n-gram level';
    empty when either loss is missing. `key` names a set's loss column (`val_c4_loss`, `loss_c4`)."""
    if not floor or row.get("status", "completed") != "completed":
        return ""
    pairs = [(row.get(key.format(n)), floor.get(key.format(n))) for n in sets]
    if any(a is None or b is None for a, b in pairs):
        return ""
    return "beats KN-3" if all(a < b for a, b in pairs) else "n-gram level"


def training_report(summaries: list[Path], out_csv: Path, out_md: Path, profile: str,
                    ngram: dict | None = None) -> list[dict]:  # fmt: skip
    rows = sorted((json.loads(p.read_text()) for p in summaries), key=_key)
    counts = ngram_rows(ngram)
    write_csv(out_csv, counts + rows, COLUMNS)
    fp16 = {r["size"]: r for r in rows if r["variant"] == "fp16" and r["status"] == "completed"}
    floor = next((c for c in counts if c["order"] == NGRAM_ORDER), None)
    sets = [n for n, _ in VAL_NAMES if any(f"val_{n}_loss" in r for r in rows)]
    names = dict(VAL_NAMES)
    lines = [
        f"# Training results, profile `{profile}`",
        "",
        "Final validation loss of every model of the profile (token level, non-overlapping windows of the training "
        "sequence length, the first `eval_tokens` tokens of each set), as perplexity with bits per UTF-8 byte in "
        "brackets (bits per byte compare tokenizers of any size). Each row was produced by the `train_model` rule "
        "on the device named. The count models above the line are interpolated Kneser-Ney n-grams fitted on the "
        "same training tokens and scored with the same windows (rule `ngram_baselines`).",
        "",
        "- **vs KN-3**: the model's loss minus the Kneser-Ney trigram's, in nats per token, on "
        + " / ".join(names[n] for n in sets) + "; negative is better. **level**: `beats KN-3` when it is lower on "
        "every set, else `n-gram level` (a model at that level has learned little that counts do not).",
        "- **blocks add**: the loss with every transformer block skipped (embeddings -> final norm -> head) minus "
        f"the model's loss, nats on {names[sets[0]]}: how much the blocks do.",
        "- **gap vs FP16**: BitNet loss minus the FP16 model's of the same size, nats, "
        + " / ".join(names[n] for n in sets) + ".",
        "",
        "| size | variant | non-emb. params | tokens | status | "
        + " | ".join(f"{names[n]} PPL (bpb)" for n in sets)
        + " | vs KN-3 (nats) | level | blocks add | gap vs FP16 (nats) | wall time (s) | device |",
        "|---|---|---:|---:|---|" + "---:|" * len(sets) + "---:|---|---:|---:|---:|---|",
    ]

    def cells(r: dict) -> str:
        return " | ".join(f"{_fmt(r.get(f'val_{n}_ppl'))} ({_fmt(r.get(f'val_{n}_bpb'), '.3f')})" for n in sets)

    for c in counts:
        lines.append(f"| count model | {c['variant']} | - | {c['tokens']:,} | fitted | {cells(c)} | "
                     f"{'0 (the floor)' if c is floor else ''} | | | | | cpu |")  # fmt: skip
    for r in rows:
        status = r["status"] + (f" (step {r['diverged_at_step']})" if r["status"] == "diverged" else "")
        vs = gap = add = ""
        if floor and r["status"] == "completed":
            vs = " / ".join(f"{r[f'val_{n}_loss'] - floor[f'val_{n}_loss']:+.3f}" for n in sets)
        base = fp16.get(fp16_reference(r["size"]))
        if r["variant"] != "fp16" and base and r["status"] == "completed":
            gap = " / ".join(f"{r[f'val_{n}_loss'] - base[f'val_{n}_loss']:+.3f}" for n in sets)
            if fp16_reference(r["size"]) != r["size"]:
                gap += f" (vs {fp16_reference(r['size'])})"
        if r.get(f"val_{sets[0]}_skip_loss") is not None:
            add = f"{r[f'val_{sets[0]}_skip_loss'] - r[f'val_{sets[0]}_loss']:.3f}"
        lines.append(f"| {r['size']} | {r['variant']} | {r['params_nonembedding']:,} | {r['tokens']:,} | {status} | "
                     f"{cells(r)} | {vs} | {floor_label(r, floor, sets)} | {add} | {gap} | "
                     f"{r['wall_time_s']:.0f} | {r['device']} |")  # fmt: skip
    total = sum(r["wall_time_s"] for r in rows)
    lines += [
        "",
        f"{len(rows)} models; summed training wall time {total / 60:.1f} min. Snakemake trains one model per "
        "core, so the DAG's elapsed time is shorter; per-job times are in `benchmarks/`.",
    ]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows


def fp16_reference(size: str) -> str:
    """The FP16 size a row is compared with: its own, or the base size of a widened preset (`cpu-xs-2x`)."""
    return size.removesuffix("-2x")


def pilot_report(summaries: list[Path], out_csv: Path, out_md: Path, profile: str,
                 ngram: dict | None = None) -> list[dict]:  # fmt: skip
    """The LR pilots: each arm's final validation loss at each peak LR, the best marked."""
    runs = []
    for path in summaries:
        r = json.loads(path.read_text())
        cfg = json.loads((path.parent / "config.json").read_text())
        r["lr"], r["schedule"] = cfg["train"]["lr"], cfg["train"]["schedule"]
        r["arm"] = r["name"].split("-lr")[0].removeprefix(f"pilot-{r['size']}-")
        runs.append(r)
    runs.sort(key=lambda r: (r["arm"], r["lr"]))
    floor = next((c for c in ngram_rows(ngram) if c["order"] == NGRAM_ORDER), None)
    sets = [n for n, _ in VAL_NAMES if any(f"val_{n}_loss" in r for r in runs)]
    names = dict(VAL_NAMES)
    best = {}
    for r in runs:
        loss = r.get(f"val_{sets[0]}_loss") if r["status"] == "completed" else None
        if loss is not None and (r["arm"] not in best or loss < best[r["arm"]][f"val_{sets[0]}_loss"]):
            best[r["arm"]] = r
    write_csv(out_csv, runs, ["arm", "lr", "schedule", "steps", "tokens", "status",
                              *[f"val_{n}_{m}" for n in sets for m in ("loss", "ppl", "bpb")], "wall_time_s", "run_id"])
    size = runs[0]["size"] if runs else "-"
    lines = [f"# Learning-rate pilots, profile `{profile}`", "",
             f"Each arm trains `{size}` for {runs[0]['steps'] if runs else 0:,} steps at each peak LR with its own "
             "recipe (schedule, betas, weight decay); the rest of the profile's training settings are the ladder's. "
             f"Loss in nats per token on the first validation tokens; the best LR of each arm (lowest "
             f"{names[sets[0]]} loss) is in bold. vs KN-3: minus the Kneser-Ney trigram's loss.", "",
             "| arm | schedule | peak LR | status | " + " | ".join(f"{names[n]} loss" for n in sets)
             + " | vs KN-3 | tokens/s | wall time (s) |",
             "|---|---|---:|---|" + "---:|" * len(sets) + "---:|---:|---:|"]  # fmt: skip
    for r in runs:
        mark = "**" if best.get(r["arm"]) is r else ""
        status = r["status"] + (f" (step {r['diverged_at_step']})" if r["status"] == "diverged" else "")
        vs = ""
        if floor and r["status"] == "completed":
            vs = f"{r[f'val_{sets[0]}_loss'] - floor[f'val_{sets[0]}_loss']:+.3f}"
        lines.append(f"| {r['arm']} | {r['schedule']} | {mark}{r['lr']:g}{mark} | {status} | "
                     + " | ".join(f"{mark}{_fmt(r.get(f'val_{n}_loss'), '.4f')}{mark}" for n in sets)
                     + f" | {vs} | {r['tokens'] / r['wall_time_s']:,.0f} | {r['wall_time_s']:.0f} |")  # fmt: skip
    lines += ["", "Best peak LR per arm: " + ", ".join(f"{a} {r['lr']:g}" for a, r in sorted(best.items())) + "."]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return runs


# ------------------------------------------------------------------------------------------------------
# Evaluation tables
# ------------------------------------------------------------------------------------------------------

TABLE3_TASKS = [("winogrande", "acc", "WG"), ("wsc273", "acc", "WGe"), ("storycloze_2016", "acc", "SC"),
                ("hellaswag", "acc_norm", "HS")]  # fmt: skip
CANONICAL_N = {"winogrande": 1267, "wsc273": 273, "storycloze_2016": 1871, "hellaswag": 10042, "arc_easy": 2376,
               "arc_challenge": 1172, "boolq": 3270, "openbookqa": 500, "piqa": 1838, "sciq": 1000,
               "lambada_openai": 5153, "wikitext": 62}  # fmt: skip


def _load_eval(path: Path) -> tuple[dict, list[dict]]:
    from .evaluate import summary_rows

    res = json.loads(path.read_text())
    return res, summary_rows(res)


def device_label(ours: dict) -> str:
    """Where a results JSON was measured, e.g. "cpu (2 threads, x86_64)" (threads absent for unscored models)."""
    threads = ours.get("throughput", {}).get("threads")
    parts = [f"{threads} threads" if threads else "", ours.get("meta", {}).get("processor", "")]
    return f"{ours.get('device', 'cpu')} ({', '.join(p for p in parts if p)})"


def _pm(value: float | None, stderr: float | None, scale: float = 100.0) -> str:
    if value is None:
        return "-"
    return f"{value * scale:.1f} ± {stderr * scale:.1f}" if stderr is not None else f"{value * scale:.1f}"


def eval_report(files: list[Path], out_csv: Path, out_md: Path, out_long: Path | None, profile: str,
                ngram: dict | None = None) -> list[dict]:  # fmt: skip
    """One row per trained model: token PPL and bits per byte (C4, in-domain, WikiText-2), BLiMP, and the Table 3
    tasks zero- and few-shot; the count models of `ngram` as rows; plus a long CSV of every (model, suite, task,
    metric) for later tables."""
    long_rows, by_run = [], {}
    for path in files:
        res, rows = _load_eval(path)
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
    out.sort(key=lambda r: _key({**r, "params_nonembedding": r["params_nonembedding"] or 0}))
    shots_seen = sorted({int(c.split("_")[1][0]) for r in out for c in r if c.startswith("avg_")})
    counts = []
    # the count models scored on the same tokens as the models: the first `eval_tokens` (train protocol) or all
    protocol = "whole"
    if ngram and out and out[0].get("tokens_c4") == ngram["models"]["kn1"].get("c4_train", {}).get("tokens"):
        protocol = "train"
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
    write_csv(out_csv, counts + out, cols)
    if out_long is not None:
        write_csv(out_long, long_rows, ["profile", "run_id", "size", "variant", "suite", "num_fewshot", "limit",
                                         "task", "metric", "value", "stderr", "n"])  # fmt: skip
    fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
    ns = {f"{short}_{s}": next((r.get(f"{short}_{s}shot_n") for r in out if r.get(f"{short}_{s}shot_n")), None)
          for s in shots_seen for _, _, short in TABLE3_TASKS}  # fmt: skip
    has_word = any(r.get("wikitext_word_ppl") is not None for r in out)
    n_c4 = out[0].get("tokens_c4") if out else None
    scope = f"the first {n_c4:,} tokens" if protocol == "train" and n_c4 else "the scored tokens"
    count_scope = "the same tokens" if protocol == "train" else "the whole texts"
    lines = [
        f"# Evaluation, profile `{profile}`",
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
        "| size | variant | non-emb. params | tokens | "
        + " | ".join(f"{name} PPL (bpb)" for n, name in VAL_NAMES if n in sets)
        + " | vs KN-3 | level |" + (" word PPL |" if has_word else "") + " BLiMP | "
        + " | ".join(f"{short} {s}-shot" for s in shots_seen for _, _, short in TABLE3_TASKS)
        + " | " + " | ".join(f"Avg {s}-shot" for s in shots_seen) + " |",
        "|---|---|---:|---:|" + "---:|" * len(sets) + "---:|---|" + ("---:|" if has_word else "") + "---:|"
        + "---:|" * (5 * len(shots_seen)),
    ]  # fmt: skip

    def ppl_cells(r: dict) -> list[str]:
        return [f"{fmt(r.get(f'ppl_{n}'))} ({_fmt(r.get(f'bpb_{n}'), '.3f')})" for n in sets]

    for c in counts:
        cells = ["count model", c["variant"], "-", f"{c['tokens']:,}", *ppl_cells(c),
                 "0 (the floor)" if c is floor else "", "", *(["-"] if has_word else []),
                 _pm(c.get("blimp"), c.get("blimp_se"))]
        cells += ["-"] * (5 * len(shots_seen))
        lines.append("| " + " | ".join(cells) + " |")
    for r in out:
        vs = (f"{r['loss_c4'] - floor['loss_c4']:+.3f}" if floor and r.get("loss_c4") is not None
              and floor.get("loss_c4") is not None else "")  # fmt: skip
        cells = [r["size"], r["variant"], f"{r['params_nonembedding'] or 0:,}", f"{r['tokens'] or 0:,}",
                 *ppl_cells(r), vs, r.get("level", ""), *([fmt(r.get("wikitext_word_ppl"))] if has_word else []),
                 _pm(r.get("blimp"), r.get("blimp_se"))]  # fmt: skip
        cells += [_pm(r.get(f"{short}_{s}shot"), r.get(f"{short}_{s}shot_se")) for s in shots_seen
                  for _, _, short in TABLE3_TASKS]  # fmt: skip
        cells += [_pm(r.get(f"avg_{s}shot"), None) for s in shots_seen]
        lines.append("| " + " | ".join(cells) + " |")
    counts = ", ".join(f"{k.replace('_', ' ')}-shot n={v}" for k, v in ns.items() if v)
    blimp_n = next((r.get("blimp_n") for r in out if r.get("blimp_n")), None)
    lines += ["", f"Examples scored per task: {counts}; BLiMP {blimp_n} pairs. Canonical sizes: "
              + ", ".join(f"{t} {CANONICAL_N[t]}" for t, _, _ in TABLE3_TASKS)
              + "; a smaller n is the profile's `limit` (the first n items, lm-eval's convention).",
              f"Device: {out[0]['device'] if out else '-'}."]  # fmt: skip
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return out


def pretrained_report(files: list[Path], out_csv: Path, out_md: Path, profile: str) -> list[dict]:
    """Scores of the real pretrained models, one row per (model, task, metric), with n against the canonical size."""
    rows, notes = [], []
    for path in files:
        res, summary = _load_eval(path)
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
    write_csv(out_csv, rows, ["model", "suite", "num_fewshot", "task", "metric", "value", "stderr", "n",
                               "n_canonical", "limit", "window"])  # fmt: skip
    lines = [f"# Real pretrained model(s), profile `{profile}`", "",
             "Zero-shot scores through the suite's lm-eval model type and local task files (README, 'Evaluation'), "
             "± the harness's standard error (perplexity: bootstrap, 1000 resamples). n: items scored; a smaller n "
             "than canonical is the profile's `limit` (the first n items). token_ppl: token-level perplexity in "
             "non-overlapping windows.", "",
             "| model | task | metric | value | ± stderr | n | canonical n |",
             "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        pct = r["metric"] in ("acc", "acc_norm")
        v = f"{r['value'] * 100:.2f}" if pct else f"{r['value']:.3f}"
        se = "" if r["stderr"] is None else (f"{r['stderr'] * 100:.2f}" if pct else f"{r['stderr']:.3f}")
        lines.append(f"| {r['model']} | {r['task']} | {r['metric']}{' (%)' if pct else ''} | {v} | {se} | "
                     f"{r['n'] if r['n'] is not None else '-'} | {r['n_canonical'] or '-'} |")  # fmt: skip
    lines += ["", "Throughput (CPU, fp32):", ""] + [f"- {n}" for n in notes]
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows


# ------------------------------------------------------------------------------------------------------
# Table 6: BitNet b1.58 with and without a 4-bit KV cache
# ------------------------------------------------------------------------------------------------------

TABLE6_TASKS = [("arc_easy", "acc", "ARCe", "arce"), ("arc_challenge", "acc_norm", "ARCc", "arcc"),
                ("hellaswag", "acc_norm", "HS", "hs"), ("boolq", "acc", "BQ", "bq"),
                ("openbookqa", "acc_norm", "OQ", "oq"), ("piqa", "acc_norm", "PQ", "pq"),
                ("winogrande", "acc", "WGe", "wge")]  # fmt: skip


def table6_report(files: list[Path], out_csv: Path, out_md: Path, profile: str, paper_csv: Path | None = None,
                  ) -> list[dict]:  # fmt: skip
    """Zero-shot accuracy of each b1.58 model with an FP cache and with a `kv_bits` cache, and the difference."""
    rows = []
    for path in files:
        res, flat = _load_eval(path)
        ours = res["bitnet_repro"]
        m = {(r["task"], r["metric"]): r for r in flat}
        run = ours.get("run", {})
        row = {"profile": profile, "size": run.get("size"), "run_id": run.get("run_id"),
               "params_nonembedding": run.get("params_nonembedding"), "kv_bits": ours.get("kv_bits") or 16,
               "limit": ours.get("limit")}  # fmt: skip
        accs = []
        for task, metric, short, _ in TABLE6_TASKS:
            r = m.get((task, metric))
            row[short], row[f"{short}_se"] = (r["value"], r["stderr"]) if r else (None, None)
            accs.append(r["value"] if r else None)
        row["avg"] = sum(accs) / len(accs) if all(a is not None for a in accs) else None
        rows.append(row)
    rows.sort(key=lambda r: (r["params_nonembedding"] or 0, -r["kv_bits"]))
    cols = list(rows[0])
    write_csv(out_csv, rows, cols)
    paper = []
    if paper_csv and paper_csv.is_file():
        with open(paper_csv) as f:
            paper = list(csv.DictReader(f))
    shorts = [s for _, _, s, _ in TABLE6_TASKS]
    lines = [f"# Table 6 ({profile} profile): BitNet b1.58 zero-shot with and without a 4-bit KV cache", "",
             "| model | KV cache | " + " | ".join(shorts) + " | Avg | Δ Avg |",
             "|---|---|" + "---|" * (len(shorts) + 2)]  # fmt: skip
    base = {}
    for r in rows:
        key = r["size"]
        if r["kv_bits"] == 16:
            base[key] = r["avg"]
        delta = "" if r["kv_bits"] == 16 or r["avg"] is None else f"{100 * (r['avg'] - base.get(key, r['avg'])):+.1f}"
        cache = "FP32" if r["kv_bits"] == 16 else f"{r['kv_bits']}-bit"
        cells = [_pm(r[s], r[f"{s}_se"]) for s in shorts]
        avg = "-" if r["avg"] is None else f"{100 * r['avg']:.1f}"
        lines.append(f"| {r['size']} b1.58 | {cache} | " + " | ".join(cells) + f" | {avg} | {delta} |")
    n = rows[0]["limit"]
    lines += ["", f"Accuracy in % ± the harness's standard error, first {n} items per task (ARC-c, HS, OQ, PQ: "
              "acc_norm). The 4-bit cache quantizes K (after rotary) and V with one symmetric absmax scale per "
              "head and token (Sec. 4.2); scoring with it equals KV-cached decoding with it "
              "(tests/test_infer.py)."]  # fmt: skip
    if paper:
        lines += ["", "The paper's Table 6 (3B and 3.9B, labelled as the paper's):", "",
                  "| paper model | size | " + " | ".join(shorts) + " | Avg |",
                  "|---|---|" + "---|" * (len(shorts) + 1)]  # fmt: skip
        for p in paper:
            lines.append(f"| {p['model']} | {p['size']} | " + " | ".join(p[k] for _, _, _, k in TABLE6_TASKS)
                         + f" | {p['avg']} |")  # fmt: skip
    atomic_write_text(out_md, "\n".join(lines) + "\n")
    return rows
