"""Benchmark grid configs (``configs/bench/*.yaml``) and their expansion into cells.

A config is a mapping::

    description: ...
    datasets: [ETTh1]                 # bundled names; files come through --data
    horizons: [96, 192, 336, 720]
    lookback: {short: 96, long: 336}  # the two regimes
    regimes: [long]                   # which regimes run by default (a scalar is a one-item list)
    seeds: [2021, 2022, 2023]
    train: {max_epochs: 10, patience: 3, batch_size: 64, ...}   # defaults for every model
    models:                           # label -> entry; the label names the row in tables
      naive: {}
      dlinear: {train: {learning_rate: 0.005}}
      xlstm_patch_s16:                # a variant: label != model name
        model: xlstm_patch
        hparams: {...}
        train: {...}
        by_horizon: {720: {train: {...}}}   # overrides for one horizon
        by_regime: {short: {hparams: {...},  # overrides for one regime, and
                            by_horizon: {96: {hparams: {...}}}}}   # for one horizon in it
      xlstm_mixer:
        lookback: {long: 720}         # this model's own look-back in a regime (searched on
                                      # validation, like TimeMixer's "searched" rows)
      ensemble:                       # the averaged forecasts of other labels' cells (same
        members: [xlstm_mixer, dlinear]   # split, horizon, seed); no training of its own
    run: [naive, dlinear, xlstm_patch]   # labels run by default (default: all)
    protocol: ratio                   # split protocol of --data files (--protocol wins)
    target: OT                        # target column (--target wins)

``--lookback`` on the command line replaces every look-back, the models' own included.

An ensemble label (``members: [...]``) trains nothing: its cell averages the forecasts that its
members' cells of the same split, horizon and seed stored (their ``keep_forecasts``). Its members
join the grid automatically, ahead of it, whether or not ``run`` names them; its signature holds
theirs, so a changed member reruns the ensemble. Member cells of a deterministic baseline (naive)
exist for the first seed only and serve every seed.

Without ``--config`` each dataset uses its preset ``configs/bench/<dataset>.yaml``; a file
given by ``--data`` uses the preset of its protocol family (``ett-hour`` -> ``etth1``,
``ett-minute`` -> ``ettm1``) or ``default``. Presets are chosen on validation only.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from xlstm_ts._dicts import deep_merge
from xlstm_ts._names import did_you_mean
from xlstm_ts.bench.protocol import PROTOCOLS
from xlstm_ts.models import MODELS, model_hparams
from xlstm_ts.models.losses import LOSSES, POINT_LOSSES
from xlstm_ts.models.registry import get_model_class, resolved_hparams
from xlstm_ts.training.module import LR_SCHEDULES

__all__ = [
    "TRAIN_DEFAULTS",
    "Cell",
    "expand_cells",
    "find_preset",
    "list_bench_presets",
    "load_bench_config",
    "resolve_model",
]

TRAIN_DEFAULTS: dict[str, Any] = {
    "max_epochs": 10,
    "patience": 3,
    "batch_size": 64,
    "eval_batch_size": 512,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "lr_schedule": "cosine",
    "loss": "mse",
    "valid_loss": None,      # early stopping / best epoch on this loss; None: on ``loss``
    "limit_train_batches": None,
    "limit_val_batches": None,
    "max_minutes": None,
    "gradient_clip_val": None,
    "ema_decay": None,       # validate and keep an exponential moving average of the weights
    "calendar": False,       # the timestamps' calendar features (as TSLib's timeF marks) as
}                            # future-known covariates of the model (protocol.prepare_splits)

CONFIG_KEYS = {"description", "datasets", "horizons", "lookback", "regimes", "seeds", "train",
               "models", "run", "protocol", "target"}
MODEL_KEYS = {"model", "hparams", "train", "by_horizon", "by_regime", "lookback", "description"}
ENSEMBLE = "ensemble"   # the model name of labels with ``members``
ENSEMBLE_KEYS = {"model", "members", "description"}
HORIZON_PART_KEYS = {"hparams", "train"}
REGIME_PART_KEYS = {"hparams", "train", "by_horizon"}
FAMILY_PRESET = {"ett-hour": "etth1", "ett-minute": "ettm1"}
REGIMES = ("long", "short")
# keys holding lists, with the type of their items (a scalar is read as a one-item list)
LIST_KEYS = {"datasets": str, "horizons": int, "regimes": str, "seeds": int, "run": str}


def _preset_dir():
    return resources.files("xlstm_ts._configs") / "bench"


def list_bench_presets() -> list[str]:
    d = _preset_dir()
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml")) if d.is_dir() else []


def find_preset(dataset: str, protocol: str | None = None) -> str:
    """Preset name for a dataset (its own file, else its protocol family's, else ``default``)."""
    names = set(list_bench_presets())
    key = dataset.lower()
    if key in names:
        return key
    if protocol in FAMILY_PRESET and FAMILY_PRESET[protocol] in names:
        return FAMILY_PRESET[protocol]
    return "default"


def _validate(cfg: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(cfg) - CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}{did_you_mean(unknown, CONFIG_KEYS)}; valid: {sorted(CONFIG_KEYS)}")
    _check_lists(cfg, where)
    if cfg.get("protocol") is not None and cfg["protocol"] not in PROTOCOLS:
        raise ValueError(f"{where}: protocol {cfg['protocol']!r}; valid: {list(PROTOCOLS)}")
    if cfg.get("target") is not None and not isinstance(cfg["target"], str):
        raise ValueError(f"{where}: 'target' must be a column name; got {cfg['target']!r}")
    _check_train(cfg.get("train"), where)
    models = cfg.get("models") or {}
    if not isinstance(models, dict):
        raise ValueError(f"{where}: 'models' must map labels to entries")
    for label, entry in models.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: model {label!r} must be a mapping; got {entry!r}")
        if "members" in entry:
            _check_ensemble(models, label, entry, where)
            continue
        bad = sorted(set(entry) - MODEL_KEYS)
        if bad:
            raise ValueError(f"{where}: model {label!r} has unknown keys {bad}{did_you_mean(bad, MODEL_KEYS)}; valid: {sorted(MODEL_KEYS)}")
        name = entry.get("model", label)
        if name not in MODELS:
            raise ValueError(f"{where}: model {label!r} -> unknown model {name!r}{did_you_mean([name], MODELS)}; valid: {sorted(MODELS)}")
        for part, allowed, at in _override_parts(entry):
            bad_k = sorted(set(part) - allowed)
            if bad_k:
                raise ValueError(f"{where}: model {label!r}, {at}: unknown keys {bad_k}{did_you_mean(bad_k, allowed)}; valid: {sorted(allowed)}")
            _check_train(part.get("train"), f"{where}: model {label!r}, {at}")
        _check_lookback(entry.get("lookback"), f"{where}: model {label!r}")
        _check_hparams(cfg, label, entry, where)
    _check_lookback(cfg.get("lookback"), where)
    run = cfg.get("run")
    if run is not None:
        missing = sorted(set(run) - set(models))
        if missing:
            raise ValueError(f"{where}: 'run' names models {missing} that are not under 'models'")
    return cfg


def _check_ensemble(models: dict[str, Any], label: str, entry: dict[str, Any], where: str) -> None:
    bad = sorted(set(entry) - ENSEMBLE_KEYS)
    if bad:
        raise ValueError(f"{where}: ensemble {label!r} has keys {bad} that an ensemble does not take "
                         f"(it trains nothing; set them on its members); valid: {sorted(ENSEMBLE_KEYS)}")
    if entry.get("model", ENSEMBLE) != ENSEMBLE:
        raise ValueError(f"{where}: model {label!r} has 'members', so its model is {ENSEMBLE!r}, "
                         f"not {entry['model']!r}")
    members = entry["members"]
    if (not isinstance(members, list) or len(members) < 2 or len(set(members)) != len(members)
            or not all(isinstance(m, str) for m in members)):
        raise ValueError(f"{where}: ensemble {label!r}: 'members' must list two or more distinct "
                         f"model labels; got {members!r}")
    for m in members:
        if m not in models and m not in MODELS:
            raise ValueError(f"{where}: ensemble {label!r}: member {m!r} is neither a label of the "
                             f"config nor a registered model{did_you_mean([m], [*models, *MODELS])}")
        if is_ensemble(models.get(m)):
            raise ValueError(f"{where}: ensemble {label!r}: member {m!r} is an ensemble itself; "
                             "list its members instead")


def is_ensemble(entry: Any) -> bool:
    """Whether a ``models`` entry is an ensemble label (it lists ``members``)."""
    return isinstance(entry, dict) and "members" in entry


def _override_parts(entry: dict[str, Any]):
    """``(part, allowed keys, where)`` for the entry itself and each of its overrides."""
    yield entry, MODEL_KEYS, "entry"
    for key, allowed, nested in (("by_horizon", HORIZON_PART_KEYS, False), ("by_regime", REGIME_PART_KEYS, True)):
        parts = entry.get(key) or {}
        if not isinstance(parts, dict):
            raise ValueError(f"'{key}' must map a {key[3:]} to overrides; got {parts!r}")
        for k, part in parts.items():
            part = part or {}
            if not isinstance(part, dict):
                raise ValueError(f"{key} {k!r} must be a mapping; got {part!r}")
            yield part, allowed, f"{key} {k!r}"
            if nested:
                for h, sub in (part.get("by_horizon") or {}).items():
                    yield sub or {}, HORIZON_PART_KEYS, f"{key} {k!r} by_horizon {h!r}"


def _check_lists(cfg: dict[str, Any], where: str) -> None:
    """Read a scalar of a list key as a one-item list (``horizons: 12`` -> ``[12]``, ``run:
    naive``), and check the items' type: a string would otherwise be iterated letter by letter."""
    for key, kind in LIST_KEYS.items():
        v = cfg.get(key)
        if v is None:
            continue
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            v = cfg[key] = [v]
        if not isinstance(v, list):
            raise ValueError(f"{where}: '{key}' must be a list of {kind.__name__}; got {v!r}")
        bad = [x for x in v if not isinstance(x, kind) or isinstance(x, bool)
               or (kind is int and key == "horizons" and x < 1)]
        if bad:
            raise ValueError(f"{where}: '{key}' holds {bad}; expected {'positive ' if key == 'horizons' else ''}"
                             f"{kind.__name__} items")
    bad = sorted(set(cfg.get("regimes") or []) - set(REGIMES))
    if bad:
        raise ValueError(f"{where}: unknown regimes {bad}{did_you_mean(bad, REGIMES)}; valid: {list(REGIMES)}")


def _check_hparams(cfg: dict[str, Any], label: str, entry: dict[str, Any], where: str) -> None:
    """Resolve the hparams of ``label`` in each regime at each horizon its overrides name, so
    that a nested typo (``xlstm: {embeding_dim: 32}``) fails when the config loads, not when
    the cell trains hours into a grid."""
    named = [*(entry.get("by_horizon") or {})]
    for part in (entry.get("by_regime") or {}).values():
        named += [*((part or {}).get("by_horizon") or {})]
    bad = [h for h in named if not str(h).isdigit()]
    if bad:
        raise ValueError(f"{where}: model {label!r}: by_horizon keys {bad} are not horizons; use e.g. 96")
    horizons = {int(h) for h in [*(cfg.get("horizons") or [96, 192, 336, 720]), *named]}
    for regime in REGIMES:
        for h in sorted(horizons):
            try:
                resolve_model(cfg, label, regime, h)
            except ValueError as e:
                raise ValueError(f"{where}: {regime} look-back, H={h}: {e}") from None


# train settings whose values name a choice: checked when the config loads, not when the first
# cell of that model trains (possibly hours into a grid)
_TRAIN_CHOICES = {"loss": LOSSES, "valid_loss": (None, *POINT_LOSSES), "lr_schedule": LR_SCHEDULES}


def _check_train(train: Any, where: str) -> None:
    train = train or {}
    if not isinstance(train, dict):
        raise ValueError(f"{where}: 'train' must be a mapping; got {train!r}")
    bad = sorted(set(train) - set(TRAIN_DEFAULTS))
    if bad:
        raise ValueError(f"{where}: unknown train settings {bad}{did_you_mean(bad, TRAIN_DEFAULTS)}; valid: {sorted(TRAIN_DEFAULTS)}")
    for key, choices in _TRAIN_CHOICES.items():
        if key in train and train[key] not in choices:
            raise ValueError(f"{where}: train {key}={train[key]!r}; valid: {list(choices)}")
    if "calendar" in train and not isinstance(train["calendar"], bool):
        raise ValueError(f"{where}: train calendar={train['calendar']!r} must be true or false")
    ema = train.get("ema_decay")
    if ema is not None and not (isinstance(ema, float) and 0.0 < ema < 1.0):
        raise ValueError(f"{where}: train ema_decay={ema!r} must be null or a number in (0, 1)")


def _check_lookback(lb: Any, where: str) -> None:
    if lb is None:
        return
    if not (isinstance(lb, dict) and set(lb) <= {"short", "long"}
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in lb.values())):
        raise ValueError(f"{where}: 'lookback' must map 'short'/'long' to positive ints; got {lb!r}")


def load_bench_config(name_or_path: str | Path) -> dict[str, Any]:
    """Load a grid config from a YAML path or a bundled preset name (``configs/bench``)."""
    s = str(name_or_path)
    p = Path(s)
    if p.is_file():
        text, where = p.read_text(), s
    elif s.endswith((".yaml", ".yml")):
        raise FileNotFoundError(f"bench config not found: {s}")
    else:
        res = _preset_dir() / f"{s.lower()}.yaml"
        if not res.is_file():
            raise ValueError(f"unknown bench preset {s!r}{did_you_mean([s], list_bench_presets())}; "
                             f"bundled: {list_bench_presets()}")
        text, where = res.read_text(), f"configs/bench/{s.lower()}.yaml"
    try:
        cfg = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{where}: invalid YAML{at}: {problem}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{where} must hold a mapping")
    cfg = _validate(cfg, where)
    cfg["_source"] = where
    return cfg


@dataclass(frozen=True)
class Cell:
    """One run: dataset × look-back × horizon × model (label) × seed, fully resolved."""

    dataset: str
    source: str
    protocol: str
    target: str
    regime: str
    lookback: int
    horizon: int
    label: str
    model: str
    hparams: dict = field(hash=False, compare=False)
    train: dict = field(hash=False, compare=False)
    seed: int = 0
    config: str = ""
    val_fold: int = 0   # 0: the protocol's split; k >= 1: validation fold k (no test; protocol.fold_spans)
    # store every validation/test forecast (``forecasts/...npz``) for an ensemble of this grid;
    # how the result is kept, not what it is: outside the signature
    keep_forecasts: bool = field(default=False, compare=False)

    def signature(self) -> str:
        """Hash of everything that defines the result (not the config file name), with the
        model's hparams fully resolved: changing a model or stack default reruns the cell."""
        d = asdict(self)
        d.pop("config")
        d.pop("keep_forecasts")
        if not d["val_fold"]:
            d.pop("val_fold")  # protocol cells keep the signatures they had before folds existed
        for key in ("valid_loss", "calendar", "ema_decay"):  # likewise cells from before these settings existed
            if not d["train"].get(key):
                d["train"].pop(key, None)
        try:
            hp = resolved_hparams(self.model, self.hparams)
            for k, old in get_model_class(self.model).added_hparams.items():
                if hp.get(k) == old:
                    hp.pop(k)  # a later hparam at its old behaviour: the same run as before it existed
            d["hparams"] = hp
        except (KeyError, ValueError, TypeError):
            pass  # resolve_model refuses invalid hparams; a Cell built by hand fails when it runs
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def calendar(self) -> bool:
        """Whether the windows carry the calendar features as covariates (``train: calendar``)."""
        return bool(self.train.get("calendar"))

    def relpath(self) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.dataset)
        leaf = f"seed{self.seed}" if not self.val_fold else f"fold{self.val_fold}/seed{self.seed}"
        return Path(safe) / f"L{self.lookback}" / f"H{self.horizon}" / self.label / leaf

    def describe(self) -> str:
        fold = f" fold={self.val_fold}" if self.val_fold else ""
        return f"{self.dataset} L={self.lookback} H={self.horizon} {self.label} seed={self.seed}{fold}"


def resolve_model(cfg: dict[str, Any], label: str, regime: str, horizon: int,
                  train_override: dict[str, Any] | None = None) -> tuple[str, dict, dict]:
    """``(model name, hparams, train settings)`` of a label for one regime and horizon."""
    models = cfg.get("models") or {}
    entry = models.get(label)
    if entry is None:
        if label not in MODELS:
            raise ValueError(
                f"model {label!r} is neither in the config ({sorted(models)}) nor a registered "
                f"model ({sorted(MODELS)}){did_you_mean([label], [*models, *MODELS])}"
            )
        entry = {}
    entry = entry or {}
    name = entry.get("model", label)
    hp = copy.deepcopy(entry.get("hparams") or {})
    train = deep_merge(TRAIN_DEFAULTS, cfg.get("train") or {})
    train = deep_merge(train, entry.get("train") or {})
    by_regime = (entry.get("by_regime") or {}).get(regime) or {}
    # most specific last: the regime's, the horizon's, the horizon's within the regime
    for part in (by_regime,
                 _for_horizon(entry.get("by_horizon"), horizon),
                 _for_horizon(by_regime.get("by_horizon"), horizon)):
        if part:
            hp = deep_merge(hp, part.get("hparams") or {})
            train = deep_merge(train, part.get("train") or {})
    train = deep_merge(train, {k: v for k, v in (train_override or {}).items() if v is not None})
    # Validate hparam names early, nested ones (the xlstm stack's) included.
    bad = sorted(set(hp) - set(model_hparams(name)))
    if bad:
        valid = model_hparams(name)
        raise ValueError(f"model {label!r} ({name}): unknown hparams {bad}{did_you_mean(bad, valid)}; "
                         f"valid: {sorted(valid)}")
    try:
        resolved_hparams(name, hp)
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"model {label!r} ({name}): {e}") from None
    return name, hp, train


def _for_horizon(parts: dict | None, horizon: int) -> dict | None:
    """The override of ``horizon`` in a ``by_horizon`` mapping (keys may be ints or strings)."""
    parts = parts or {}
    return parts.get(horizon) or parts.get(str(horizon))


DEFAULT_LOOKBACK = {"short": 96, "long": 336}


def regime_of(cfg: dict[str, Any], lookback: int) -> str:
    """``short`` when ``lookback`` is the config's short (L=96-regime) look-back, else ``long``."""
    lb = cfg.get("lookback") or {}
    return "short" if lookback == lb.get("short", DEFAULT_LOOKBACK["short"]) else "long"


def model_lookback(cfg: dict[str, Any], label: str, regime: str) -> int:
    """Look-back of ``label`` in ``regime``: the model entry's own (``lookback: {long: 1440}``),
    else the config's, else 96 (short) / 336 (long)."""
    lb_map = {**DEFAULT_LOOKBACK, **(cfg.get("lookback") or {})}
    own = ((cfg.get("models") or {}).get(label) or {}).get("lookback") or {}
    return int(own.get(regime, lb_map[regime]))


def expand_cells(cfg: dict[str, Any], data_list: list, *, horizons: list[int] | None = None,
                 models: list[str] | None = None, seeds: list[int] | None = None,
                 lookbacks: list[int] | None = None, regimes: list[str] | None = None,
                 train_override: dict[str, Any] | None = None,
                 val_folds: list[int] | None = None) -> list[Cell]:
    """All cells of the grid, in run order (dataset, regime, horizon, model, seed, fold).

    ``data_list`` holds :class:`~xlstm_ts.bench.protocol.BenchData` items. CLI selections
    (``horizons``, ``models``, ``seeds``, ``lookbacks``, ``regimes``) replace the config's.
    A model entry's own ``lookback`` (``{long: 720}``) replaces the config's look-back for
    that model in that regime, unless ``lookbacks`` is given. ``val_folds`` (default ``[0]``,
    the protocol's split) adds validation-fold cells for selection (no test metrics).
    An ensemble label's member cells come before its own (each cell once), marked
    ``keep_forecasts``; the ensemble's look-back is its longest member's.
    """
    lb_map = {**DEFAULT_LOOKBACK, **(cfg.get("lookback") or {})}
    if lookbacks:
        pairs = [(regime_of(cfg, int(L)), int(L)) for L in lookbacks]
    else:
        wanted = regimes or cfg.get("regimes") or ["long"]
        bad = sorted(set(wanted) - set(lb_map))
        if bad:
            raise ValueError(f"unknown regimes {bad}; valid: ['long', 'short']")
        pairs = [(r, int(lb_map[r])) for r in wanted]
    hs = [int(h) for h in (horizons or cfg.get("horizons") or [96, 192, 336, 720])]
    labels = list(models or cfg.get("run") or list(cfg.get("models") or {}) or ["naive"])
    seed_list = [int(s) for s in (seeds or cfg.get("seeds") or [2021])]
    folds = [int(k) for k in (val_folds or [0])]
    if any(k < 0 for k in folds):
        raise ValueError(f"validation folds must be >= 0, got {folds}")
    models_cfg = cfg.get("models") or {}

    def label_cells(data, regime: str, L: int, H: int, label: str) -> list[Cell]:
        name, hp, train = resolve_model(cfg, label, regime, H, train_override)
        L_model = L if lookbacks else model_lookback(cfg, label, regime)
        trainable = getattr(MODELS[name], "trainable", True)
        if not trainable:  # nothing to fit: training settings do not change the result
            train = {k: train[k] for k in ("loss", "eval_batch_size")}
        return [Cell(data.name, data.source, data.protocol, data.target, regime, L_model, H, label,
                     name, hp, train, seed, cfg.get("_source", ""), k)
                for seed in (seed_list if trainable else seed_list[:1]) for k in folds]

    def ensemble_cells(data, regime: str, L: int, H: int, label: str) -> tuple[list[Cell], list[Cell]]:
        """(the members' cells, the ensemble's cells) of one ensemble label."""
        by_member = {m: {(c.seed, c.val_fold): c for c in label_cells(data, regime, L, H, m)}
                     for m in models_cfg[label]["members"]}
        out = []
        for seed in seed_list:
            for k in folds:
                # a baseline's cells exist for the first seed only and serve every seed
                picked = [by.get((seed, k)) or by[(seed_list[0], k)] for by in by_member.values()]
                out.append(Cell(
                    data.name, data.source, data.protocol, data.target, regime,
                    max(c.lookback for c in picked), H, label, ENSEMBLE,
                    {"members": [{"label": c.label, "path": c.relpath().as_posix(),
                                  "signature": c.signature()} for c in picked]},
                    {"eval_batch_size": picked[0].train["eval_batch_size"]},
                    seed, cfg.get("_source", ""), k))
        return [c for by in by_member.values() for c in by.values()], out

    cells: list[Cell] = []
    seen: set[tuple[str, str]] = set()
    wanted_forecasts: set[tuple[str, str]] = set()

    def add(new: list[Cell]) -> None:
        for c in new:
            key = (c.relpath().as_posix(), c.signature())
            if key not in seen:  # a member that the grid runs anyway, or shared by two ensembles
                seen.add(key)
                cells.append(c)

    for data in data_list:
        for regime, L in pairs:
            for H in hs:
                for label in labels:
                    if is_ensemble(models_cfg.get(label)):
                        members, ens = ensemble_cells(data, regime, L, H, label)
                        wanted_forecasts.update((c.relpath().as_posix(), c.signature()) for c in members)
                        add(members)
                        add(ens)
                    else:
                        add(label_cells(data, regime, L, H, label))
    return [replace(c, keep_forecasts=True)
            if (c.relpath().as_posix(), c.signature()) in wanted_forecasts else c for c in cells]
