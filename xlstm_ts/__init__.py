"""xlstm-ts: time-series forecasting with xLSTM.

The estimator is imported lazily so that ``import xlstm_ts.nn`` stays light (no Lightning).
"""

__version__ = "0.1.0"

__all__ = ["XLSTMForecaster", "__version__"]


def __getattr__(name: str):
    if name == "XLSTMForecaster":
        from .forecaster import XLSTMForecaster

        return XLSTMForecaster
    raise AttributeError(f"module 'xlstm_ts' has no attribute {name!r}")
