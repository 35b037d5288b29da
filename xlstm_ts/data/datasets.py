"""Bundled benchmark data and readers for user files.

The bundled files live in the package ``xlstm_ts._datasets`` (the repository folder
``datasets/``) and are opened through ``importlib.resources`` so that they load after a
non-editable install too. Loaders return the file *as is* (TSLib uses the files
unchanged, e.g. weather's duplicated row and gap); validation happens when a frame is
turned into series (:func:`xlstm_ts.data.from_wide`).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from xlstm_ts._names import did_you_mean

__all__ = ["list_datasets", "load_dataset", "load_text", "read_frame", "read_series_file"]

_PACKAGE = "xlstm_ts._datasets"


@dataclass(frozen=True)
class _Bundled:
    file: str
    date_format: str


_DATASETS: dict[str, _Bundled] = {
    "ETTh1": _Bundled("ETTh1.csv.gz", "%Y-%m-%d %H:%M:%S"),
    "ETTm1": _Bundled("ETTm1.csv.gz", "%Y-%m-%d %H:%M:%S"),
    "weather": _Bundled("weather.csv.gz", "%Y-%m-%d %H:%M:%S"),
    # The exchange-rate file writes dates as `1990/1/1 0:00` (no zero padding).
    "exchange_rate": _Bundled("exchange_rate.csv.gz", "%Y/%m/%d %H:%M"),
    "national_illness": _Bundled("national_illness.csv.gz", "%Y-%m-%d %H:%M:%S"),
}
_ALIASES = {"ili": "national_illness", "illness": "national_illness", "exchange": "exchange_rate"}
_TEXTS = {"tinyshakespeare": "tinyshakespeare.txt.gz"}


def list_datasets() -> list[str]:
    """Names of the bundled forecasting datasets (accepted by :func:`load_dataset`)."""
    return list(_DATASETS)


def _canonical(name: str) -> str:
    lookup = {k.lower(): k for k in _DATASETS}
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in lookup:
        raise ValueError(
            f"unknown dataset {name!r}{did_you_mean([name], [*_DATASETS, *_ALIASES])}; "
            f"bundled datasets: {', '.join(_DATASETS)} "
            f"(aliases: {', '.join(_ALIASES)}); read your own files with read_frame(path)"
        )
    return lookup[key]


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled benchmark dataset as a wide frame.

    Parameters
    ----------
    name
        ``"ETTh1"``, ``"ETTm1"``, ``"weather"``, ``"exchange_rate"`` (alias
        ``"exchange"``) or ``"national_illness"`` (alias ``"ili"``); case-insensitive.

    Returns
    -------
    pandas.DataFrame
        Index: ``DatetimeIndex`` named ``ds``; columns: the variables in file order,
        the target ``OT`` last. Values as stored in the file (no cleaning).

    Examples
    --------
    >>> df = load_dataset("ETTh1")
    >>> df.shape, df.columns[-1]
    ((17420, 7), 'OT')
    """
    spec = _DATASETS[_canonical(name)]
    with resources.files(_PACKAGE).joinpath(spec.file).open("rb") as raw:
        # utf-8 explicitly: weather's header contains U+FFFD characters.
        frame = pd.read_csv(raw, compression="gzip", encoding="utf-8")
    dates = pd.to_datetime(frame.pop("date"), format=spec.date_format)
    frame.index = pd.DatetimeIndex(dates, name="ds")
    frame.columns.name = None
    return frame


def load_text(name: str = "tinyshakespeare") -> str:
    """Load a bundled text corpus (``"tinyshakespeare"``) as one string."""
    key = str(name).lower()
    if key not in _TEXTS:
        raise ValueError(f"unknown text {name!r}; bundled texts: {', '.join(_TEXTS)}")
    data = resources.files(_PACKAGE).joinpath(_TEXTS[key]).read_bytes()
    return gzip.decompress(data).decode("utf-8")


_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


def read_frame(
    path: str | PathLike[str],
    *,
    time_col: str | None = None,
    date_format: str | None = None,
    **read_kwargs: Any,
) -> pd.DataFrame:
    """Read a CSV or Parquet file (Parquet through pyarrow) into a DataFrame.

    Parameters
    ----------
    path
        File path; the format is chosen by suffix (``.csv[.gz|.bz2|...]``, ``.tsv``,
        ``.parquet``/``.pq``). A Parquet *directory* (partitioned dataset) also works.
    time_col
        Column to parse as timestamps (``pd.to_datetime``, with ``date_format`` if
        given) and set as the index, keeping its name; integer columns stay integer
        steps. None keeps the default index.
    date_format
        strftime format of ``time_col`` for CSV files (faster and unambiguous).
    **read_kwargs
        Passed to ``pandas.read_csv`` / ``pandas.read_parquet``.

    Returns
    -------
    pandas.DataFrame
    """
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() or name.endswith(_PARQUET_SUFFIXES):
        frame = pd.read_parquet(p, engine="pyarrow", **read_kwargs)
    elif _is_csv(p):
        if name.endswith(".tsv"):
            read_kwargs.setdefault("sep", "\t")
        frame = pd.read_csv(p, **read_kwargs)
    else:
        raise ValueError(
            f"cannot tell the format of {str(path)!r}: use a .csv(.gz) or .parquet file, or "
            "read it with pandas and pass the DataFrame"
        )
    if time_col is not None:
        if time_col not in frame.columns:
            raise ValueError(
                f"time column {time_col!r} is not in {p.name}; columns: {list(frame.columns)}"
            )
        times = frame.pop(time_col)
        if pd.api.types.is_integer_dtype(times.dtype):
            # Integer steps stay integers (to_datetime would read them as epoch offsets).
            frame.index = pd.Index(times, name=time_col)
            return frame
        if not pd.api.types.is_datetime64_any_dtype(times.dtype):
            times = pd.to_datetime(times, format=date_format)
        frame.index = pd.DatetimeIndex(times, name=time_col)
    return frame


def _is_csv(p: Path) -> bool:
    """``p`` is read as CSV (by its suffix; a directory is a Parquet dataset)."""
    return not p.is_dir() and p.name.lower().endswith(_CSV_SUFFIXES)


def read_series_file(path: str | PathLike[str], time_col: str = "ds",
                     id_col: str | None = "unique_id") -> pd.DataFrame:
    """A CSV/Parquet file of series as the estimator and the tuner read it: :func:`read_frame`,
    with a text ``time_col`` column parsed as dates (CSV has no date type; one format per column).

    A CSV's ``id_col`` is read as text, so that ids such as ``"001"`` stay what they are (and
    ``"1"`` and ``"01"`` two series) as in a Parquet file; it becomes integers only when every
    id is the canonical text of an integer (``str(int(x)) == x``), so integer ids written to CSV
    still come back as integers. None: no id column (pandas' type inference for every column).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        ``time_col`` holds text that is not dates.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"no such file: {path}")
    as_text = id_col is not None and _is_csv(Path(path))
    # pandas ignores the dtype of a column the file does not have (a wide file has no id column).
    frame = read_frame(path, **({"dtype": {id_col: str}} if as_text else {}))
    if as_text and id_col in frame.columns:
        frame[id_col] = _integer_ids(frame[id_col])
    if time_col in frame.columns:
        col = frame[time_col]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            try:
                frame[time_col] = pd.to_datetime(col)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}: column {time_col!r} does not hold dates ({e})") from None
    return frame


def _integer_ids(ids: pd.Series) -> pd.Series:
    """Text ids as ``int64`` when each is the canonical text of an integer (``"7"``, ``"-3"``;
    not ``"007"``, ``"+3"``, ``" 3"``, which would merge with ``"7"`` or ``"3"``), else unchanged."""
    def canonical(x: object) -> bool:
        try:
            return isinstance(x, str) and str(int(x)) == x
        except ValueError:
            return False

    if not all(canonical(x) for x in ids):
        return ids
    try:
        return ids.astype("int64")
    except OverflowError:  # beyond int64: text keeps them apart
        return ids
