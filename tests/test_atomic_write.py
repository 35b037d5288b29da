"""``xlstm_ts._atomic``: every output file is written all-or-nothing.

A failed or killed write leaves the previous file (or none) and no temporary file; the
package's writers (bench tables and cells, tuning reports, plots, forecasts from the CLI, LM
results) all go through it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from xlstm_ts._atomic import atomic_write, atomic_write_json, atomic_write_text


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "table.csv"  # the folder is created
    df = pd.DataFrame({"a": [1, 2]})
    assert atomic_write(target, lambda p: df.to_csv(p, index=False)) == target
    atomic_write(target, lambda p: pd.DataFrame({"a": [3]}).to_csv(p, index=False))
    assert pd.read_csv(target)["a"].tolist() == [3]
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]
    assert atomic_write_json(tmp_path / "x.json", {"k": 1}) and json.loads((tmp_path / "x.json").read_text()) == {"k": 1}
    assert atomic_write_text(tmp_path / "é.md", "ü").read_text(encoding="utf-8") == "ü"


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, error):
    target = tmp_path / "cell.json"
    target.write_text('{"old": true}')

    def write(p):
        p.write_text('{"new": tr')  # half written, then the writer dies
        raise error

    with pytest.raises(type(error)):
        atomic_write(target, write)
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]


def test_the_temporary_file_is_not_a_json_or_parquet_file(tmp_path):
    """Readers scan folders for *.json (bench cells) while other processes write beside them."""
    seen = []
    atomic_write(tmp_path / "seed2021.json", lambda p: seen.append(p.name) or p.write_text("{}"))
    assert seen[0].startswith(".seed2021.json.") and seen[0].endswith(".tmp")


def test_process_killed_while_writing_leaves_the_old_file(tmp_path):
    target = tmp_path / "trials.parquet"
    pd.DataFrame({"v": [1.0]}).to_parquet(target)
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, pathlib
        from xlstm_ts._atomic import atomic_write
        def write(p):
            p.write_bytes(b"PAR1 half")
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write(pathlib.Path({str(target)!r}), write)
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert pd.read_parquet(target)["v"].tolist() == [1.0]
    # The killed writer's temporary file stays (nothing could remove it) but is never read as data.
    assert {p.name for p in tmp_path.iterdir() if not p.name.endswith(".tmp")} == {"trials.parquet", "writer.py"}


def test_plots_keep_the_format_of_their_suffix(tmp_path):
    """The temporary file has no image suffix: the writers pass the format of the real name."""
    from xlstm_ts import plotting

    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=4, freq="h"),
                       "y_hat": np.arange(4.0)})
    for name, magic in (("f.pdf", b"%PDF"), ("f.png", b"\x89PNG"), ("f.svg", b"<?xml")):
        out = plotting.plot_forecast(None, df, tmp_path / name)
        assert out == tmp_path / name and out.read_bytes().startswith(magic)
    assert plotting.plot_forecast(None, df, tmp_path / "noext").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "f.svg", "noext.png"]
