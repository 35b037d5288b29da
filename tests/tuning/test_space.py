"""Search spaces from YAML/dicts: each type, conditionals, paths, and clear errors."""

from __future__ import annotations

import warnings

import optuna
import pytest
import yaml

from xlstm_ts.models import ModelSpec, build_model
from xlstm_ts.tuning import SearchSpace, bundled_configs, load_config
from xlstm_ts.tuning.objective import make_pruner, make_sampler, make_worker_sampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(space: SearchSpace, n: int = 60, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return out


YAML = """
space:
  learning_rate: {type: float, low: 1e-4, high: 1e-2, log: true}   # YAML 1.1 reads 1e-4 as a string
  weight_decay: {type: logfloat, low: 1.0e-6, high: 1.0e-2}
  model_params.dropout: {type: float, low: 0.0, high: 0.3, step: 0.1}
  batch_size: {type: int, low: 16, high: 64, step: 16}
  model_params.xlstm.num_blocks: {type: int, low: 1, high: 3}
  scaler: {type: categorical, choices: [standard, robust]}
  model_params.xlstm.embedding_dim: {type: categorical, choices: [16, 32]}
  stack: {type: categorical, choices: [mlstm, mixed, slstm], path: null}
  slstm_positions:
    path: model_params.xlstm.slstm_at
    type: categorical
    choices: {first: [0], all: all}
    when: {stack: [mixed, slstm]}
    default: "1:0"
  model_params.xlstm.slstm.num_heads: {type: categorical, choices: [2, 4], when: {stack: slstm}}
  model_params.revin: {type: bool, when: {stack: mlstm}}
"""


@pytest.fixture(scope="module")
def yaml_space() -> SearchSpace:
    return load_config(yaml.safe_load(YAML)).space


def test_each_type_samples_in_range(yaml_space):
    draws = sample(yaml_space)
    lr = [d["learning_rate"] for d in draws]
    assert all(1e-4 <= v <= 1e-2 for v in lr)
    assert min(lr) < 1e-3 < max(lr)  # log scale: a good share below the geometric middle
    assert all(1e-6 <= d["weight_decay"] <= 1e-2 for d in draws)
    assert {round(d["model_params.dropout"], 6) for d in draws} <= {0.0, 0.1, 0.2, 0.3}
    assert {d["batch_size"] for d in draws} <= {16, 32, 48, 64}
    assert {d["model_params.xlstm.num_blocks"] for d in draws} == {1, 2, 3}
    assert {d["scaler"] for d in draws} == {"standard", "robust"}
    assert yaml_space["learning_rate"].log and yaml_space["weight_decay"].log
    assert yaml_space["batch_size"].step == 16


def test_conditionals_sampled_only_when_active(yaml_space):
    draws = sample(yaml_space, n=80)
    for d in draws:
        assert ("slstm_positions" in d) == (d["stack"] in ("mixed", "slstm"))
        assert ("model_params.xlstm.slstm.num_heads" in d) == (d["stack"] == "slstm")
        assert ("model_params.revin" in d) == (d["stack"] == "mlstm")
    assert {d["stack"] for d in draws} == {"mlstm", "mixed", "slstm"}


def test_values_map_onto_nested_estimator_params(yaml_space):
    base = {"model": "xlstm_patch", "model_params": {"xlstm": {"embedding_dim": 64, "slstm_at": [1]}, "revin": True}}
    values = {"learning_rate": 1e-3, "weight_decay": 1e-4, "model_params.dropout": 0.1, "batch_size": 32,
              "model_params.xlstm.num_blocks": 2, "scaler": "robust", "model_params.xlstm.embedding_dim": 16,
              "stack": "mixed", "slstm_positions": "first"}
    p = yaml_space.to_estimator_params(values, base)
    assert p["learning_rate"] == 1e-3 and p["batch_size"] == 32 and p["scaler"] == "robust"
    assert p["model_params"]["xlstm"] == {"embedding_dim": 16, "slstm_at": [0], "num_blocks": 2}
    assert p["model_params"]["revin"] is True and p["model_params"]["dropout"] == 0.1
    assert "stack" not in p  # a helper (path: null) is never applied
    assert base["model_params"]["xlstm"]["slstm_at"] == [1]  # base untouched
    # inactive conditional with a default: the default is applied
    p2 = yaml_space.to_estimator_params({**values, "stack": "mlstm", "slstm_positions": "first"}, base)
    assert p2["model_params"]["xlstm"]["slstm_at"] == "1:0"


def test_when_may_refer_to_a_later_entry():
    sp = SearchSpace.from_dict({
        "slstm_positions": {"path": "model_params.xlstm.slstm_at", "type": "categorical", "choices": ["all"],
                            "when": {"use_slstm": True}},
        "use_slstm": {"type": "bool", "path": None},
    })
    assert sp.names == ["use_slstm", "slstm_positions"]  # sampled after what it depends on
    assert {tuple(d) for d in sample(sp, n=20)} == {("use_slstm",), ("use_slstm", "slstm_positions")}


def test_non_scalar_choices_use_json_labels():
    sp = SearchSpace.from_dict({"model_params.xlstm.slstm_at": {"type": "categorical", "choices": [[0], [0, 1], "all"]}})
    p = sp["model_params.xlstm.slstm_at"]
    assert p.labels == ("[0]", "[0,1]", "all")
    assert sp.to_estimator_params({"model_params.xlstm.slstm_at": "[0,1]"})["model_params"]["xlstm"]["slstm_at"] == [0, 1]


def test_bundled_configs_build_valid_models():
    names = bundled_configs()
    assert {"xlstm_patch", "etth1_small"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert cfg.source == f"{name}.yaml" and cfg.space.names
        assert load_config(f"configs/tune/{name}.yaml").space.names == cfg.space.names
        for values in sample(cfg.space, n=12, seed=1):
            params = cfg.space.to_estimator_params(values, cfg.base)
            spec = ModelSpec(lookback=params["lookback"], horizon=params["horizon"], n_channels=1)
            build_model(params["model"], spec, **params["model_params"])  # raises on an invalid combination


@pytest.mark.parametrize("spec, key, match", [
    ({"lr": {"type": "float", "low": 0.1, "high": 1}}, "lr", "not an XLSTMForecaster parameter"),
    ({"learning_rate": {"type": "gaussian", "low": 0, "high": 1}}, "learning_rate", "unknown type"),
    ({"learning_rate": {"low": 0, "high": 1}}, "learning_rate", "missing 'type'"),
    ({"learning_rate": {"type": "float", "high": 1}}, "learning_rate", "needs 'low'"),
    ({"learning_rate": {"type": "float", "low": 1, "high": 0.1}}, "learning_rate", "greater than high"),
    ({"learning_rate": {"type": "logfloat", "low": 0, "high": 0.1}}, "learning_rate", "low > 0"),
    ({"learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "log": True, "step": 0.01}},
     "learning_rate", "cannot be combined"),
    ({"learning_rate": {"type": "float", "low": "abc", "high": 0.1}}, "learning_rate", "must be a number"),
    ({"batch_size": {"type": "int", "low": 1.5, "high": 4}}, "batch_size", "must be an integer"),
    ({"batch_size": {"type": "int", "low": 1, "high": 4, "step": 0}}, "batch_size", "step must be positive"),
    ({"scaler": {"type": "categorical", "choices": []}}, "scaler", "empty"),
    ({"scaler": {"type": "categorical"}}, "scaler", "needs 'choices'"),
    ({"scaler": {"type": "categorical", "choices": ["a", "a"]}}, "scaler", "duplicate"),
    ({"scaler": {"type": "categorical", "choices": ["a"], "low": 1}}, "scaler", "numeric types"),
    ({"scaler": {"type": "categorical", "choices": ["a"], "typo": 1}}, "scaler", "unknown field"),
    ({"scaler": "robust"}, "scaler", "must be a mapping"),
    ({"batch_size": {"type": "int", "low": 1, "high": 4, "when": {"use_x": True}}}, "batch_size", "not a parameter of the space"),
    ({"batch_size": {"type": "int", "low": 1, "high": 4, "when": {"max_epochs": 2}},
      "max_epochs": {"type": "int", "low": 1, "high": 4, "when": {"batch_size": 2}}}, "batch_size", "cycle"),
    ({"use_x": {"type": "bool", "path": None},
      "batch_size": {"type": "int", "low": 1, "high": 4, "when": {"use_x": "yes"}}}, "batch_size", "not a choice of 'use_x'"),
    ({"batch_size": {"type": "int", "low": 1, "high": 4, "default": 2}}, "batch_size", "only used with 'when'"),
    ({"horizon.x": {"type": "int", "low": 1, "high": 4}}, "horizon.x", "not a dict parameter"),
    ({"model_params": {"type": "categorical", "choices": ["a"]}}, "model_params", "single model hyper-parameters"),
    ({"model_params.xlstm": {"type": "categorical", "choices": ["a"]},
      "model_params.xlstm.num_blocks": {"type": "int", "low": 1, "high": 2}}, "model_params.xlstm.num_blocks", "overlaps"),
])
def test_bad_spec_raises_value_error_naming_the_key(spec, key, match):
    with pytest.raises(ValueError, match=match) as info:
        SearchSpace.from_dict(spec)
    assert repr(key) in str(info.value)


def test_bad_configs():
    with pytest.raises(ValueError, match="unknown section"):
        load_config({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 1}}, "trainer": {}})
    with pytest.raises(ValueError, match="unknown study setting"):
        load_config({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 1}}, "study": {"trials": 3}})
    with pytest.raises(ValueError, match="unknown XLSTMForecaster parameter"):
        load_config({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 1}}, "base": {"epochs": 3}})
    with pytest.raises(ValueError, match="unknown model_params"):
        load_config({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 1}},
                     "base": {"preset": "xlstm_patch", "model_params": {"depth": 3}}})
    with pytest.raises(ValueError, match="unknown tuning config 'nope'"):
        load_config("nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_config("missing/config.yaml")


def test_samplers_and_pruners_by_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(make_sampler("tpe", 0), optuna.samplers.TPESampler)
        assert isinstance(make_sampler({"name": "random"}, 0), optuna.samplers.RandomSampler)
    assert isinstance(make_pruner("median"), optuna.pruners.MedianPruner)
    hb = make_pruner("hyperband", max_epochs=9)
    assert isinstance(hb, optuna.pruners.HyperbandPruner) and hb._max_resource == 9
    assert isinstance(make_pruner({"name": "median", "n_warmup_steps": 3}), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(ValueError, match="unknown pruner 'mediann'"):
        make_pruner("mediann")
    with pytest.raises(ValueError, match="pruner 'median': bad option"):
        make_pruner({"name": "median", "warmup": 3})
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("cmaes-nope")


@pytest.mark.parametrize("spec", ["tpe", {"name": "random"}, {"name": "tpe", "seed": 0, "n_startup_trials": 5}])
def test_workers_with_one_seed_sample_different_configurations(spec):
    # Four workers running the same command (so the same seed) on one study: samplers seeded once
    # per process drew the same random configurations in all of them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study()
        xs = []
        for sampler in [make_worker_sampler(spec, 0) for _ in range(4)]:
            study.sampler = sampler
            xs.append(study.ask().suggest_float("x", 0.0, 1.0))
        assert len(set(xs)) == 4
        # the draws depend on the seed and the trial number only: one worker alone draws the same
        alone = optuna.create_study(sampler=make_worker_sampler(spec, 0))
        assert [alone.ask().suggest_float("x", 0.0, 1.0) for _ in range(4)] == xs
        if "seed" not in spec:
            other = optuna.create_study(sampler=make_worker_sampler(spec, 1))
            assert other.ask().suggest_float("x", 0.0, 1.0) != xs[0]
