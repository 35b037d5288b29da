"""The one deep merge used by presets, bench configs, tuning bases and model hparams."""

import pytest

from xlstm_ts._dicts import deep_merge


def test_nested_dicts_merge_and_inputs_stay_unchanged():
    base = {"a": 1, "x": {"e": 64, "s": {"h": 4}}}
    over = {"x": {"s": {"k": 0}}, "b": [1]}
    out = deep_merge(base, over)
    assert out == {"a": 1, "b": [1], "x": {"e": 64, "s": {"h": 4, "k": 0}}}
    out["x"]["s"]["h"] = 99
    out["b"].append(2)
    assert base == {"a": 1, "x": {"e": 64, "s": {"h": 4}}} and over["b"] == [1]
    assert deep_merge(base, None) == base


def test_strict_refuses_a_scalar_over_a_dict_and_names_the_key():
    base = {"xlstm": {"slstm": {"num_heads": 4}}}
    assert deep_merge(base, {"xlstm": 3}) == {"xlstm": 3}   # not strict: replaces
    with pytest.raises(ValueError, match=r"hparam 'xlstm' must be a dict; got int"):
        deep_merge(base, {"xlstm": 3}, strict="hparam ")
    with pytest.raises(ValueError, match=r"hparam xlstm\.'slstm' must be a dict; got str"):
        deep_merge(base, {"xlstm": {"slstm": "x"}}, strict="hparam ")
