"""Post-training-quantization baselines: one file per method, each registering itself under a name.

A method is a subclass of `Baseline` decorated with `@register`. It declares what it supports (weight and
activation bit widths), the settings it contributes to Table 3, and one entry point,
`apply(model, calib, setting) -> model`, that takes an FP16 `transformers` causal LM (and calibration token
ids, a LongTensor [n, seq_len]) and returns the quantized model. Everything else (loading, calibration data,
which modules stay high precision, the non-finite check, evaluation, tables) is shared: see
`bitnet_repro/ptq/`. README "Adding a baseline" walks through a new method end to end.

    from bitnet_repro.ptq.baselines import get, setting
    s = setting("gptq:W4A16", calib_samples=64)   # validated against what the method supports
    model = get(s.method)().apply(model, calib, s)
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from bitnet_repro.errors import ReproError

FP = 16  # "bits" of an unquantized tensor: A16 means activations stay in floating point
HIGH_PRECISION = ("embed_tokens", "lm_head")  # modules every method leaves alone unless the setting says otherwise
GRANULARITIES = ("per_channel", "per_tensor", "per_group")
REQUIRED = ("name", "title", "implementation", "w_bits", "table3")  # what every method sets (no usable default)


class BaselineError(ReproError, ValueError):
    """An unknown method or an impossible setting; the message says what is allowed."""


@dataclass(frozen=True)
class Setting:
    """One quantization of one method: frozen, hashable, printed as e.g. `gptq:W4A16`."""

    method: str
    w_bits: int
    a_bits: int = FP
    granularity: str = "per_channel"  # weights: one of GRANULARITIES
    group_size: int | None = None  # with per_group
    calib_samples: int = 128  # sequences of the training corpus (GPTQ's usual 128)
    keep: tuple[str, ...] = HIGH_PRECISION  # module names (suffix match) left in high precision
    params: tuple[tuple[str, Any], ...] = ()  # method parameters, e.g. (("alpha", 0.5),)

    @property
    def label(self) -> str:
        return f"W{self.w_bits}A{self.a_bits}"

    @property
    def spec(self) -> str:
        return f"{self.method}:{self.label}"

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def keeps(self, module_name: str) -> bool:
        """Whether `module_name` (e.g. model.layers.0.mlp.up_proj) stays in high precision."""
        return any(module_name == k or module_name.endswith("." + k) for k in self.keep)


class Baseline:
    """A post-training quantization method. Subclasses set the class attributes (REQUIRED ones at least; `register`
    checks) and implement `apply`."""

    name: ClassVar[str]  # required: registry key and file name
    title: ClassVar[str]  # required: as printed in tables
    implementation: ClassVar[str]  # required: the library (and version) or "this suite"; in Table 3's caption
    reference: ClassVar[str] = ""  # the paper and the variant of its method, e.g. "Frantar et al. 2023, per channel"
    w_bits: ClassVar[tuple[int, ...]]  # required: supported weight bit widths
    a_bits: ClassVar[tuple[int, ...]] = (FP,)  # supported activation bit widths (16: not quantized)
    granularities: ClassVar[tuple[str, ...]] = ("per_channel", "per_tensor")
    table3: ClassVar[tuple[str, ...]]  # required: settings this method adds to Table 3, e.g. ("W4A16", "W2A16")
    needs_calibration: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}  # method parameters and their defaults
    caveat: ClassVar[str] = ""  # where the implementation differs from the paper's method: goes in captions

    def apply(self, model, calib, setting: Setting):  # pragma: no cover - interface
        raise NotImplementedError


REGISTRY: dict[str, type[Baseline]] = {}


def register(cls: type[Baseline]) -> type[Baseline]:
    """Add a method to the registry (a class decorator), after checking its declarations."""
    check_declarations(cls)
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise BaselineError(f"two baselines are named {cls.name!r}: {REGISTRY[cls.name]} and {cls}")
    REGISTRY[cls.name] = cls
    return cls


def check_declarations(cls: type[Baseline]) -> None:
    """A BaselineError naming what `cls` leaves unset or declares inconsistently."""
    where = f"PTQ baseline {cls.__qualname__} ({cls.__module__})"
    missing = [a for a in REQUIRED if not getattr(cls, a, None)]
    if missing:
        raise BaselineError(f"{where} does not set {', '.join(missing)}; every method sets {', '.join(REQUIRED)} "
                            "(README, 'Adding a baseline')")  # fmt: skip
    if not re.fullmatch(r"[a-z0-9_]+", cls.name):
        raise BaselineError(f"{where}: name {cls.name!r} must be lower-case letters, digits and _ (its file name)")
    odd = [g for g in cls.granularities if g not in GRANULARITIES]
    if odd:
        raise BaselineError(f"{where}: granularities {odd} are not among {list(GRANULARITIES)}")
    for label in cls.table3:
        w, a = _parse_label(label)
        if w not in cls.w_bits or a not in cls.a_bits:
            raise BaselineError(f"{where}: Table 3 setting {label} is outside its w_bits {list(cls.w_bits)} and "
                                f"a_bits {list(cls.a_bits)}")  # fmt: skip


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def method_files() -> list[str]:
    """The method modules on disk: every bitnet_repro/ptq/baselines/*.py except private ones."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def discover() -> dict[str, type[Baseline]]:
    for name in method_files():
        importlib.import_module(f"{__name__}.{name}")
    return REGISTRY


def get(name: str) -> type[Baseline]:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(REGISTRY))
        raise BaselineError(f"unknown PTQ method {name!r}.{hint} Known: {known} (bitnet_repro/ptq/baselines/)")
    return REGISTRY[name]


_LABEL = re.compile(r"^W(\d+)A(\d+)$")


def _parse_label(label: str) -> tuple[int, int]:
    m = _LABEL.match(label)
    if not m:
        raise BaselineError(f"bad bit-width label {label!r}: expected W<bits>A<bits>, e.g. W4A16 or W8A8")
    return int(m[1]), int(m[2])


def setting(spec: str, **overrides: Any) -> Setting:
    """`method:W<w>A<a>` (plus field overrides) as a validated Setting. Method parameters not given take the
    method's defaults; an unknown parameter or an unsupported bit width is a BaselineError."""
    method, _, label = spec.partition(":")
    cls = get(method)
    if not label:
        raise BaselineError(f"{spec!r} names no bit widths: use e.g. {method}:{(cls.table3 or ('W4A16',))[0]}")
    w, a = _parse_label(label)
    params = dict(overrides.pop("params", {}))
    if "keep" in overrides:
        overrides["keep"] = tuple(overrides["keep"])
    s = Setting(method=method, w_bits=w, a_bits=a, params=tuple(sorted(cls.defaults.items())))
    s = replace(s, **overrides) if overrides else s
    s = with_params(s, **params) if params else s
    validate(s)
    return s


def with_params(s: Setting, **params: Any) -> Setting:
    cls = get(s.method)
    unknown = set(params) - set(cls.defaults)
    if unknown:
        raise BaselineError(
            f"{s.method} has no parameter(s) {sorted(unknown)}; it takes {sorted(cls.defaults) or 'none'}"
        )
    for name, value in params.items():
        check_param(s.method, name, value, cls.defaults[name])
    return replace(s, params=tuple(sorted({**dict(s.params), **params}.items())))


def check_param(method: str, name: str, value: Any, default: Any) -> None:
    """A method parameter must be of its default's kind: a number for a number, a whole number for a whole
    number, true/false for a flag, text for text (a default of None takes anything)."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "text"
    else:
        ok, kind = True, ""
    if not ok:
        raise BaselineError(f"{method} parameter {name} must be {kind} (default {default!r}), not {value!r}")


def validate(s: Setting) -> None:
    cls = get(s.method)
    if s.w_bits not in cls.w_bits:
        raise BaselineError(f"{cls.title} supports weight bits {list(cls.w_bits)}, not {s.w_bits} ({s.spec})")
    if s.a_bits not in cls.a_bits:
        acts = ", ".join("16 (not quantized)" if b == FP else str(b) for b in cls.a_bits)
        raise BaselineError(f"{cls.title} supports activation bits {acts}, not {s.a_bits} ({s.spec})")
    if s.granularity not in cls.granularities:
        raise BaselineError(f"{cls.title} supports granularity {list(cls.granularities)}, not {s.granularity!r}")
    if (s.granularity == "per_group") != (s.group_size is not None):
        raise BaselineError("group_size goes with granularity per_group, and only with it")
    if s.calib_samples < 1 and cls.needs_calibration:
        raise BaselineError(f"{cls.title} needs calibration data: calib_samples must be >= 1")


def table3_settings(**overrides: Any) -> list[Setting]:
    """Every registered method's Table 3 settings, in registry order (one row each)."""
    discover()
    return [setting(f"{name}:{label}", **overrides) for name, cls in REGISTRY.items() for label in cls.table3]


discover()
