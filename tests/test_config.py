"""Configs: every YAML validates (JSON Schema and dataclasses), bad values fail clearly, presets cite tables."""

from pathlib import Path

import jsonschema
import pytest
import yaml

from bitnet_repro.config import ConfigError, ModelConfig, RunConfig, TrainConfig
from bitnet_repro.presets import SIZES, preset_model, recipe
from bitnet_repro.profile import load_profile, runs_from_profile

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = yaml.safe_load((ROOT / "workflows/schemas/profile.schema.yaml").read_text())


@pytest.mark.parametrize("path", sorted((ROOT / "workflows/profiles").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_profile_validates_twice(path):
    profile = yaml.safe_load(path.read_text())
    jsonschema.validate(profile, SCHEMA)
    runs = runs_from_profile(profile)
    assert runs and len({r.run_id for r in runs}) == len(runs)
    for run in runs:
        assert RunConfig.from_dict(run.to_dict()) == run


def test_every_yaml_in_the_repo_parses():
    from lm_eval.tasks._yaml_loader import load_yaml

    for path in ROOT.rglob("*.y*ml"):
        if ".venv" in path.parts or "results" in path.parts or ".snakemake" in path.parts:
            continue
        if "tasks" in path.parts:  # lm-eval task files: `!function` tags, resolved by lm-eval's own loader
            assert load_yaml(path, resolve_func=True, recursive=True)
        else:
            yaml.safe_load(path.read_text())


def test_profiles_cover_the_issue():
    smoke = runs_from_profile(load_profile("smoke"))
    assert {(r.size, r.variant) for r in smoke} == {
        (s, v) for s in ("tiny-1", "tiny-2") for v in ("fp16", "bitnet_b1", "bitnet_b158")
    }
    cpu = runs_from_profile(load_profile("cpu"))
    sizes = sorted({r.size for r in cpu}, key=lambda s: SIZES[s]["d_model"])
    params = [preset_model(s, "fp16").n_params_nonembedding for s in sizes]
    assert len(sizes) >= 4 and params[-1] / params[0] >= 8
    paper = runs_from_profile(load_profile("paper"))
    assert {r.size for r in paper} >= {f"b1-{s}" for s in ("125M", "1.3B", "6.7B", "30B")} | {"b158-3B"}


def test_presets_match_paper_tables():
    m = preset_model("b158-3B", "bitnet_b158")
    assert (m.d_model, m.d_ff, m.n_heads, m.n_layers) == (3200, 8640, 32, 26)  # Table 12
    assert SIZES["b158-3B"]["source"] == "Table 12" and SIZES["b1-6.7B"]["source"] == "Table 10"
    r = recipe("b158-700M", "bitnet_b158")  # Table 13
    assert (r["lr"], r["lr_stage2"], r["weight_decay"], r["wd_stage2"], r["warmup_steps"]) == (
        1.5e-3,
        1e-3,
        0.1,
        0.0,
        375,
    )
    assert recipe("b158-700M", "fp16")["lr"] == 2.5e-4
    r = recipe("b1-13B", "bitnet_b1")  # Table 10
    assert (r["lr"], r["weight_decay"], r["betas"], r["warmup_steps"], r["steps"]) == (
        4e-4,
        0.05,
        (0.9, 0.98),
        750,
        40_000,
    )
    for name, row in SIZES.items():
        assert row["source"].startswith(("Table", "ours", "LLaMA 2", "SmolLM2")), name


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: ModelConfig(linear="bitnet_b2"), "model.linear='bitnet_b2' is not one of"),
        (lambda: TrainConfig(lr=-1e-3), "train.lr=-0.001 must be a finite number > 0"),
        (lambda: TrainConfig(lr=float("nan")), "train.lr=nan"),
        (lambda: ModelConfig(d_model=100, n_heads=3), "must split into n_heads"),
        (lambda: ModelConfig(linear="fp16", arch="subln"), "only applies to BitNet"),
        (lambda: TrainConfig(batch_tokens=1000), "multiple of micro_batch"),
        (lambda: ModelConfig(quant_groups=3), "must divide"),
    ],
)
def test_bad_values_fail_clearly(build, match):
    with pytest.raises(ConfigError, match=match.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_unknown_key_and_version():
    run = runs_from_profile(load_profile("smoke"))[0]
    d = run.to_dict()
    d["model"]["hidden"] = 3
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict(d)
    d = run.to_dict()
    d["format_version"] = 99
    with pytest.raises(ConfigError, match="format_version"):
        RunConfig.from_dict(d)


def test_run_id_follows_content():
    profile = load_profile("smoke")
    a = runs_from_profile(profile)[0]
    assert a.run_id == runs_from_profile(load_profile("smoke"))[0].run_id
    profile["train"]["steps"] += 1
    assert runs_from_profile(profile)[0].run_id != a.run_id


def test_unknown_profile():
    with pytest.raises(ConfigError, match="available"):
        load_profile("nope")


def test_pilot_runs_and_one_lr_per_variant_across_widths():
    from bitnet_repro.presets import STAGE2_RATIO
    from bitnet_repro.profile import pilot_runs

    profile = load_profile("cpu")
    pilots = pilot_runs(profile)
    assert pilots and len({r.run_id for r in pilots}) == len(pilots)
    assert all(r.name.startswith(f"pilot-{profile['pilots']['size']}-") for r in pilots)
    for r in pilots:
        if r.train.schedule == "two_stage":
            assert r.train.lr_stage2 == pytest.approx(r.train.lr * STAGE2_RATIO, rel=1e-5)
    b1_recipe = [r for r in pilots if "bitnet_b1recipe" in r.name]
    assert b1_recipe and all(r.variant == "fp16" and r.train.schedule == "polynomial" for r in b1_recipe)
    ladder = runs_from_profile(profile)
    for variant in ("fp16", "bitnet_b1", "bitnet_b158"):
        assert len({r.train.lr for r in ladder if r.variant == variant}) == 1  # LR not coupled to width
    b158 = next(r for r in ladder if r.variant == "bitnet_b158")
    assert b158.train.lr_stage2 == pytest.approx(b158.train.lr * STAGE2_RATIO, rel=1e-5)
    wide = next(r for r in ladder if r.size == "cpu-xs-2x")
    assert wide.model.d_model == 2 * SIZES["cpu-xs"]["d_model"] and wide.variant == "bitnet_b158"


def test_budget_runs_are_ladder_runs_with_more_steps():
    from bitnet_repro.profile import Profile, budget_runs

    profile = load_profile("cpu")
    ladder = {(r.size, r.variant): r for r in runs_from_profile(profile)}
    runs = budget_runs(profile)
    assert [r.name for r in runs] == [f"budget-{e['size']}-{e['variant']}-{e['steps']}steps" for e in profile["budget"]]
    for r, e in zip(runs, profile["budget"]):
        base = ladder[(r.size, r.variant)]
        assert r.train.steps == e["steps"] > base.train.steps
        assert r.model == base.model and r.train.lr == base.train.lr and r.train.schedule == base.train.schedule
    assert {r.run_id for r in runs} <= {r.run_id for r in Profile.from_dict(profile).pilots}
    with pytest.raises(ConfigError, match="trains no fp16 model of size 'cpu-xl'"):
        budget_runs({**profile, "budget": [{"size": "cpu-xl", "variant": "fp16", "steps": 10}]})


def test_resume_check_names_a_ladder_run():
    from bitnet_repro.profile import Profile

    profile = load_profile("cpu")
    assert Profile.from_dict(profile).check_resume_run == profile["check_resume_run"]
    with pytest.raises(ConfigError, match="check_resume_run: 'cpu-xs-bitnet_b1.58' is not a run of the ladder"):
        Profile.from_dict({**profile, "check_resume_run": "cpu-xs-bitnet_b1.58"})


def test_bitdistill_runs_are_students_of_the_teacher_shape_on_its_tokens():
    from bitnet_repro.profile import Profile, distill_runs

    profile = {**load_profile("cpu"), "bitdistill": {
        "teacher": "smollm2-135m", "vocab_size": 49152,
        "train": {"steps": 20, "warmup_steps": 2, "seq_len": 128, "micro_batch": 4, "batch_tokens": 512, "lr": 1e-4,
                  "schedule": "cosine"},
        "arms": {"bitdistill": {"cpt_steps": 10}, "qat": {"logit_weight": 0, "relation_weight": 0}}}}  # fmt: skip
    runs = distill_runs(profile)
    assert [r.name for r in runs] == ["bitdistill-bitdistill", "bitdistill-qat"]
    for r in runs:
        m = r.model
        assert (m.linear, m.arch, m.kv_heads, m.tie_embeddings) == ("bitnet_b158", "subln", 3, True)
        assert r.data.tokenizer == "smollm2-135m" and r.data.vocab_size == 49152 and r.train.seq_len == 128
        assert (r.train.steps, r.train.batch_tokens) == (20, 512)  # the section's, not the ladder's
    assert runs[0].distill.cpt_steps == 10 and runs[1].distill.logit_weight == 0
    assert {r.run_id for r in runs} <= {r.run_id for r in Profile.from_dict(profile).pilots}
    assert distill_runs(load_profile("smoke")) == []


def test_the_bitdistill_sweep_is_the_distilling_arm_at_each_weight_pair():
    from bitnet_repro.profile import Profile, distill_runs, distill_sweep_runs

    profile = load_profile("cpu")
    arm = next(r for r in distill_runs(profile) if r.name == "bitdistill-bitdistill")
    sweep = distill_sweep_runs(profile)
    pairs = [(r.distill.logit_weight, r.distill.relation_weight) for r in sweep]
    assert pairs == [tuple(w) for w in profile["bitdistill"]["sweep"]["weights"]]
    assert sweep[0].name == "distill-sweep-logits1-relations1"
    for r in sweep:  # the arm's recipe but for the sweep's length
        assert r.model == arm.model and r.data == arm.data
        assert (r.train.lr, r.train.batch_tokens, r.train.seq_len) == (arm.train.lr, arm.train.batch_tokens,
                                                                       arm.train.seq_len)  # fmt: skip
        assert r.train.steps == profile["bitdistill"]["sweep"]["train"]["steps"] < arm.train.steps
        assert r.distill.temperature == arm.distill.temperature and r.distill.teacher == arm.distill.teacher
    assert len({r.run_id for r in sweep}) == len(sweep)
    assert {r.run_id for r in sweep} <= {r.run_id for r in Profile.from_dict(profile).pilots}
    no_arm = {**profile, "bitdistill": {**profile["bitdistill"], "arms": {"qat": {"logit_weight": 0,
                                                                                  "relation_weight": 0}}}}  # fmt: skip
    with pytest.raises(ConfigError, match="no arm with distillation weights"):
        distill_sweep_runs(no_arm)
