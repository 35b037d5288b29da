"""``est.tune(..., base_params=...)``: which fixed value a trial uses when the estimator, ``base_params``,
the config's ``base`` and the search space name the same parameter."""

from __future__ import annotations

import optuna
import pytest

from xlstm_ts import XLSTMForecaster
from xlstm_ts.tuning import tune, tune_estimator

# No trial, no refit: the study is created with its base parameters, which is all these tests read.
NOTHING = dict(n_trials=0, pruner="none", refit=False, plots=False)


def _stored_base(out) -> dict:
    study = optuna.load_study(study_name="xlstm-ts", storage=f"sqlite:///{out / 'study.db'}")
    return study.user_attrs["base_params"]


def test_base_params_conflicting_with_the_estimator_raise(df, base, space, tmp_path):
    est = XLSTMForecaster(**base)  # max_epochs=3, num_blocks 1
    with pytest.raises(ValueError) as e:
        est.tune(df, space, base_params={"max_epochs": 5, "model_params": {"xlstm": {"num_blocks": 2}}},
                 out_dir=tmp_path, **NOTHING)
    msg = str(e.value)
    assert msg.startswith("base_params conflicts with parameter(s) set on the estimator (")
    assert "max_epochs: estimator 3, base_params 5" in msg
    assert "model_params.xlstm.num_blocks: estimator 1, base_params 2" in msg
    assert "set the value on the estimator (set_params) or drop ['max_epochs', " \
           "'model_params.xlstm.num_blocks'] from base_params" in msg
    assert not (tmp_path / "study.db").exists()  # refused before the study is created
    # the same through tune_estimator, which est.tune wraps
    with pytest.raises(ValueError, match="patience: estimator None, base_params 2"):
        tune_estimator(est, df, space, base_params={"patience": 2}, out_dir=tmp_path, **NOTHING)


def test_base_params_fill_in_what_the_estimator_leaves_at_its_defaults(df, base, space, tmp_path):
    est = XLSTMForecaster(**base)
    extra = {"weight_decay": 0.01,  # at its default on the estimator: base_params sets it
             "max_epochs": 3,  # the estimator's own value: no conflict
             "model_params": {"xlstm": {"num_blocks": 1, "mlstm": {"num_heads": 2}}},  # equal nested values
             "trainer_kwargs": {"limit_val_batches": 2}}  # a new nested key: merged with the estimator's
    est.tune(df, space, base_params=extra, out_dir=tmp_path, **NOTHING)
    stored = _stored_base(tmp_path)
    assert stored["weight_decay"] == 0.01 and stored["max_epochs"] == 3 and stored["horizon"] == 12
    assert stored["trainer_kwargs"] == {"limit_train_batches": 4, "limit_val_batches": 2}
    assert stored["model_params"]["xlstm"]["embedding_dim"] == 16
    # a tuple on the estimator equals the list a YAML or JSON copy of it holds
    q = XLSTMForecaster(**{**base, "loss": "quantile", "quantiles": (0.1, 0.5, 0.9)})
    q.tune(df, space, base_params={"quantiles": [0.1, 0.5, 0.9]}, out_dir=tmp_path / "q", **NOTHING)
    assert _stored_base(tmp_path / "q")["quantiles"] == [0.1, 0.5, 0.9]


def test_the_estimator_wins_over_the_config_base(df, base, space, tmp_path):
    """The config's ``base`` fills in only what the estimator (and base_params) leave unset."""
    config = {"space": space, "base": {"max_epochs": 7, "weight_decay": 0.02}}
    XLSTMForecaster(**base).tune(df, config, out_dir=tmp_path, **NOTHING)
    stored = _stored_base(tmp_path)
    assert stored["max_epochs"] == 3 and stored["weight_decay"] == 0.02


def test_plain_tune_base_params_still_override_the_config_base(df, base, space, tmp_path):
    """Without an estimator nothing changed: base_params (e.g. --max-epochs) override the config's base."""
    config = {"space": space, "base": {**base, "max_epochs": 7}}
    tune(df, config, base_params={"max_epochs": 1}, out_dir=tmp_path, **NOTHING)
    assert _stored_base(tmp_path)["max_epochs"] == 1


def test_the_space_wins_over_the_estimator(df, base, space, tmp_path):
    """A tuned parameter takes each trial's sampled value, even where the estimator sets one."""
    est = XLSTMForecaster(**{**base, "learning_rate": 0.5, "max_epochs": 1})
    res = est.tune(df, space, n_trials=1, out_dir=tmp_path, pruner="none", refit=False, plots=False)
    lr = res.best_estimator_params["learning_rate"]
    assert lr == res.best_params["learning_rate"] and 1e-4 <= lr <= 1e-2


def test_base_is_not_a_tune_argument_and_base_params_must_be_a_mapping(df, base, space, tmp_path):
    est = XLSTMForecaster(**base)
    with pytest.raises(TypeError, match="unexpected keyword argument 'base'"):
        est.tune(df, space, base={"max_epochs": 5}, out_dir=tmp_path, **NOTHING)
    with pytest.raises(ValueError, match="base_params must be a mapping of XLSTMForecaster parameters"):
        est.tune(df, space, base_params=["max_epochs"], out_dir=tmp_path, **NOTHING)
