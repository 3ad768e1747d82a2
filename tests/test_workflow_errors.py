"""Mistakes on Snakemake's command line and in profiles stop early with a short message that names the mistake and
what to use instead; a broken profile breaks only itself; `redraw=true` plans only the table and figure rules."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "workflows" / "profiles"


def snakemake(*args, cwd=ROOT):
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args, "-n"], cwd=cwd, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_unknown_config_key_suggests_the_known_one():
    rc, out = snakemake("--config", "profil=smoke")
    assert rc != 0 and "unknown --config key 'profil'; did you mean 'profile'?" in out


def test_unknown_target_suggests_close_rules():
    rc, out = snakemake("tabel3", "--config", "profile=smoke")
    assert rc != 0 and "no target 'tabel3'; did you mean 'table3'" in out


@pytest.mark.parametrize("edit, expected", [
    (lambda s: s.replace("\ntrain:", "\ntrian:", 1), "unknown key 'trian' (did you mean 'train'?)"),
    (lambda s: re.sub(r"(\n  steps:) \d+", r'\1 "forty"', s, count=1), "train.steps = 'forty' is invalid"),
])
def test_profile_errors_name_file_key_and_type(tmp_path, edit, expected):
    broken = tmp_path / "broken.yaml"
    broken.write_text(edit((PROFILES / "smoke.yaml").read_text()))
    rc, out = snakemake("--config", f"profile={broken}")
    assert rc != 0 and str(broken) in out and expected in out, out[-2000:]
    assert len(out.splitlines()) < 40  # the error, not the schema


def test_a_broken_profile_breaks_only_itself():
    broken = PROFILES / "zz-test-broken.yaml"
    broken.write_text((PROFILES / "smoke.yaml").read_text().replace("name: smoke", "name: zz-test-broken")
                      .replace("\ntrain:", "\ntrian:", 1))  # fmt: skip
    try:
        rc, out = snakemake("table3", "--config", "profile=smoke")
        assert rc == 0 and "Skipping the broken profile zz-test-broken.yaml" in out, out[-2000:]
        rc, out = snakemake("--config", "profile=zz-test-broken")
        assert rc != 0 and "unknown key 'trian'" in out
    finally:
        broken.unlink()


def test_redraw_plans_only_table_and_figure_rules():
    rc, out = snakemake("figure7", "table3", "--config", "profile=cpu", "redraw=true", "-F")
    assert rc == 0, out[-2000:]
    planned = set(re.findall(r"^rule (\w+):", out, re.M)) | set(re.findall(r"^localrule (\w+):", out, re.M))
    assert planned and planned <= {"figure7_table", "figure7_plot", "figure7", "table3_report", "table3"}, planned


def test_redraw_of_a_missing_result_names_it(tmp_path):
    # a copy of the repository without its results: the redraw stops naming what is missing
    work = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for f in files:
        if f.startswith("results/"):
            continue
        (work / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, work / f)
    rc, out = snakemake("table3", "--config", "profile=cpu", "redraw=true", "-F", cwd=work)
    assert rc != 0 and "MissingInputException" in out and "results/cpu/" in out, out[-2000:]
