"""Profiles: YAML files in workflows/profiles/ (validated against workflows/schemas/profile.schema.yaml). One
profile expands to a list of RunConfigs (its ladder and its learning-rate pilots)."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bitnet_repro.config import (
    LATER_FIELDS,
    ConfigError,
    DataConfig,
    DistillConfig,
    RunConfig,
    TrainConfig,
    build_section,
)
from bitnet_repro.presets import STAGE2_RATIO, preset_model, recipe, small_recipe

# --------------------------------------------------------------------------------------------------------
# Profiles: YAML files in workflows/profiles/. One profile expands to a list of RunConfigs.
# --------------------------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILE_DIR = REPO_ROOT / "workflows" / "profiles"


SCHEMA_PATH = REPO_ROOT / "workflows" / "schemas" / "profile.schema.yaml"


def load_profile(name_or_path: str | Path) -> dict[str, Any]:
    """A profile's YAML as a dict, checked against the schema (a mistake names the file, the key and what it
    should be, in a few lines)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        hint = difflib.get_close_matches(str(name_or_path), available, n=1)
        hint = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"profile {str(name_or_path)!r} not found at {path}{hint}; available: {available}")
    try:
        profile = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    check_profile(profile, path)
    return profile


def _key_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


@functools.cache
def _schema_validator():
    """The profile schema's validator, read once per process: Snakemake validates every profile at each start."""
    import jsonschema

    return jsonschema.Draft202012Validator(yaml.safe_load(SCHEMA_PATH.read_text()))


def check_profile(profile: Any, path: str | Path) -> None:
    """Validate a profile against workflows/schemas/profile.schema.yaml; raise one ConfigError naming the file,
    the key, the value and what the schema expects there (with a did-you-mean for a misspelt key)."""
    import jsonschema

    if not isinstance(profile, dict) or "name" not in profile:
        raise ConfigError(f"{path}: a profile is a mapping with at least a 'name' key")
    error = jsonschema.exceptions.best_match(_schema_validator().iter_errors(profile))
    if error is None:
        return
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, allowed, n=1)) else repr(k)
                 for k in unknown]  # fmt: skip
        raise ConfigError(f"{path}: unknown key {', '.join(hints)} in {where}; allowed there: {', '.join(allowed)}")
    expected = {k: error.schema[k] for k in ("type", "enum", "minimum", "maximum", "pattern") if k in error.schema}
    raise ConfigError(f"{path}: {where} = {error.instance!r} is invalid: {error.message}"
                      + (f" (expected {expected})" if expected and len(repr(expected)) < 200 else ""))


def profile_data(profile: dict[str, Any]) -> DataConfig:
    """The DataConfig of a profile (its `data` section)."""
    return build_section(DataConfig, profile.get("data", {}), "data")


def runs_from_profile(profile: dict[str, Any]) -> list[RunConfig]:
    """Every training run of a profile: its sizes x variants, plus explicit extra runs."""
    runs = []
    data = profile_data(profile)
    for entry in profile.get("models", []):
        for size in entry["sizes"]:
            for variant in entry["variants"]:
                runs.append(make_run(profile, data, size, variant, entry.get("model", {}), entry.get("train", {})))
    return runs


def pilot_runs(profile: dict[str, Any], key: str = "pilots", prefix: str = "pilot") -> list[RunConfig]:
    """The profile's learning-rate pilots (its `pilots` section): one size, each variant at each listed peak
    LR with that variant's recipe, `steps` steps; named `pilot-<size>-<variant>-lr<lr>`. An arm may also name
    a recipe of another variant (`recipe: bitnet_b1` trains FP16 with b1's recipe, Sec. 3.1.1). The stability
    test (`stability` section, Figure 6) is built the same way: `stability_runs`."""
    section = profile.get(key)
    if not section:
        return []
    data = profile_data(profile)
    runs = []
    for arm in section["arms"]:
        variant, recipe_of = arm["variant"], arm.get("recipe", arm["variant"])
        for lr in arm["lrs"]:
            train = {**small_recipe(recipe_of, lr), **profile.get("train", {}), **section.get("train", {})}
            tag = "" if recipe_of == variant else f"-{recipe_of}recipe"
            runs.append(make_run(profile, data, section["size"], variant, train_overrides=train,
                                 name=f"{prefix}-{section['size']}-{variant}{tag}-lr{lr:g}"))  # fmt: skip
    return runs


def stability_runs(profile: dict[str, Any]) -> list[RunConfig]:
    """The stability test of Figure 6 (the `stability` section): FP16 and BitNet b1 at one size over a ladder of
    peak LRs, each with its variant's recipe; named `stability-<size>-<variant>-lr<lr>`. A run that diverges is
    an outcome (its summary says `diverged`), not a failed job. `snakemake figure6`."""
    return pilot_runs(profile, "stability", "stability")


def numerics_runs(profile: dict[str, Any]) -> list[RunConfig]:
    """The precision check (the `numerics` section): one size, each variant in each precision mode (e.g. fp32 eager
    against `auto` + torch.compile, which is bf16 where the CPU has bf16 units) with each seed (initialisation and
    data order), at the ladder's recipe for that variant and the section's training length; named
    `numerics-<size>-<variant>-<precision>[-compile]-seed<seed>`, the precision as resolved. `snakemake numerics`."""
    section = profile.get("numerics")
    if not section:
        return []
    data = profile_data(profile)
    runs = []
    for variant in section["variants"]:
        ladder = next((m for m in profile.get("models", []) if variant in m["variants"]), {})
        for mode in section["modes"]:
            for seed in section["seeds"]:
                train = {**ladder.get("train", {}), **section.get("train", {}), **mode, "seed": seed}
                run = make_run(profile, data, section["size"], variant, ladder.get("model", {}), train)
                tag = run.train.precision + ("-compile" if run.train.compile else "")  # `auto` resolved
                runs.append(dataclasses.replace(run, name=f"numerics-{section['size']}-{variant}-{tag}-seed{seed}"))
    return runs


def budget_runs(profile: dict[str, Any]) -> list[RunConfig]:
    """The profile's token-budget runs (its `budget` section): single ladder models trained for more steps than
    the ladder, with the ladder's own recipe for that variant; named `budget-<size>-<variant>-<steps>steps`."""
    data = profile_data(profile)
    runs = []
    for entry in profile.get("budget", []):
        size, variant = entry["size"], entry["variant"]
        ladder = next((m for m in profile.get("models", []) if size in m["sizes"] and variant in m["variants"]), None)
        if ladder is None:
            raise ConfigError(f"budget: the ladder (`models`) trains no {variant} model of size {size!r}")
        train = {**ladder.get("train", {}), "steps": entry["steps"]}
        runs.append(make_run(profile, data, size, variant, ladder.get("model", {}), train,
                             name=f"budget-{size}-{variant}-{entry['steps']}steps"))  # fmt: skip
    return runs


DISTILL_ARRAY_TOKENS = 1_000_000_000  # a sharded profile's BitDistill data: 60x the paper arm's 16.4M tokens


def distill_runs(profile: dict[str, Any]) -> list[RunConfig]:
    """The profile's BitDistill runs (its `bitdistill` section): one BitNet b1.58 student of the teacher's shape
    per arm (`bitdistill-<arm>`), on the profile's documents tokenized with the teacher's own tokenizer."""
    section = profile.get("bitdistill")
    if not section:
        return []
    teacher = section["teacher"]
    data = profile_data(profile)
    if data.format == "shards":  # shards are tokenized with the profile's SentencePiece model only: the teacher's
        # documents are one in-memory array, of far fewer tokens than the ladder's corpus
        later = LATER_FIELDS["data"]
        data = dataclasses.replace(data, format="array", shard_tokens=later["shard_tokens"],
                                   shard_parts=later["shard_parts"], hf_train_tokens=DISTILL_ARRAY_TOKENS)  # fmt: skip
    data = dataclasses.replace(data, tokenizer=teacher, vocab_size=section["vocab_size"])
    runs = []
    for arm, weights in section["arms"].items():
        # the section's own recipe: none of the ladder's training settings apply to a converted pretrained model
        run = make_run({**profile, "train": {}}, data, teacher, "bitnet_b158", {}, section.get("train", {}),
                       name=f"bitdistill-{arm}")  # fmt: skip
        runs.append(dataclasses.replace(run, distill=DistillConfig(teacher=teacher, **weights)))
    return runs


def distill_sweep_runs(profile: dict[str, Any]) -> list[RunConfig]:
    """The loss-weight sweep of the `bitdistill` section (its `sweep`): the `bitdistill` arm's recipe with each
    (logits, relations) weight pair, for the sweep's own (shorter) training; named
    `distill-sweep-logits<w>-relations<w>`. `snakemake bitdistill_sweep`."""
    section = (profile.get("bitdistill") or {}).get("sweep")
    if not section:
        return []
    base = next((r for r in distill_runs(profile) if r.distill.logit_weight or r.distill.relation_weight), None)
    if base is None:
        raise ConfigError("bitdistill.sweep: the section has no arm with distillation weights to sweep from")
    train = build_section(TrainConfig, {**dataclasses.asdict(base.train), **section.get("train", {})},
                          "bitdistill.sweep.train")  # fmt: skip
    model = dataclasses.replace(base.model, max_seq_len=max(base.model.max_seq_len, train.seq_len))
    runs = []
    for logit_weight, relation_weight in section["weights"]:
        distill = dataclasses.replace(base.distill, logit_weight=logit_weight, relation_weight=relation_weight,
                                      cpt_steps=section.get("cpt_steps", base.distill.cpt_steps))  # fmt: skip
        name = f"distill-sweep-logits{logit_weight:g}-relations{relation_weight:g}"
        runs.append(dataclasses.replace(base, name=name, train=train, model=model, distill=distill))
    return runs


def make_run(
    profile: dict[str, Any],
    data: DataConfig,
    size: str,
    variant: str,
    model_overrides: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
    name: str | None = None,
) -> RunConfig:
    model_fields = dict(profile.get("model", {}), vocab_size=data.vocab_size, **(model_overrides or {}))
    overrides = dict(train_overrides or {})
    base = recipe(size, variant)
    if "lr" in overrides and base.get("schedule") == "two_stage" and "lr_stage2" not in overrides:
        overrides["lr_stage2"] = round(overrides["lr"] * STAGE2_RATIO, 8)  # keep Table 13's stage-2 ratio
    train_fields = {**base, **profile.get("train", {}), **overrides}
    model_fields.setdefault("max_seq_len", train_fields.get("seq_len", TrainConfig.seq_len))
    model = preset_model(size, variant, **model_fields)
    train = build_section(TrainConfig, train_fields, "train")
    name = name or f"{size}-{variant}"
    return RunConfig(
        name=name, model=model, train=train, data=data, profile=profile["name"], size=size, variant=variant
    )


# --------------------------------------------------------------------------------------------------------
# The sections beside training: evaluation, pretrained models, PTQ, inference cost, Table 6 and the benchmarks.
# Frozen dataclasses with the defaults in one place, built once per profile by `Profile.load`; the Snakemake
# rules read these objects, never the raw YAML.
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """One lm-eval suite: tasks (or groups), shots, and how much of each task to score."""

    tasks: tuple[str, ...]
    num_fewshot: int = 0
    limit: int | None = None  # the first N items of each task (lm-eval's convention)
    ppl_max_tokens: int | None = None  # token_ppl: the first N tokens of each text
    max_length: int | None = None  # context length to score with (default: the model's own)


@dataclass(frozen=True)
class Suites:
    """A section of named suites and how they are batched (eval, pretrained, ptq.pretrained)."""

    suites: dict[str, Suite] = field(default_factory=dict)
    batch_size: int = 32
    batch_tokens: int | None = None

    def flags(self, suite: str) -> str:
        """The `eval` / `ptq` command-line flags of one suite."""
        s = self.suites[suite]
        flags = [f"--tasks {' '.join(s.tasks)}", f"--num-fewshot {s.num_fewshot}", f"--batch-size {self.batch_size}"]
        for name, value in (("batch-tokens", self.batch_tokens), ("limit", s.limit), ("max-length", s.max_length),
                            ("ppl-max-tokens", s.ppl_max_tokens)):  # fmt: skip
            if value:
                flags.append(f"--{name} {value}")
        return " ".join(flags)


@dataclass(frozen=True)
class EvalSection(Suites):
    """Suites run on every trained model of the profile."""


@dataclass(frozen=True)
class PretrainedSection(Suites):
    """Real pretrained models evaluated by the profile."""

    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class PTQPretrained(Suites):
    """Table 3 on a real pretrained model: its own calibration and suites."""

    models: tuple[str, ...] = ()
    calib_samples: int | None = None  # default: the PTQ section's
    calib_seq_len: int = 512


@dataclass(frozen=True)
class PTQSection:
    """PTQ baselines on the FP16 models: Table 3 at `size`, Figure 7 across `sizes`."""

    size: str | None = None
    sizes: tuple[str, ...] = ()  # default: (size,)
    suites: tuple[str, ...] = ()  # eval suites; Table 3 uses the first
    methods: tuple[str, ...] = ()  # default: every registered method's Table 3 settings
    calib_samples: int = 128  # GPTQ's usual 128 sequences
    calib_seq_len: int = 256
    pretrained: PTQPretrained = PTQPretrained()


@dataclass(frozen=True)
class Table7Section:
    size: str = "700M"
    context: int = 512
    fp16_batch: int = 16  # FP16's batch sets the memory budget (the paper: LLaMA 70B, 16 sequences)


@dataclass(frozen=True)
class CostSection:
    """Inference cost at the paper's shapes with random weights (Table 4's cost columns, Figure 8, Table 7)."""

    sizes: tuple[str, ...] = ()
    large_sizes: tuple[str, ...] = ()  # llama.cpp only (`snakemake table4_large`)
    engines: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"llama.cpp": ("fp16", "bitnet_b158"), "torch": ("fp16", "bitnet_b158")}
    )
    prompt: int = 128
    new_tokens: int = 64
    threads: int = 2
    table7: Table7Section = Table7Section()


@dataclass(frozen=True)
class Table6Section:
    tasks: tuple[str, ...] = ("table5",)
    limit: int | None = None
    kv_bits: int = 4


@dataclass(frozen=True)
class BenchSection:
    """The training-step benchmark (at `size`) and the scoring-throughput benchmark."""

    size: str = "cpu-l"
    steps: int = 10
    repeats: int = 5
    modes: tuple[str, ...] = ()  # step-benchmark modes; () = every mode the machine runs natively (train_bench.py)
    eval_tasks: tuple[str, ...] = ("hellaswag", "arc_easy")
    eval_limit: int = 100


def _section(cls: type, values: dict[str, Any] | None, name: str) -> Any:
    """A section dataclass from its YAML mapping: nested sections and suites built, lists made tuples."""
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in {name}: {unknown}; valid keys: {sorted(known)}")
    for key, value in values.items():
        if key == "suites" and isinstance(value, dict):
            values[key] = {s: _section(Suite, v, f"{name}.suites.{s}") for s, v in value.items()}
        elif key == "engines":
            values[key] = {e: tuple(v) for e, v in value.items()}
        elif isinstance(value, dict):
            values[key] = _section(type(getattr(cls(), key)), value, f"{name}.{key}")
        elif isinstance(value, list):
            values[key] = tuple(value)
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(f"{name}: {e}") from e


@dataclass(frozen=True)
class Profile:
    """A profile resolved once: its runs, its pilots and every section, with their defaults."""

    name: str
    data: DataConfig
    runs: tuple[RunConfig, ...]
    pilots: tuple[RunConfig, ...]  # the runs beside the ladder: LR pilots, token-budget runs, BitDistill runs
    eval: EvalSection
    pretrained: PretrainedSection
    ptq: PTQSection
    cost: CostSection
    table6: Table6Section
    bench: BenchSection
    check_resume_run: str
    check_resume_steps: int | None = None
    check_resume_procs: int = 1  # the resume check trains with this many gloo processes (DDP on CPU)
    gpus_per_run: int = 1
    data_workers: int = 0  # data.format=shards: the data job's cores and most workers; 0: --cores, its CPUs

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Profile:
        runs = tuple(runs_from_profile(raw))
        if not runs:
            raise ConfigError(f"profile {raw.get('name')!r} trains no model: give it a `models` section")
        check = raw.get("check_resume_run", runs[0].name)
        if check not in {r.name for r in runs}:
            raise ConfigError(f"check_resume_run: {check!r} is not a run of the ladder; runs: {[r.name for r in runs]}")
        return cls(
            name=raw["name"], data=profile_data(raw), runs=runs,
            pilots=tuple(pilot_runs(raw) + stability_runs(raw) + budget_runs(raw) + numerics_runs(raw)
                         + distill_runs(raw) + distill_sweep_runs(raw)),
            eval=_section(EvalSection, raw.get("eval"), "eval"),
            pretrained=_section(PretrainedSection, raw.get("pretrained"), "pretrained"),
            ptq=_section(PTQSection, raw.get("ptq"), "ptq"), cost=_section(CostSection, raw.get("cost"), "cost"),
            table6=_section(Table6Section, raw.get("table6"), "table6"),
            bench=_section(BenchSection, raw.get("bench"), "bench"),
            check_resume_run=check,
            check_resume_steps=raw.get("check_resume_steps"), check_resume_procs=raw.get("check_resume_procs", 1),
            gpus_per_run=raw.get("gpus_per_run", 1), data_workers=raw.get("data_workers", 0),
        )  # fmt: skip

    @classmethod
    def load(cls, name_or_path: str | Path) -> Profile:
        raw = load_profile(name_or_path)
        try:
            return cls.from_dict(raw)
        except ConfigError as e:
            raise ConfigError(f"profile {str(name_or_path)!r}: {e}") from None
