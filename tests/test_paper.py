"""The paper-output house: the shared writer, subcommand discovery, and README's "Adding a paper table" recipe,
run verbatim (one module, one rule, one target; nothing else edited)."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bitnet_repro.paper.cli import commands
from bitnet_repro.paper.writer import PAPER_ENV, Table, markdown, paper_dir, write_table

REPO = Path(__file__).resolve().parents[1]


def test_table_renders_markdown_with_alignment():
    t = Table(["a", "b"], "lr")
    t.add("x", 1)
    assert t.lines() == ["| a | b |", "|---|---:|", "| x | 1 |"]
    assert markdown("T", "", t, ["", "note"]) == "# T\n\n| a | b |\n|---|---:|\n| x | 1 |\n\nnote\n"


def test_table_refuses_a_wrong_row_or_alignment():
    with pytest.raises(ValueError, match="2 columns"):
        Table(["a", "b"]).add("only one")
    with pytest.raises(ValueError, match="'l' or 'r'"):
        Table(["a", "b"], "lc")


def test_write_table_writes_markdown_and_csv(tmp_path):
    t = Table(["size", "loss"], "lr")
    t.add("s", "1.00")
    write_table(tmp_path / "t.md", "Title", "", t, out_csv=tmp_path / "t.csv", csv_rows=[{"size": "s", "loss": 1.0}])
    assert (tmp_path / "t.md").read_text().startswith("# Title\n\n| size | loss |")
    assert (tmp_path / "t.csv").read_text().splitlines() == ["size,loss", "s,1.0"]


def test_a_table_says_when_the_papers_table_is_missing(tmp_path):
    there = tmp_path / "table3.csv"
    there.write_text("method\n")
    write_table(tmp_path / "a.md", "A", "x", paper=there)
    write_table(tmp_path / "b.md", "B", "x", paper=tmp_path / "nowhere" / "table3.csv")
    assert "paper's columns are empty" not in (tmp_path / "a.md").read_text()
    assert f"not found at `{tmp_path / 'nowhere' / 'table3.csv'}`" in (tmp_path / "b.md").read_text()
    assert PAPER_ENV in (tmp_path / "b.md").read_text()


def test_the_papers_tables_are_found_by_variable_then_beside_the_data(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "paper").mkdir()
    monkeypatch.delenv(PAPER_ENV, raising=False)
    monkeypatch.setenv("BITNET_REPRO_DATA", str(tmp_path / "data"))
    assert paper_dir() == tmp_path / "paper"  # beside the data directory
    monkeypatch.setenv(PAPER_ENV, str(tmp_path / "elsewhere"))
    assert paper_dir() == tmp_path / "elsewhere"  # the variable wins, even where nothing is (the tables say so)


def test_every_paper_module_is_a_subcommand():
    found = commands()
    for name in ("report", "eval-report", "ptq-table", "plot-ptq", "cost-table", "table6", "table7", "energy"):
        assert name in found, name
    helpers = {"writer", "cli", "plotstyle"}  # shared by the outputs, no command of their own
    modules = {p.stem for p in (REPO / "bitnet_repro" / "paper").glob("[!_]*.py")} - helpers
    assert {m for m, _ in found.values()} == modules


def readme_recipe() -> tuple[list[str], list[str]]:
    """The code blocks of README's "Adding a paper table" section and the files it says they go to."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Adding a paper table", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    paths = re.findall(r"(?:saved as|appended to(?: the)?) `([^`]+)`", section)
    return blocks, paths


@pytest.fixture
def recipe():
    blocks, paths = readme_recipe()
    assert len(blocks) == 3 and paths == ["bitnet_repro/paper/params.py", "workflows/paper.smk", "Snakefile"]
    module, rule_file, snakefile = (REPO / p for p in paths)
    assert not module.exists()
    before = {p: p.read_text() for p in (rule_file, snakefile)}
    module.write_text(blocks[0])
    for path, block in zip((rule_file, snakefile), blocks[1:]):
        path.write_text(before[path].rstrip("\n") + "\n\n\n" + block)
    yield
    module.unlink()
    for path, text in before.items():
        path.write_text(text)


def test_readme_recipe_adds_a_table(recipe, tmp_path):
    helped = subprocess.run([sys.executable, "-m", "bitnet_repro", "params-table", "--help"], cwd=REPO,
                            capture_output=True, text=True)  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    plan = subprocess.run([sys.executable, "-m", "snakemake", "-n", "params", "--config", "profile=smoke",
                           "--forceall", "--printshellcmds"], cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert "python -m bitnet_repro params-table" in plan.stdout and "results/smoke/tables/params.md" in plan.stdout
    summaries = []
    for size, variant, n in (("tiny-2", "fp16", 55296), ("tiny-1", "bitnet_b158", 13312)):
        path = tmp_path / f"{size}-{variant}.json"
        path.write_text(json.dumps({"size": size, "variant": variant, "params_nonembedding": n,
                                    "params_total": n + 1000}))  # fmt: skip
        summaries.append(str(path))
    out = tmp_path / "params.md"
    subprocess.run([sys.executable, "-m", "bitnet_repro", "params-table", *summaries, "--profile", "test",
                    "--out-md", str(out), "--out-csv", str(tmp_path / "params.csv")], cwd=REPO, check=True)  # fmt: skip
    text = out.read_text()
    assert text.index("| tiny-1 | bitnet_b158 | 13,312 | 14,312 |") < text.index("| tiny-2 | fp16 | 55,296 |")


def test_table3_reads_rows_against_the_trigram():
    from bitnet_repro.paper.table3 import claims, trigram_floor

    ngram = {"models": {"kn3": {"c4_train": {"tokens": 100, "ppl": 40.0, "bpb": 2.0},
                                "wikitext2_train": {"tokens": 100, "ppl": 60.0, "bpb": 2.5},
                                "c4_whole": {"tokens": 900, "ppl": 45.0, "bpb": 2.1},
                                "wikitext2_whole": {"tokens": 900, "ppl": 65.0, "bpb": 2.6}}}}  # fmt: skip
    rows = [{"method": "Transformer", "wbits": 16, "abits": 16, "status": "ok", "ppl": 45.0, "tokens_c4": 100,
             "spec": "fp16", "ptq": "no"},
            {"method": "GPTQ", "wbits": 4, "abits": 16, "status": "ok", "ppl": 55.0, "spec": "gptq:W4A16",
             "ptq": "yes"}]
    floor = trigram_floor(ngram, rows)
    assert floor == {"ppl": 50.0, "bpb_c4": 2.0}  # the same first 100 tokens, not the whole texts
    assert trigram_floor(ngram, [{**rows[0], "tokens_c4": 900}])["ppl"] == 55.0
    line = claims(rows, floor)[-1]
    assert "1 of 2 (gptq:W4A16)" in line and "FP16 beats the trigram" in line


def test_table3_on_a_pretrained_model_has_its_trained_ternary_rows(tmp_path):
    """SmolLM2's Table 3: the FP16 row takes the pretrained model's size and tokens from its PTQ rows (not from a
    student's), the BitDistill and QAT students are labelled rows at W1.58A8, and the claims compare them."""
    from bitnet_repro.paper import table3

    def write(name, ppl, ptq=None, run=None):
        c4 = {"ppl": ppl, "nll": math.log(ppl), "tokens": 8192, **({"bytes": 32768} if run else {})}
        ours = {"model": "smollm2-135m", "num_fewshot": 0, "limit": 100, "device": "cpu",
                "token_ppl": {"wikitext2": {"ppl": ppl, "tokens": 8192}, "c4": c4, "avg_ppl": ppl}}  # fmt: skip
        if ptq:
            ours["ptq"] = ptq
        if run:
            ours["run"] = run
        (tmp_path / f"{name}.json").write_text(json.dumps({"bitnet_repro": ours}))

    info = {"model": "smollm2-135m", "params": 134515008, "tokens_trained": "2T", "size": "smollm2-135m",
            "source": "SmolLM2-135M-Instruct.Q4_1.gguf"}  # fmt: skip
    write("fp16", 27.5)
    write("gptq", 1.1e6, ptq={"model_info": info, "method_title": "GPTQ", "status": "ok", "implementation": "x",
                              "calibration": "c", "caveat": "", "seconds_quantize": 1.0,
                              "setting": {"spec": "gptq:W2A16", "w_bits": 2, "a_bits": 16}})  # fmt: skip
    for arm, ppl, weight in (("bitdistill", 3400.0, 1.0), ("qat", 4800.0, 0.0)):
        write(arm, ppl, run={"run_id": f"bitdistill-{arm}-0", "size": "smollm2-135m", "variant": "bitnet_b158",
                             "tokens_trained": 102400, "params_nonembedding": 106168896,
                             "distill": {"teacher": "smollm2-135m", "logit_weight": weight, "relation_weight": weight,
                                         "cpt_steps": 50}})  # fmt: skip
    ngram = {"models": {"kn3": {"c4_train": {"tokens": 65536, "ppl": 36.4, "bpb": 2.19}}}}
    rows = table3.run(sorted(tmp_path.glob("*.json")), tmp_path / "t.csv", tmp_path / "t.md", "test", ngram=ngram)
    assert "134,515,008 parameters (all)" in (tmp_path / "t.md").read_text()
    # bits per byte from the NLL where bytes were not recorded: 8192 tokens of the same text, 32768 bytes
    assert math.isclose(rows[0]["bpb_c4"], math.log(27.5) * 8192 / (math.log(2) * 32768)) and rows[0]["bpb_derived"]
    assert [r["method"] for r in rows] == ["Transformer", "GPTQ", "BitNet b1.58 (BitDistill)",
                                           "BitNet b1.58 (QAT, no distillation)"]
    assert rows[0]["params"] == 134515008 and rows[0]["tokens_trained"] == "2T"
    md = (tmp_path / "t.md").read_text()
    assert "| BitNet b1.58 (BitDistill) | W1.58A8 | no | 3400 |" in md
    assert "trained from smollm2-135m's weights for 102,400 tokens (bitdistill-qat-0)" in md
    assert "BitNet b1.58 (BitDistill) beats every 1- and 2-bit PTQ method on PPL: yes" in md
    assert "BitDistill beats ternary QAT at equal tokens: yes (BitDistill PPL 3400; QAT PPL 4800" in md
    floor = "| Kneser-Ney trigram (count model, the profile's own tokenizer: bits per byte only) | - | - | - | 2.190 |"
    assert floor in md
    assert "trigram's 2.190, fitted on the profile's own tokenizer, so only bits per byte compare): 3 of 4" in md


@pytest.mark.skipif(not list(REPO.glob("results/cpu/runs/distill-sweep-*/summary.json")), reason="no committed sweep")
def test_the_bitdistill_sweep_table_places_every_setting_against_the_count_model_floor(tmp_path):
    from bitnet_repro.paper import bitdistill_sweep

    runs = sorted(REPO.glob("results/cpu/runs/distill-sweep-*"))
    ngram = json.loads((REPO / "results/cpu/baselines/ngram.json").read_text())
    rows = bitdistill_sweep.run([r / "summary.json" for r in runs], [r / "config.json" for r in runs], [1.0, 1.0],
                                tmp_path / "s.csv", tmp_path / "s.md", "cpu", ngram=ngram)  # fmt: skip
    floor = ngram["models"]["kn3"]["c4_train"]["bpb"]
    for r in rows:  # the level follows bits per byte on every set against the trigram's
        kn3 = ngram["models"]["kn3"]
        below = all(r[f"val_{n}_bpb"] < kn3[f"{n}_train"]["bpb"] for n in ("c4", "indomain", "wikitext2"))
        assert (r["level"] == "beats KN-3") == below
    md = (tmp_path / "s.md").read_text()
    assert f"| {floor:.3f} | the floor |" in md and "settings at the n-gram level" in md
