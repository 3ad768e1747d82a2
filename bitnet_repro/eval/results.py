"""Reading a results JSON of `eval` or `ptq`: lm-eval's results plus the suite's own section. Light on purpose:
the paper's tables read it without loading the harness."""

from __future__ import annotations

from typing import Any

PPL_TASK = "token_ppl"


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat (task, metric, value, stderr, n) rows of a results dict, groups included."""
    rows = []
    n = results.get("n-samples", {})
    for task, metrics in {**results.get("results", {}), **results.get("groups", {})}.items():
        for key, value in metrics.items():
            if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            stderr = metrics.get(f"{metric}_stderr,{filt}")
            rows.append({"task": task, "metric": metric, "value": value,
                         "stderr": stderr if isinstance(stderr, (int, float)) else None,
                         "n": n.get(task, {}).get("effective")})  # fmt: skip
    ppl = results.get("bitnet_repro", {}).get(PPL_TASK)
    if ppl:
        for name in ("wikitext2", "c4", "indomain"):
            if name not in ppl:
                continue
            for metric in ("ppl", "nll", "bpb"):
                if metric in ppl[name]:
                    rows.append({"task": f"{PPL_TASK}_{name}", "metric": metric, "value": ppl[name][metric],
                                 "stderr": None, "n": ppl[name]["tokens"]})  # fmt: skip
        rows.append({"task": PPL_TASK, "metric": "avg_ppl", "value": ppl["avg_ppl"], "stderr": None, "n": None})
    return rows
