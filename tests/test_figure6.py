"""Figure 6, the stability test (bitnet_repro/paper/figure6.py): a diverged run is an outcome in the table and the
figure, and the claim line follows the runs' statuses."""

import csv
import json

from bitnet_repro.paper import figure6


def _run(root, variant, lr, status, losses, val=None):
    """A run directory as `train` writes it: summary.json, config.json, metrics.jsonl."""
    d = root / f"stability-cpu-xs-{variant}-lr{lr:g}"
    d.mkdir()
    schedule = "polynomial"  # both arms on b1's recipe, as the stability test trains them
    (d / "config.json").write_text(json.dumps({"size": "cpu-xs", "model": {"linear": variant},
                                               "train": {"lr": lr, "schedule": schedule, "steps": len(losses)}}))
    lines = [{"step": i, "loss": x} for i, x in enumerate(losses)]
    if val is not None:
        lines.append({"step": len(losses) - 1, "split": "val", "val_c4_loss": val})
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in lines) + "\n")
    summary = {"run_id": f"{d.name}-0123456789", "status": status, "device": "cpu"}
    if status == "diverged":
        summary["diverged_at_step"] = len(losses) - 1
    else:
        summary.update(val_c4_loss=val, val_c4_ppl=2.718281828**val)
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def test_b1_converging_where_fp16_diverges_is_the_claim(tmp_path):
    runs = [_run(tmp_path, "fp16", 0.01, "completed", [7.0, 5.0, 4.0], val=4.1),
            _run(tmp_path, "fp16", 0.1, "diverged", [7.0, 5.0, 30.0]),
            _run(tmp_path, "bitnet_b1", 0.01, "completed", [7.0, 5.5, 4.5], val=4.6),
            _run(tmp_path, "bitnet_b1", 0.1, "completed", [7.0, 5.2, 4.2], val=4.3)]  # fmt: skip
    rows = figure6.run(runs, "test", tmp_path / "out" / "figure6")
    v = figure6.verdict(rows)
    assert v["fp16_first_diverged_lr"] == 0.1 and v["b1_largest_converged_lr"] == 0.1 and v["holds"] is True
    assert v["b1_best_lr"] == 0.1 and v["fp16_best_lr"] == 0.01
    caption = (tmp_path / "out" / "figure6.md").read_text()
    assert "where FP16 diverges (the training criterion): yes" in caption
    assert "- FP16 (LLaMA) on BitNet b1's recipe: peak LR 0.1, outcome diverged, diverged at step 2," in caption
    table = list(csv.DictReader(open(tmp_path / "out" / "figure6.csv")))
    assert [(r["variant"], r["status"]) for r in table][:2] == [("fp16", "completed"), ("fp16", "diverged")]
    assert (tmp_path / "out" / "figure6.png").stat().st_size > 0


def test_a_run_far_above_its_arms_best_has_not_converged(tmp_path):
    runs = [_run(tmp_path, "fp16", 0.01, "completed", [7.0, 4.0], val=4.0),
            _run(tmp_path, "fp16", 0.1, "completed", [7.0, 6.0], val=5.9),  # completed, 1.9 nats above its best
            _run(tmp_path, "bitnet_b1", 0.01, "completed", [7.0, 4.6], val=4.6),
            _run(tmp_path, "bitnet_b1", 0.1, "completed", [7.0, 4.5], val=4.55)]  # fmt: skip
    rows = figure6.run(runs, "test", tmp_path / "figure6")
    assert [r["outcome"] for r in rows] == ["converged", "not converged", "converged", "converged"]
    v = figure6.verdict(rows)
    assert v["holds"] is None and v["holds_converge"] is True and v["fp16_first_not_converged_lr"] == 0.1


def test_no_fp16_divergence_leaves_the_claim_untested(tmp_path):
    runs = [_run(tmp_path, "fp16", 0.1, "completed", [7.0, 5.0], val=5.1),
            _run(tmp_path, "bitnet_b1", 0.1, "diverged", [7.0, 40.0])]  # fmt: skip
    rows = figure6.run(runs, "test", tmp_path / "figure6")
    assert figure6.verdict(rows)["holds"] is None
    assert "not tested (no FP16 run diverged)" in (tmp_path / "figure6.md").read_text()


def test_not_converged_is_measured_against_the_unigram_count_model(tmp_path):
    ngram = {"train_tokens": 10, "models": {"kn1": {"c4_train": {"loss": 6.0, "ppl": 403.4, "bpb": 3.0}}}}
    runs = [_run(tmp_path, "fp16", 0.01, "completed", [7.0, 4.0], val=4.0),
            _run(tmp_path, "fp16", 0.03, "completed", [7.0, 4.9], val=4.9),  # nearer its best (4.0) than KN-1 (6.0)
            _run(tmp_path, "fp16", 0.1, "completed", [7.0, 5.1], val=5.1)]  # nearer the unigram  # fmt: skip
    rows = figure6.run(runs, "test", tmp_path / "figure6", ngram=ngram)
    assert [r["outcome"] for r in rows] == ["converged", "converged", "not converged"]
    assert "Kneser-Ney unigram (6.000 nats on C4)" in (tmp_path / "figure6.md").read_text()
