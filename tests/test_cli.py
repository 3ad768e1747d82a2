"""The command line: help lists the commands; bad input exits with a clear one-line error."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bitnet_repro.profile import load_profile, runs_from_profile

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bitnet_repro", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_commands():
    out = _cli("--help").stdout
    for cmd in ("train", "data", "bench", "report", "config", "runs", "presets"):
        assert cmd in out


def test_bad_config_value(tmp_path):
    d = runs_from_profile(load_profile("smoke"))[0].to_dict()
    d["model"]["linear"] = "bitnet_b3"
    (tmp_path / "c.json").write_text(json.dumps(d))
    r = _cli("train", "--config", str(tmp_path / "c.json"), "--data", str(tmp_path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "error: model.linear='bitnet_b3' is not one of" in r.stderr
    assert "Traceback" not in r.stderr
    d["model"]["linear"] = "fp16"
    d["train"]["lr"] = -0.1
    (tmp_path / "c.json").write_text(json.dumps(d))
    r = _cli("train", "--config", str(tmp_path / "c.json"), "--data", str(tmp_path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "train.lr=-0.1 must be a finite number > 0" in r.stderr


def test_missing_data_dir(tmp_path):
    r = _cli("data", "--profile", "smoke", "--out", str(tmp_path / "d"), env={"BITNET_REPRO_DATA": "/no/such/dir"})
    assert r.returncode == 2 and "data directory /no/such/dir" in r.stderr and "BITNET_REPRO_DATA" in r.stderr


def test_missing_token_arrays(tmp_path):
    d = runs_from_profile(load_profile("smoke"))[0].to_dict()
    (tmp_path / "c.json").write_text(json.dumps(d))
    r = _cli(
        "train", "--config", str(tmp_path / "c.json"), "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")
    )
    assert r.returncode == 2 and "python -m bitnet_repro data" in r.stderr
