"""Figure 10: the LR and weight-decay schedule drawn from a run's metrics, checked step by step against the
recipe of its config.json, beside the paper profile's 700M BitNet b1.58 recipe (Table 13)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from bitnet_repro.__main__ import main
from bitnet_repro.paper import figure10

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "results" / "cpu" / "runs" / "cpu-l-bitnet_b158-64745ed159"  # committed: the cpu-l b1.58 run
PAPER = REPO / "workflows" / "profiles" / "paper.yaml"


def _copy_run(tmp_path: Path) -> Path:
    run = tmp_path / RUN.name
    run.mkdir()
    for f in ("config.json", "metrics.jsonl"):
        shutil.copy(RUN / f, run / f)
    return run


def _edit_metrics(run: Path, edit) -> None:
    """Rewrite each metrics line through `edit(row) -> row`."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    (run / "metrics.jsonl").write_text("".join(json.dumps(edit(r)) + "\n" for r in rows))


def test_figure10_draws_the_committed_run_beside_the_paper_recipe(tmp_path):
    out = tmp_path / "figures" / "figure10"
    assert main(["figure10", str(RUN), "--profile", "cpu", "--out", str(out), "--paper-profile", str(PAPER)]) == 0
    for ext in ("png", "pdf", "md"):
        assert out.with_suffix(f".{ext}").stat().st_size > 0, ext
    caption = out.with_suffix(".md").read_text()
    worst = float(re.search(r"largest relative deviation is (\S+) \(tolerance", caption).group(1))
    assert 0 <= worst <= figure10.RTOL
    assert f"`{RUN.name}` (1,800 steps)" in caption
    # peak LR, stage-2 LR and weight decay from its config.json, and the paper recipe's row, labelled computed
    row = f"- `{RUN.name}`: schedule two_stage, steps 1,800, warmup 100, peak LR 0.004, stage-2 LR 0.00266667"
    assert row in caption
    assert "weight decay 0.1 -> 0" in caption
    assert ("- paper recipe `b158-700M-bitnet_b158` (computed): schedule two_stage, steps 100,000, warmup 375, "
            "peak LR 0.0015, stage-2 LR 0.001") in caption
    assert "not a trained run" in caption


def test_rounded_logs_pass_and_a_tampered_step_is_named(tmp_path):
    run = _copy_run(tmp_path)
    _edit_metrics(run, lambda r: {**r, "lr": float(f"{r['lr']:.5g}")})  # a log that rounds: within tolerance
    s = figure10.read_run(run)
    assert 0 < s.max_lr_dev <= figure10.RTOL and s.max_wd_dev == 0
    _edit_metrics(run, lambda r: {**r, "lr": r["lr"] * 1.01} if r["step"] == 1234 else r)
    with pytest.raises(figure10.ScheduleMismatchError, match=rf"run {RUN.name}: .* step 1234: logged lr="):
        figure10.run([run], "cpu", tmp_path / "figure10")
    assert not (tmp_path / "figure10.png").exists()


def test_a_tampered_weight_decay_fails_the_command(tmp_path, capsys):
    run = _copy_run(tmp_path)
    _edit_metrics(run, lambda r: {**r, "weight_decay": 0.1} if r["step"] == 900 else r)  # WD not removed at half
    assert main(["figure10", str(run), "--profile", "cpu", "--out", str(tmp_path / "figure10")]) == 2
    err = capsys.readouterr().err
    assert "step 900: logged weight_decay=0.1, recipe wd_at=0" in err and RUN.name in err


def test_paper_profile_schedule_is_table13_700M():
    """Table 13, 700M BitNet b1.58: LR 1.5e-3 -> 1e-3, weight decay 0.1 -> 0, 100K steps, warmup 375."""
    cfg = figure10.paper_run(PAPER)
    assert (cfg.size, cfg.variant) == ("b158-700M", "bitnet_b158")
    s = figure10.recipe_schedule(cfg)
    steps, warmup, half = cfg.train.steps, cfg.train.warmup_steps, cfg.train.steps // 2
    assert (steps, warmup, len(s.lr)) == (100_000, 375, 100_000)
    assert s.lr[0] == pytest.approx(1.5e-3 / 375)
    assert s.lr[warmup - 1] == pytest.approx(1.5e-3) and s.lr[warmup] == pytest.approx(1.5e-3)
    assert s.lr[half - 1] == pytest.approx(1.5e-3)  # held for the whole first half
    assert s.lr[half] == pytest.approx(1e-3)  # stage 2 starts from its own peak
    assert all(a >= b for a, b in zip(s.lr[half:], s.lr[half + 1 :]))  # and decays
    assert s.lr[-1] == pytest.approx(1e-3 * cfg.train.min_lr_ratio)
    assert set(s.wd[:half]) == {0.1} and set(s.wd[half:]) == {0.0}
