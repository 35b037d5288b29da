"""Search spaces and tuning configs (``configs/tune/*.yaml``).

A tuning config is a mapping with four sections::

    description: what this search is for
    study:                       # defaults of tune()'s arguments; the CLI / keyword args override them
      n_trials: 30
      metric: val_loss           # or mse / mae / smape of a backtest (cv_windows windows)
      sampler: {name: tpe, n_startup_trials: 8}
      pruner: {name: median, n_startup_trials: 4, n_warmup_steps: 1}
    base:                        # fixed XLSTMForecaster parameters (preset: NAME pulls configs/models/NAME.yaml)
      preset: xlstm_patch
      horizon: 96
      lookback: 336
      max_epochs: 8
    space:                       # one entry per tuned parameter
      learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
      batch_size: {type: categorical, choices: [32, 64, 128]}
      model_params.xlstm.embedding_dim: {type: int, low: 32, high: 128, step: 32}
      use_slstm: {type: categorical, choices: [false, true], path: null}    # helper: only for `when`
      slstm_positions:
        path: model_params.xlstm.slstm_at
        type: categorical
        choices: {first: [0], all: all}     # label -> value (values may be lists)
        when: {use_slstm: true}             # sampled only when use_slstm is true
        default: "1:0"                      # applied when inactive (else the base value stays)

Entry fields: ``type`` (``float``, ``logfloat``, ``int``, ``categorical``, ``bool``), ``low``/``high``
(numbers), ``step`` (float/int grid), ``log`` (log scale), ``choices`` (a list, or a mapping of
label -> value), ``path`` (dotted estimator parameter; default: the entry's name; ``null`` for
helpers), ``when`` (``{param: value}`` or ``{param: [values]}``, all must hold; a parameter is
sampled after those its ``when`` names), ``default`` (value set when inactive), ``description``.

Optuna stores the *labels* (a categorical's mapping key, or the JSON text of a list/dict
choice), so ``trials.csv`` shows readable values; :meth:`SearchSpace.to_estimator_params`
maps them back.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._dicts import deep_merge
from .._names import did_you_mean

__all__ = [
    "Param",
    "SearchSpace",
    "TuneConfig",
    "bundled_configs",
    "estimator_param_names",
    "load_config",
    "resolve_base_params",
]

_MISSING = object()
_TYPES = {"float": "float", "logfloat": "float", "log_float": "float", "loguniform": "float",
          "uniform": "float", "int": "int", "integer": "int", "categorical": "categorical",
          "choice": "categorical", "bool": "categorical"}
_FIELDS = {"type", "low", "high", "step", "log", "choices", "path", "when", "default", "description"}
_DICT_PARAMS = {"model_params", "trainer_kwargs"}  # estimator params whose keys a path may address
_CONFIG_KEYS = {"description", "study", "base", "space"}
STUDY_KEYS = {"n_trials", "timeout", "metric", "direction", "sampler", "pruner", "cv_windows", "enqueue",
              "study_name", "seed", "heartbeat_interval", "grace_period", "max_retry", "refit",
              "n_workers"}
_SCALARS = (type(None), bool, int, float, str)


def estimator_param_names() -> list[str]:
    """The constructor parameters of :class:`~xlstm_ts.forecaster.XLSTMForecaster`."""
    from ..forecaster import XLSTMForecaster

    sig = inspect.signature(XLSTMForecaster.__init__)
    return [n for n in sig.parameters if n != "self"]


def _number(key: str, name: str, value: Any, kind: str) -> float | int:
    """YAML 1.1 reads ``1e-4`` as a string: accept numeric strings; ints must be integral."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"search space {key!r}: {name!r} must be a number; got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"search space {key!r}: {name!r} must be a number; got {value!r}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"search space {key!r}: {name!r} must be a finite number; got {value!r}")
    if kind == "int":
        if float(value) != int(value):
            raise ValueError(f"search space {key!r}: {name!r} must be an integer for type int; got {value!r}")
        return int(value)
    return float(value)


def _label(choice: Any) -> Any:
    return choice if isinstance(choice, _SCALARS) else json.dumps(choice, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Param:
    """One tuned parameter (see the module docstring for the fields)."""

    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    labels: tuple = ()
    values: tuple = ()
    path: tuple[str, ...] | None = None
    when: tuple[tuple[str, tuple], ...] = ()
    default: Any = _MISSING

    def suggest(self, trial) -> Any:
        """Ask ``trial`` (an :class:`optuna.Trial`) for this parameter; returns the label."""
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_categorical(self.name, list(self.labels))

    def distribution(self):
        """The :mod:`optuna.distributions` object :meth:`suggest` records for this parameter."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "float":
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return CategoricalDistribution(list(self.labels))

    def value(self, label: Any) -> Any:
        """The estimator value of a sampled label (identity for numbers and plain choices)."""
        if self.kind != "categorical":
            return label
        for lab, val in zip(self.labels, self.values, strict=True):
            if lab == label and type(lab) is type(label):
                return copy.deepcopy(val)
        for lab, val in zip(self.labels, self.values, strict=True):
            if lab == label:
                return copy.deepcopy(val)
        raise ValueError(f"search space {self.name!r}: {label!r} is not one of its choices {list(self.labels)}")

    def first(self) -> Any:
        """A representative label (low end / first choice), for dry runs."""
        return self.labels[0] if self.kind == "categorical" else self.low

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind}
        if self.kind == "categorical":
            d["choices"] = dict(zip(map(str, self.labels), self.values, strict=True)) if self.labels != self.values else list(self.labels)
        else:
            d.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                d["step"] = self.step
        d["path"] = None if self.path is None else ".".join(self.path)
        if self.when:
            d["when"] = {k: list(v) for k, v in self.when}
        if self.default is not _MISSING:
            d["default"] = self.default
        return d


def _parse_param(key: str, spec: Any, known: dict[str, Param], est_names: set[str]) -> Param:
    if not isinstance(key, str) or not key:
        raise ValueError(f"search space keys must be non-empty strings; got {key!r}")
    if not isinstance(spec, Mapping):
        raise ValueError(f"search space {key!r} must be a mapping like {{type: float, low: 0.1, high: 1.0}}; "
                         f"got {spec!r}")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise ValueError(f"search space {key!r}: unknown field(s) {unknown}{did_you_mean(unknown, _FIELDS)}; valid fields: {sorted(_FIELDS)}")
    if "type" not in spec:
        raise ValueError(f"search space {key!r}: missing 'type' (one of {sorted(_TYPES)})")
    t = spec["type"]
    if t not in _TYPES:
        raise ValueError(f"search space {key!r}: unknown type {t!r}{did_you_mean([t], _TYPES)}; valid types: {sorted(_TYPES)}")
    kind = _TYPES[t]
    log = spec.get("log", t in ("logfloat", "log_float", "loguniform"))
    if not isinstance(log, bool):
        raise ValueError(f"search space {key!r}: 'log' must be true or false; got {log!r}")
    kw: dict[str, Any] = {}
    if kind in ("float", "int"):
        for f in ("choices",):
            if f in spec:
                raise ValueError(f"search space {key!r}: {f!r} is for type categorical, not {t}")
        for f in ("low", "high"):
            if f not in spec:
                raise ValueError(f"search space {key!r}: type {t} needs {f!r}")
        low, high = _number(key, "low", spec["low"], kind), _number(key, "high", spec["high"], kind)
        if low > high:
            raise ValueError(f"search space {key!r}: low={low} is greater than high={high}")
        if log and low <= 0:
            raise ValueError(f"search space {key!r}: a log scale needs low > 0; got low={low}")
        step = spec.get("step")
        if step is not None:
            step = _number(key, "step", step, kind)
            if step <= 0:
                raise ValueError(f"search space {key!r}: step must be positive; got {step}")
            if log and (kind == "float" or step != 1):
                raise ValueError(f"search space {key!r}: 'step' and 'log' cannot be combined")
        kw.update(low=low, high=high, step=step, log=log)
    else:
        for f in ("low", "high", "step"):
            if f in spec:
                raise ValueError(f"search space {key!r}: {f!r} is for numeric types, not {t}")
        if log:
            raise ValueError(f"search space {key!r}: 'log' is for numeric types, not {t}")
        choices = spec.get("choices", [False, True] if t == "bool" else None)
        if isinstance(choices, Mapping):
            labels, values = tuple(choices.keys()), tuple(choices.values())
            bad = [lab for lab in labels if not isinstance(lab, _SCALARS) or lab is None]
            if bad:
                raise ValueError(f"search space {key!r}: choice labels must be strings or numbers; got {bad}")
        elif isinstance(choices, (list, tuple)):
            values = tuple(choices)
            labels = tuple(_label(c) for c in values)
        else:
            raise ValueError(f"search space {key!r}: type {t} needs 'choices' (a list, or a mapping "
                             f"label -> value); got {choices!r}")
        if not labels:
            raise ValueError(f"search space {key!r}: 'choices' is empty")
        seen = []
        for lab in labels:
            if any(lab == s and type(lab) is type(s) for s in seen):
                raise ValueError(f"search space {key!r}: duplicate choice {lab!r}")
            seen.append(lab)
        kw.update(labels=labels, values=values)
    # path
    raw_path = spec.get("path", key)
    path = None
    if raw_path is not None:
        if not isinstance(raw_path, str) or not raw_path or any(not p for p in raw_path.split(".")):
            raise ValueError(f"search space {key!r}: 'path' must be a dotted parameter name or null; got {raw_path!r}")
        path = tuple(raw_path.split("."))
        if path[0] not in est_names:
            raise ValueError(f"search space {key!r}: {path[0]!r} is not an XLSTMForecaster parameter "
                             f"(use path: null for a helper used only in 'when'); valid: {sorted(est_names)}")
        if len(path) > 1 and path[0] not in _DICT_PARAMS:
            raise ValueError(f"search space {key!r}: {path[0]!r} is not a dict parameter, so "
                             f"{raw_path!r} cannot address a key inside it (dict parameters: {sorted(_DICT_PARAMS)})")
        if path[0] == "model_params" and len(path) == 1:
            raise ValueError(f"search space {key!r}: tune single model hyper-parameters "
                             f"(model_params.NAME), not the whole model_params dict")
        for other in known.values():
            if other.path is None:
                continue
            n = min(len(other.path), len(path))
            if other.path[:n] == path[:n] and len(other.path) != len(path):
                raise ValueError(f"search space {key!r}: path {raw_path!r} overlaps "
                                 f"{'.'.join(other.path)!r} of {other.name!r}")
    when_spec = spec.get("when") or {}
    if not isinstance(when_spec, Mapping):
        raise ValueError(f"search space {key!r}: 'when' must be a mapping {{param: value}}; got {when_spec!r}")
    when = tuple((ref, tuple(a) if isinstance(a, (list, tuple)) else (a,)) for ref, a in when_spec.items())
    default = spec.get("default", _MISSING)
    if default is not _MISSING and not when:
        raise ValueError(f"search space {key!r}: 'default' is only used with 'when'")
    if default is not _MISSING and path is None:
        raise ValueError(f"search space {key!r}: 'default' needs a path (this entry has path: null)")
    return Param(name=key, kind=kind, path=path, when=when, default=default, **kw)


def _check_when(params: dict[str, Param]) -> list[Param]:
    """Validate ``when`` references and order the params so that each comes after those it
    depends on (otherwise keeping the given order)."""
    for p in params.values():
        for ref, allowed in p.when:
            if ref == p.name:
                raise ValueError(f"search space {p.name!r}: 'when' refers to itself")
            if ref not in params:
                raise ValueError(f"search space {p.name!r}: 'when' refers to {ref!r}, which is not a parameter "
                                 f"of the space (parameters: {list(params)})")
            target = params[ref]
            if target.kind == "categorical":
                for a in allowed:
                    if not any(a == lab for lab in target.labels):
                        raise ValueError(f"search space {p.name!r}: 'when' value {a!r} is not a choice of {ref!r} "
                                         f"(choices: {list(target.labels)})")
    ordered: list[Param] = []
    placed: set[str] = set()
    pending = list(params.values())
    while pending:
        ready = [p for p in pending if all(ref in placed for ref, _ in p.when)]
        if not ready:
            raise ValueError(f"search space {pending[0].name!r}: 'when' conditions form a cycle among "
                             f"{[p.name for p in pending]}")
        p = ready[0]
        ordered.append(p)
        placed.add(p.name)
        pending.remove(p)
    return ordered


def _set_path(params: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    d = params
    for i, k in enumerate(path[:-1]):
        nxt = d.get(k)
        if nxt is None:
            nxt = {}
        elif not isinstance(nxt, dict):
            raise ValueError(f"cannot set {'.'.join(path)!r}: {'.'.join(path[:i + 1])!r} is "
                             f"{type(nxt).__name__}, not a dict")
        else:
            nxt = dict(nxt)
        d[k] = nxt
        d = nxt
    d[path[-1]] = copy.deepcopy(value)


class SearchSpace:
    """An ordered set of :class:`Param` with conditions; picklable (workers rebuild nothing)."""

    def __init__(self, params: list[Param]):
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"search space has duplicate names: {names}")
        self.params = list(params)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(spec, Mapping) or not spec:
            raise ValueError(f"a search space must be a non-empty mapping name -> spec; got {spec!r}")
        est_names = set(estimator_param_names())
        known: dict[str, Param] = {}
        for key, s in spec.items():
            known[key] = _parse_param(key, s, known, est_names)
        return cls(_check_when(known))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"SearchSpace({self.names})"

    @staticmethod
    def _active(p: Param, values: Mapping[str, Any]) -> bool:
        for ref, allowed in p.when:
            if ref not in values or not any(values[ref] == a for a in allowed):
                return False
        return True

    def suggest(self, trial) -> dict[str, Any]:
        """Sample the active parameters in order; returns ``{name: label}``."""
        out: dict[str, Any] = {}
        for p in self.params:
            if self._active(p, out):
                out[p.name] = p.suggest(trial)
        return out

    def first(self) -> dict[str, Any]:
        """The active labels of a low-end / first-choice configuration (for dry runs)."""
        out: dict[str, Any] = {}
        for p in self.params:
            if self._active(p, out):
                out[p.name] = p.first()
        return out

    def branch_configs(self) -> list[dict[str, Any]]:
        """Configurations (``{name: label}``) that together make every conditional parameter
        active at least once: :meth:`first` plus, for each ``when`` entry, the first choices that
        satisfy its conditions (for dry runs: a typo inside a branch fails before any trial)."""
        configs = [self.first()]
        for target in self.params:
            if not target.when:
                continue
            forced: dict[str, Any] = {}
            stack = [target]
            while stack:  # the conditions of the target, of its conditions, ...
                for ref, allowed in stack.pop().when:
                    if ref not in forced:
                        forced[ref] = allowed[0]
                        stack.append(self[ref])
            out: dict[str, Any] = {}
            for p in self.params:
                if self._active(p, out):
                    out[p.name] = forced.get(p.name, p.first())
            if target.name in out and out not in configs:  # else its conditions contradict each other
                configs.append(out)
        return configs

    def to_estimator_params(self, values: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``base`` with the sampled ``values`` (labels) written at their paths.

        Inactive parameters leave the base value unless they have a ``default``; names that are
        not in the space (e.g. from an older space of a resumed study) are ignored.
        """
        params = copy.deepcopy(dict(base or {}))
        seen: dict[str, Any] = {}
        for p in self.params:
            active = self._active(p, seen)
            if active and p.name in values:
                seen[p.name] = values[p.name]
                if p.path is not None:
                    _set_path(params, p.path, p.value(values[p.name]))
            elif not active and p.default is not _MISSING:
                _set_path(params, p.path, p.default)
        return params

    def to_dict(self) -> dict[str, Any]:
        return {p.name: p.to_dict() for p in self.params}

    def fingerprint(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class TuneConfig:
    """A parsed tuning config: the space, fixed estimator params and study defaults."""

    space: SearchSpace
    base: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str | None = None

    @property
    def name(self) -> str | None:
        return Path(self.source).stem if self.source else None


def _tune_dir():
    return importlib.resources.files("xlstm_ts._configs") / "tune"


def bundled_configs() -> list[str]:
    """Names of the bundled tuning configs (``configs/tune/*.yaml``)."""
    d = _tune_dir()
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml")) if d.is_dir() else []


def resolve_base_params(base: Mapping[str, Any] | None, where: str = "base") -> dict[str, Any]:
    """Validate fixed estimator params; ``preset: NAME`` pulls a model preset (deep-merged under)."""
    from ..models import get_model_class, load_preset

    if base is None:
        return {}
    if not isinstance(base, Mapping):
        raise ValueError(f"{where} must be a mapping of XLSTMForecaster parameters; got {base!r}")
    params = copy.deepcopy(dict(base))
    preset = params.pop("preset", None)
    valid = set(estimator_param_names())
    bad = sorted(set(params) - valid)
    if bad:
        raise ValueError(f"{where}: unknown XLSTMForecaster parameter(s) {bad}{did_you_mean(bad, valid | {'preset'})}; "
                         f"valid: {sorted(valid)} (and 'preset')")
    if preset is not None:
        p = load_preset(preset)
        if "model" in params and params["model"] != p["model"]:
            raise ValueError(f"{where}: preset {preset!r} is a {p['model']!r} model but model={params['model']!r}")
        params["model"] = p["model"]
        params["model_params"] = deep_merge(p["hparams"], params.get("model_params") or {})
    mp = params.get("model_params")
    if mp is not None and not isinstance(mp, Mapping):
        raise ValueError(f"{where}: model_params must be a mapping; got {mp!r}")
    if mp and "model" in params:
        defaults = get_model_class(params["model"]).defaults
        bad = sorted(set(mp) - set(defaults))
        if bad:
            raise ValueError(f"{where}: unknown model_params {bad}{did_you_mean(bad, defaults)} for model "
                             f"{params['model']!r}; valid: {sorted(defaults)}")
    return params


def load_config(spec: Any) -> TuneConfig:
    """A :class:`TuneConfig` from a YAML path, a bundled config name, a dict or a :class:`SearchSpace`.

    A dict with a ``space`` key is a whole config; any other dict is the space alone (one with
    ``base``/``study`` sections but no ``space`` is refused: its parameters are misplaced).
    """
    if isinstance(spec, TuneConfig):
        return spec
    if isinstance(spec, SearchSpace):
        return TuneConfig(space=spec)
    source = None
    if isinstance(spec, (str, Path)):
        s = str(spec)
        path = Path(s)
        if path.is_file():
            text, source = path.read_text(), str(path)
        elif s.endswith((".yaml", ".yml")) or "/" in s:
            raise ValueError(f"tuning config {s!r} does not exist")
        else:
            res = _tune_dir() / f"{s}.yaml"
            if not res.is_file():
                raise ValueError(f"unknown tuning config {s!r}{did_you_mean([s], bundled_configs())}; "
                                 f"bundled configs: {bundled_configs()} "
                                 f"(or give a YAML path)")
            text, source = res.read_text(), f"{s}.yaml"
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"tuning config {s!r} is not valid YAML: {e}") from None
        if not isinstance(spec, Mapping):
            raise ValueError(f"tuning config {s!r} must be a mapping with a 'space' section")
    if not isinstance(spec, Mapping):
        raise ValueError(f"space must be a YAML path, a config name, a dict or a SearchSpace; got {type(spec).__name__}")
    if "space" not in spec:
        # A config whose tuned parameters are not under `space:` would otherwise be read as a
        # bare space and fail on its `base:` entry, which hides what is wrong.
        sections = [k for k in ("base", "study", "description")
                    if k in spec and not (isinstance(spec[k], Mapping) and "type" in spec[k])]
        if sections:
            raise ValueError(f"tuning config has {sections} section(s) but no 'space:' mapping; put the tuned "
                             f"parameters under 'space:' (e.g. space: {{learning_rate: {{type: logfloat, "
                             f"low: 1.0e-4, high: 1.0e-2}}}})")
        return TuneConfig(space=SearchSpace.from_dict(spec), source=source)
    unknown = sorted(set(spec) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(f"tuning config: unknown section(s) {unknown}{did_you_mean(unknown, _CONFIG_KEYS)}; valid sections: {sorted(_CONFIG_KEYS)}")
    study = spec.get("study") or {}
    if not isinstance(study, Mapping):
        raise ValueError(f"tuning config: 'study' must be a mapping; got {study!r}")
    bad = sorted(set(study) - STUDY_KEYS)
    if bad:
        raise ValueError(f"tuning config: unknown study setting(s) {bad}{did_you_mean(bad, STUDY_KEYS)}; valid: {sorted(STUDY_KEYS)}")
    space = spec["space"]
    if isinstance(space, SearchSpace):
        sp = space
    else:
        sp = SearchSpace.from_dict(space)
    return TuneConfig(space=sp, base=resolve_base_params(spec.get("base"), "tuning config 'base'"),
                      study=dict(study), description=str(spec.get("description") or ""), source=source)
