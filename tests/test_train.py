"""Training: schedules, resume bit-exactness, divergence as an outcome, checkpoints, DDP."""

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bitnet_repro.checkpoint import CheckpointError, load_model_dir
from bitnet_repro.checks import kill_and_resume
from bitnet_repro.config import DataConfig, TrainConfig
from bitnet_repro.profile import load_profile, make_run
from bitnet_repro.train import lr_at, train, wd_at

ROOT = Path(__file__).resolve().parent.parent


def _run(variant="bitnet_b158", **train_overrides):
    profile = load_profile("smoke")
    t = {**dict(steps=8, warmup_steps=2, eval_every=4, ckpt_every=2, eval_tokens=512), **train_overrides}
    return make_run(profile, DataConfig(vocab_size=512), "tiny-1", variant, train_overrides=t)


def test_two_stage_schedule():
    t = TrainConfig(
        schedule="two_stage",
        lr=1.5e-3,
        lr_stage2=1e-3,
        weight_decay=0.1,
        wd_stage2=0.0,
        warmup_steps=10,
        steps=100,
        min_lr_ratio=0.1,
    )
    assert lr_at(0, t) == pytest.approx(1.5e-4) and lr_at(9, t) == pytest.approx(1.5e-3)
    assert lr_at(49, t) == pytest.approx(1.5e-3)  # peak held for the first half
    assert lr_at(50, t) == pytest.approx(1e-3)  # drops to the stage-2 LR at half ...
    assert lr_at(99, t) == pytest.approx(1e-4)  # ... and decays to min_lr_ratio of it
    assert wd_at(49, t) == 0.1 and wd_at(50, t) == 0.0
    lrs = [lr_at(s, t) for s in range(50, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_polynomial_and_cosine_schedules():
    t = TrainConfig(schedule="polynomial", lr=2.4e-3, warmup_steps=10, steps=110)
    assert lr_at(10, t) == pytest.approx(2.4e-3) and lr_at(60, t) == pytest.approx(1.2e-3)
    assert lr_at(109, t) == pytest.approx(2.4e-3 / 100) and wd_at(109, t) == t.weight_decay
    t = TrainConfig(schedule="cosine", lr=1e-3, warmup_steps=0, steps=11, min_lr_ratio=0.1)
    assert lr_at(0, t) == pytest.approx(1e-3) and lr_at(10, t) == pytest.approx(1e-4)


def test_training_writes_checkpoint_metrics_and_summary(token_dir, tmp_path):
    summary = train(_run(), token_dir, tmp_path / "run", progress=False)
    assert summary["status"] == "completed" and summary["steps"] == 8
    assert math.isfinite(summary["val_wikitext2_ppl"]) and summary["val_wikitext2_ppl"] < 512
    rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(8))
    assert {"step", "tokens", "loss", "lr", "weight_decay", "grad_norm", "tokens_per_s"} <= set(rows[0])
    assert rows[3]["split"] == "val" and "val_c4_ppl" in rows[3]
    assert rows[-1]["loss"] < rows[0]["loss"]
    model_dir = tmp_path / "run/model"
    assert {p.name for p in model_dir.iterdir()} == {"model.safetensors", "config.json", "meta.json"}
    meta = json.loads((model_dir / "meta.json").read_text())
    assert {"git_sha", "torch", "seed", "bitnet_repro"} <= set(meta)
    model, cfg = load_model_dir(model_dir)
    assert cfg.run_id == summary["run_id"]


@pytest.mark.parametrize("variant", ["fp16", "bitnet_b1", "bitnet_b158"])
def test_resume_is_bitwise_identical(token_dir, tmp_path, variant):
    run = _run(variant)
    train(run, token_dir, tmp_path / "full", progress=False)
    stopped = train(run, token_dir, tmp_path / "resumed", progress=False, stop_after=5)  # "killed" after step 5
    assert stopped["status"] == "stopped" and not (tmp_path / "resumed/model").exists()
    train(run, token_dir, tmp_path / "resumed", progress=False)  # resumes from the step-4 checkpoint
    a = load_file(str(tmp_path / "full/model/model.safetensors"))
    b = load_file(str(tmp_path / "resumed/model/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(8))


def test_resume_survives_a_cut_metrics_line_and_skips_finished_runs(token_dir, tmp_path):
    run = _run("fp16")
    train(run, token_dir, tmp_path / "run", progress=False, stop_after=3)
    with open(tmp_path / "run/metrics.jsonl", "a") as f:
        f.write('{"step": 3, "tok')  # the process died while writing this line
    summary = train(run, token_dir, tmp_path / "run", progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(8))
    mtime = (tmp_path / "run/model/model.safetensors").stat().st_mtime_ns
    assert train(run, token_dir, tmp_path / "run", progress=False) == summary  # finished: nothing retrained
    assert (tmp_path / "run/model/model.safetensors").stat().st_mtime_ns == mtime


def test_sigkill_mid_run_then_resume(token_dir, tmp_path):
    """A real SIGKILL of the training process; the rerun resumes and ends where an uninterrupted run ends."""
    run = _run("bitnet_b158", steps=400, ckpt_every=20, eval_every=400)
    result = kill_and_resume(run, token_dir, tmp_path / "work", tmp_path / "resume.json")
    assert result["resumed_from_step"] >= 20 and result["killed_after_step"] >= result["resumed_from_step"]
    assert result["final_weights_bitwise_equal"] and result["max_abs_weight_difference"] == 0.0
    assert json.loads((tmp_path / "resume.json").read_text())["final_weights_bitwise_equal"]


def test_divergence_is_a_recorded_outcome(token_dir, tmp_path):
    run = _run("fp16", lr=50.0, schedule="constant", warmup_steps=0, steps=30)
    summary = train(run, token_dir, tmp_path / "run", progress=False)
    assert summary["status"] == "diverged" and summary["diverged_at_step"] < 30
    assert json.loads((tmp_path / "run/summary.json").read_text())["status"] == "diverged"
    assert (tmp_path / "run/model/model.safetensors").exists()


def test_truncated_checkpoint_gives_clear_error(token_dir, tmp_path):
    train(_run(steps=4, ckpt_every=2), token_dir, tmp_path / "run", progress=False)
    weights = tmp_path / "run/model/model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model_dir(tmp_path / "run/model")
    (tmp_path / "run/model/config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_model_dir(tmp_path / "run/model")


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_gloo_processes_match_one_process(token_dir, tmp_path, parallel):
    run = _run("bitnet_b158", steps=3, eval_every=3, ckpt_every=2)
    run = replace(run, train=replace(run.train, threads=1, parallel=parallel))
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(run.to_dict()))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    base = ["-m", "bitnet_repro", "train", "--config", str(cfg_path), "--data", str(token_dir), "--no-progress"]
    subprocess.run(
        [sys.executable, *base, "--out", str(tmp_path / "one")], env=env, cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            *base,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    one = [json.loads(x)["loss"] for x in (tmp_path / "one/metrics.jsonl").read_text().splitlines()]
    two = [json.loads(x)["loss"] for x in (tmp_path / "two/metrics.jsonl").read_text().splitlines()]
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        assert a == pytest.approx(b, rel=1e-4)
    w1 = load_file(str(tmp_path / "one/model/model.safetensors"))
    w2 = load_file(str(tmp_path / "two/model/model.safetensors"))
    assert sorted(w1) == sorted(w2)
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-4, atol=1e-5)


def test_summary_has_bits_per_byte_and_the_block_skip_diagnostic(token_dir, tmp_path):
    summary = train(_run("fp16"), token_dir, tmp_path / "run", progress=False)
    for name in ("c4", "wikitext2", "indomain"):
        loss = summary[f"val_{name}_loss"]
        # the fixture says every piece stands for 3 bytes: bpb = nats per token / (ln 2 * 3)
        assert summary[f"val_{name}_bpb"] == pytest.approx(loss / (math.log(2) * 3), rel=1e-4)
        assert summary[f"val_{name}_skip_loss"] > loss  # the blocks do some work even after 8 steps


def test_skip_blocks_is_embedding_norm_head():
    from bitnet_repro.model import Transformer

    model = Transformer(_run("bitnet_b158").model)
    x = torch.randint(0, 512, (2, 16))
    logits, _ = model(x, skip_blocks=True)
    torch.testing.assert_close(logits, model.lm_head(model.norm(model.embed_tokens(x))), rtol=0, atol=0)


def test_validation_bytes_count_the_scored_targets():
    import numpy as np

    from bitnet_repro.train import scored_bytes, validation_windows

    tokens = np.arange(23) % 5
    piece_bytes = np.array([0, 1, 2, 3, 4])
    assert validation_windows(len(tokens), 5, 12) == 2  # two windows of 5 within the first 12 tokens
    assert scored_bytes(tokens, 5, 12, piece_bytes) == sum(piece_bytes[tokens[1:11]])
