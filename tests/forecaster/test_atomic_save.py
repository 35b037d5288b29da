"""Saves killed half-way (SIGKILL in a separate process) leave the previous model loadable.

The kill points cover every stage of :func:`xlstm_ts.persist.save_directory`: while writing the
new files, between the two renames (the live directory briefly absent), and after the swap
before the clean-up. Tampered directories give clear errors and never run code.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster
from xlstm_ts.persist import ModelFileError

from .conftest import TINY, seasonal_panel

pytestmark = pytest.mark.slow

KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import xlstm_ts.persist as persist
    from xlstm_ts import XLSTMForecaster
    stage, source, target = sys.argv[1], sys.argv[2], sys.argv[3]
    est = XLSTMForecaster.load(source)
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if stage == "writing":
        real_save = persist.save_torch
        def save_then_die(tensors, filename):
            real_save(tensors, filename)
            die()
        persist.save_torch = save_then_die
    else:
        real_replace, calls = os.replace, []
        def replace(a, b):
            calls.append(a)
            if stage == "between_renames" and len(calls) == 2:
                die()
            real_replace(a, b)
            if stage == "after_swap" and len(calls) == 2:
                die()
        os.replace = replace
    est.save(target)
    print("NOT KILLED")
""")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    df = seasonal_panel()
    old = XLSTMForecaster(horizon=6, lookback=24, random_state=1, **TINY).fit(df)
    new = XLSTMForecaster(horizon=6, lookback=24, random_state=2, **TINY).fit(df)
    new.save(root / "new_source")
    return old, old.predict(), new.predict(), root


@pytest.mark.parametrize("stage", ["writing", "between_renames", "after_swap"])
def test_killed_save_leaves_a_loadable_model(tmp_path, two_models, stage):
    old, old_pred, new_pred, root = two_models
    target = tmp_path / "model"
    old.save(target)
    script = tmp_path / "killed_save.py"
    script.write_text(KILLED_SAVE)
    proc = subprocess.run([sys.executable, str(script), stage, str(root / "new_source"), str(target)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, (proc.stdout, proc.stderr[-2000:])

    loaded = XLSTMForecaster.load(target).predict()
    expected = new_pred if stage == "after_swap" else old_pred  # the swap is the commit point
    pd.testing.assert_frame_equal(loaded, expected)

    # The next save recovers and cleans up: exactly one directory, holding the new model.
    old.save(target)
    assert [p.name for p in tmp_path.iterdir() if p.name != script.name] == ["model"]
    pd.testing.assert_frame_equal(XLSTMForecaster.load(target).predict(), old_pred)


def test_tampered_model_directories_are_clear_errors_and_never_unpickle(tmp_path, two_models):
    old, *_ = two_models
    target = tmp_path / "m"
    old.save(target)
    cfg = json.loads((target / "config.json").read_text())

    # Same length, one byte flipped: the checksum catches it.
    weights = target / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        XLSTMForecaster.load(target)

    # A file listed in the config is gone.
    old.save(target)
    (target / "history.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        XLSTMForecaster.load(target)

    # Unknown format version, and a config that is not an object.
    old.save(target)
    (target / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(ModelFileError, match="format_version"):
        XLSTMForecaster.load(target)
    (target / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError):
        XLSTMForecaster.load(target)

    # Parameters the estimator does not know: a clear error, not a TypeError from __init__.
    # (A directory whose config.json is no model config is not replaced by save: remove it.)
    shutil.rmtree(target)
    old.save(target)
    bad = {**cfg, "params": {**cfg["params"], "evil": "__import__('os').system('touch pwned')"}}
    (target / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ModelFileError, match="not a consistent"):
        XLSTMForecaster.load(target)

    # A pickle planted beside (or instead of) the weights is never opened: loading a directory
    # whose weights are a pickle fails on the checksum / safetensors header, not by unpickling.
    old.save(target)
    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (target / "model.pt").write_bytes(pickle.dumps(Boom()))
    XLSTMForecaster.load(target)  # extra files are ignored
    (target / "model.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ModelFileError):
        XLSTMForecaster.load(target)
    assert not marker.exists()
    assert not os.path.exists("pwned")
