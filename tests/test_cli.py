"""The command line: help lists the commands; bad input exits with a clear one-line error."""

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bitnet_repro.__main__ import AREAS, Parser, build_parser, main
from bitnet_repro.paper import cli as paper_cli
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


# ------------------------------------------------------------------------------------------------------
# Grouped help, the paper's names, help for every option, one-line errors
# ------------------------------------------------------------------------------------------------------

RENAMED = [("figure7", "plot-ptq"), ("table3", "ptq-table"), ("table4", "cost-table"), ("figure8", "plot-cost"),
           ("table1", "energy"), ("table10", "hparams-table"), ("figure9", "plot")]  # fmt: skip


def _main(*argv) -> int:
    """`main`, with argparse's exits returned as their status."""
    try:
        return main(list(argv))
    except SystemExit as e:
        return e.code


def _one_line_error(capsys, status: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def test_help_groups_the_commands_by_area(capsys):
    assert _main("--help") == 0
    out = capsys.readouterr().out
    titles = [title for title, _ in AREAS]
    starts = [out.index(f"\n{title}:\n") for title in titles]
    assert starts == sorted(starts)
    for command, title in [("train", "core"), ("eval", "evaluation"), ("ptq", "PTQ"), ("export-gguf", "export"),
                           ("cost-measure", "cost"), ("figure7 (plot-ptq)", "paper tables and figures")]:  # fmt: skip
        at = out.index(f"\n  {command} ")
        assert max(s for s in starts if s < at) == starts[titles.index(title)], command


@pytest.mark.parametrize("name, old", RENAMED)
def test_paper_commands_have_the_papers_names_and_keep_their_old_ones(name, old, capsys):
    assert _main(name, "--help") == 0
    new_help = capsys.readouterr().out
    assert new_help.startswith(f"usage: python -m bitnet_repro {name} ")
    assert _main(old, "--help") == 0
    assert capsys.readouterr().out == new_help


def test_the_workflows_commands_all_exist():
    names = {n for c in build_parser().commands for n in (c.name, *c.aliases)}
    text = "".join(p.read_text() for p in [ROOT / "Snakefile", *(ROOT / "workflows").glob("*.smk")])
    called = set(re.findall(r"python -m bitnet_repro ([a-z0-9-]+)", text))
    assert called and called <= names, called - names


def test_every_option_of_every_command_has_help():
    """Every argument of every command, a paper module's too (read from its module as for the command run)."""
    parsers = {c.name: c.parser for c in build_parser().commands}
    assert len(parsers) > 40
    for names, module, _ in paper_cli.modules():
        parsers[names[0]] = Parser(prog=names[0])
        importlib.import_module(f"{paper_cli.PACKAGE}.{module}").arguments(parsers[names[0]])
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}"
               for name, parser in parsers.items() for a in parser._actions if not a.help]  # fmt: skip
    assert not missing


def test_version(capsys):
    assert _main("--version") == 0
    assert capsys.readouterr().out.strip() == f"bitnet-repro {importlib.metadata.version('bitnet-repro')}"


def test_unknown_command_suggests_the_closest(capsys):
    _one_line_error(capsys, _main("figur7"), "unknown command 'figur7'", "figure7")


def test_bad_arguments_are_one_line_errors(capsys, tmp_path):
    out = str(tmp_path / "r.json")
    _one_line_error(capsys, _main("eval", "--model", "x", "--tasks", "winogrande", "--limit", "0", "--out", out),
                    "--limit", "'0'")  # fmt: skip
    _one_line_error(capsys, _main("ptq", "--model", "x", "--method", "smoothquant:W8A8", "--param", "alpha",
                                  "--calib-data", str(tmp_path), "--tasks", "winogrande", "--out", out),
                    "name=value")  # fmt: skip
    _one_line_error(capsys, _main("runs", "--profile", "nosuch"), "profile 'nosuch' not found")
    _one_line_error(capsys, _main("train", "--profile", "smoke", "--run", "tiny-1-fp16", "--data",
                                  str(tmp_path / "none"), "--out", str(tmp_path / "o")),
                    "is not a directory", "python -m bitnet_repro data")  # fmt: skip
    _one_line_error(capsys, _main("table3", str(tmp_path / "none.json"), "--profile", "x", "--out-csv",
                                  str(tmp_path / "t.csv"), "--out-md", str(tmp_path / "t.md")),
                    "none.json not found")  # fmt: skip


def test_bad_method_parameter_fails_before_any_work(capsys, tmp_path):
    out = str(tmp_path / "r.json")
    status = _main("ptq", "--model", "smollm2-135m", "--method", "smoothquant:W8A8", "--param", "alpha=high",
                   "--calib-data", str(tmp_path), "--tasks", "winogrande", "--out", out)  # fmt: skip
    _one_line_error(capsys, status, "smoothquant parameter alpha must be a number", "'high'")


def test_a_model_not_trained_yet_names_the_target_that_trains_it(capsys, tmp_path):
    run_id = "tiny-1-fp16-0000000000"  # a run directory that no training writes
    model = f"results/smoke/runs/{run_id}/model"
    status = _main("eval", "--model", model, "--tasks", "winogrande", "--out", str(tmp_path / "r.json"))
    _one_line_error(capsys, status, "not trained yet",
                    f"snakemake results/smoke/runs/{run_id}/summary.json --config profile=smoke",
                    "snakemake train --config profile=smoke")  # fmt: skip


def test_a_reader_that_goes_away_is_no_error():
    """`python -m bitnet_repro runs | head -1`: the pipe closes before the command writes; no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "bitnet_repro", "runs", "--profile", "smoke"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 141 and err == "", err
