"""Snakemake's HTML report of the cpu profile, built from the committed results and checked as a reader sees it
(headless Chromium, workflows/report/check_report.py)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_report", ROOT / "workflows/report/check_report.py")
check_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_report)

REBUILD = ("snakemake report_all --report results/cpu/report.html --config profile=cpu --cores 1 && python "
           "workflows/report/check_report.py results/cpu/report.html --screenshot results/cpu/report_screenshot.png")


@pytest.mark.skipif(check_report.find_chromium() is None,
                    reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
def test_cpu_report_from_committed_results(tmp_path):
    report = tmp_path / "report.html"
    cmd = [sys.executable, "-m", "snakemake", "report_all", "--report", str(report), "--config", "profile=cpu",
           "--cores", "1", "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    errors = check_report.check(report, "cpu", tmp_path / "screenshot.png", partial=False, root=ROOT)
    assert not errors, "\n".join(errors)

    # The committed report holds the same results as one built now (else: rebuild it, README "Report").
    built = check_report.embedded(report.read_text(encoding="utf-8"), "results")
    committed = check_report.embedded((ROOT / "results/cpu/report.html").read_text(encoding="utf-8"), "results")
    assert sorted(committed) == sorted(built), f"results/cpu/report.html is out of date: {REBUILD}"
