"""The claims ledger (bitnet_repro/paper/claims.py): every headline claim of FIGURES.md has an entry, a verdict is
given only between models that beat the count-model floor, and the ledger is computed from the result files."""

import json
from pathlib import Path

import pytest

from bitnet_repro.paper import claims
from bitnet_repro.paper.writer import paper_dir, write_csv

ROOT = Path(__file__).resolve().parents[1]
FIGURES = paper_dir() / "FIGURES.md"
CPU = ROOT / "results" / "cpu"
SETS = ("c4", "indomain", "wikitext2")


@pytest.mark.skipif(not FIGURES.exists(), reason=f"the paper's FIGURES.md is not at {FIGURES}")
def test_every_headline_claim_of_figures_md_has_an_entry():
    text = FIGURES.read_text().split("Headline claims", 1)[1]
    bullets = [line[2:].rstrip(".") for line in text.splitlines() if line.startswith("- ")]
    said = [f"{claim} ({paper})" for _, claim, paper in claims.CLAIMS]
    joined = said + [f"{a}; {b}" for a, b in zip(said, said[1:])]  # a bullet with two claims has two entries
    assert len(bullets) == 9
    assert [b for b in bullets if b not in joined] == []


def _ngram(tmp_path, loss=4.0):
    models = {"kn3": {f"{n}_train": {"loss": loss, "ppl": 2.718**loss, "bpb": loss / 2} for n in SETS}}
    path = tmp_path / "ngram.json"
    path.write_text(json.dumps({"train_tokens": 1000, "models": models}))
    return path


def _training(tmp_path, losses):
    """training.csv with one row per (size, variant): loss on every validation set."""
    rows = [{"size": s, "variant": v, "params_nonembedding": 1, "status": "completed",
             **{f"val_{n}_loss": loss for n in SETS}} for (s, v), loss in losses.items()]  # fmt: skip
    path = tmp_path / "training.csv"
    write_csv(path, rows, list(rows[0]))
    return path


def _ledger(tmp_path, losses, **kw):
    out = tmp_path / "claims.json"
    claims.run(_training(tmp_path, losses), _ngram(tmp_path), "test", out, tmp_path / "claims.md", **kw)
    return {c["id"]: c for c in json.loads(out.read_text())["claims"]}


def test_a_shrinking_gap_that_closes_holds_between_models_above_the_floor(tmp_path):
    got = _ledger(tmp_path, {("cpu-s", "fp16"): 3.5, ("cpu-s", "bitnet_b158"): 3.7,
                             ("cpu-m", "fp16"): 3.3, ("cpu-m", "bitnet_b158"): 3.305})  # fmt: skip
    c = got["b158_matches_fp16"]
    assert (c["holds"], c["at_face_value"]) == (True, True)
    assert "+0.200" in c["measured"] and "+0.005" in c["measured"]


def test_a_gap_that_does_not_shrink_does_not_hold(tmp_path):
    got = _ledger(tmp_path, {("cpu-s", "fp16"): 3.5, ("cpu-s", "bitnet_b158"): 3.505,
                             ("cpu-m", "fp16"): 3.3, ("cpu-m", "bitnet_b158"): 3.4})  # fmt: skip
    assert got["b158_matches_fp16"]["holds"] is False


def test_no_verdict_between_models_at_the_ngram_level(tmp_path):
    got = _ledger(tmp_path, {("cpu-s", "fp16"): 4.2, ("cpu-s", "bitnet_b158"): 4.205,
                             ("cpu-xs-2x", "bitnet_b158"): 4.21, ("cpu-xs", "fp16"): 3.9})  # fmt: skip
    c = got["b158_matches_fp16"]
    assert c["holds"] is None and c["at_face_value"] is True
    assert "n-gram level" in c["reason"] and "cpu-s fp16" in c["reason"]
    wide = got["b158_2x_width"]  # cpu-xs-2x against cpu-xs's FP16
    assert wide["holds"] is None and "cpu-xs-2x vs cpu-xs +0.310" in wide["measured"]


def test_stability_holds_where_fp16_diverges_and_b1_completes(tmp_path):
    pilots = [{"arm": a, "lr": lr, "status": s, "val_c4_loss": loss} for a, lr, s, loss in [
        ("fp16", 0.002, "completed", 3.0), ("fp16", 0.016, "diverged", ""),
        ("bitnet_b1", 0.002, "completed", 3.4), ("bitnet_b1", 0.016, "completed", 3.3)]]  # fmt: skip
    write_csv(tmp_path / "pilots.csv", pilots, list(pilots[0]))
    got = _ledger(tmp_path, {("cpu-s", "fp16"): 3.5}, pilots=tmp_path / "pilots.csv")
    c = got["b1_stable_lr"]
    assert c["holds"] is True and "0.016" in c["reason"]


def test_claims_not_built_are_untested_with_the_target_to_build(tmp_path):
    got = _ledger(tmp_path, {("cpu-s", "fp16"): 3.5})
    for key in ("gptq_quip", "kv4_free", "cost_memory_latency", "cost_70b_throughput", "b1_stable_lr"):
        assert got[key]["holds"] is None and got[key]["reason"].startswith(claims.NOT_BUILT), key
        assert "snakemake" in got[key]["reason"], key


@pytest.mark.skipif(not (CPU / "tables" / "table3.csv").exists(), reason="no committed cpu results")
def test_the_ledger_on_the_committed_cpu_results(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the paths as the rule names them
    t, stability = Path("results/cpu/tables"), Path("results/cpu/figures/figure6.csv")
    entries = claims.run(t / "training.csv", Path("results/cpu/baselines/ngram.json"), "cpu", tmp_path / "c.json",
                         tmp_path / "c.md", table3=t / "table3.csv", ptq_sizes=t / "ptq_sizes.csv",
                         pilots=t / "pilots.csv", table6=t / "table6.csv", table4=t / "table4_cost.csv",
                         table7=t / "table7.csv", table3_pretrained=[t / "table3_smollm2-135m.csv"],
                         stability=stability if stability.exists() else None)  # fmt: skip
    assert [e["id"] for e in entries] == [c[0] for c in claims.CLAIMS]
    for e in entries:
        assert e["holds"] is not None or e["reason"], e["id"]  # every untested claim says why
        assert all(Path(s).exists() for s in e["sources"]), e["id"]
    by = {e["id"]: e for e in entries}
    # the ladder's models are all at the n-gram level: no model-quality verdict on them
    for key in ("b158_matches_fp16", "b1_beats_lowbit_ptq", "b158_2x_width"):
        assert by[key]["holds"] is None and "n-gram level" in by[key]["reason"]
    # Table 3's claims are tested on the pretrained SmolLM2 only, whose FP16 beats the floor in bits per byte
    assert "smollm2-135m (pretrained)" in by["gptq_quip"]["measured"]
    assert by["gptq_quip"]["reason"].startswith("tested only on")
    # the committed ledger is what the rule makes from these files
    committed = t / "claims.json"
    if committed.exists():
        assert json.loads(committed.read_text())["claims"] == json.loads((tmp_path / "c.json").read_text())["claims"]
