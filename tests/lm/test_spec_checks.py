"""Bad study settings and generation arguments fail up front with one clear line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlstm_ts.lm import cli
from xlstm_ts.lm.parity import ParitySpec
from xlstm_ts.lm.synthetic import SyntheticSpec
from xlstm_ts.lm.transformer import TransformerLanguageModel, TransformerLMConfig


@pytest.mark.parametrize("field,value,match", [
    ("context", 0, r"ParitySpec.context must be an integer >= 1; got 0"),  # was a ZeroDivisionError
    ("steps", 0, r"ParitySpec.steps must be an integer >= 1"),  # was an untrained benchmark
    ("batch_size", 1.5, r"ParitySpec.batch_size must be an integer"),
    ("learning_rate", float("nan"), r"ParitySpec.learning_rate must be a finite number > 0"),
    ("learning_rate", 0, r"ParitySpec.learning_rate must be a finite number > 0"),
    ("gen_contexts", [], r"gen_contexts must be integers >= 1"),
    ("models", ["xLSTM[1:0]", "GPT"], r"unknown \['GPT'\]"),
    ("models", [], r"ParitySpec.models is empty"),
])
def test_parity_spec_refuses_bad_settings(field, value, match):
    with pytest.raises(ValueError, match=match):
        ParitySpec(**{field: value})


def test_specs_accept_numpy_ints_and_optional_fields():
    assert ParitySpec(steps=np.int64(3), final_val_blocks=None).steps == 3
    assert SyntheticSpec(steps=None).tiny().steps == 3


@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, r"SyntheticSpec.steps must be an integer >= 1"),
    ({"tasks": ["mqar", "copy"]}, r"unknown \['copy'\]; choose from \['mqar', 'parity'\]"),  # was a KeyError
    ({"tasks": ["mqar", "mqar"]}, r"names an entry twice"),
    ({"models": []}, r"SyntheticSpec.models is empty"),
])
def test_synthetic_spec_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticSpec(**kwargs)


def test_cli_prints_one_line_and_exits_2(capsys):
    assert cli.main(["parity", "--context", "0", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "xlstm_ts.lm parity: error: ParitySpec.context must be an integer >= 1; got 0"
    assert cli.main(["synthetic", "--tasks", "foo", "--tiny"]) == 2
    assert "unknown ['foo']" in capsys.readouterr().err


def test_usage_names_the_module_once(capsys):
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    assert capsys.readouterr().out.startswith("usage: python -m xlstm_ts.lm generate ")


def test_generate_refuses_a_negative_token_count():
    torch.manual_seed(0)
    model = TransformerLanguageModel(TransformerLMConfig(vocab_size=11, dim=16, num_layers=1, num_heads=2))
    with pytest.raises(ValueError, match=r"max_new_tokens must be an integer >= 0; got -1"):
        model.generate([1, 2, 3], -1)
    assert model.generate([1, 2, 3], np.int64(2), temperature=0).shape == (5,)
