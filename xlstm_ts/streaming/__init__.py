"""Streaming forecasting: a per-step xLSTM whose recurrent state runs over the whole history.

- :class:`XLSTMStream` (model ``"xlstm_stream"``): per-step tokens -> xLSTM stack -> direct
  multi-horizon head; :meth:`XLSTMStream.read` advances a state in O(1) per step.
- :mod:`xlstm_ts.streaming.training`: truncated-BPTT training with Lightning (segment datasets
  in time order, a module that carries the states) and :func:`read_series`.
- :mod:`xlstm_ts.streaming.state`: the nested stack state as data (batch, slice, save).

Through the estimator: ``XLSTMForecaster(model="xlstm_stream").fit(df)``, then
``update(df_new)`` / ``predict()`` as observations arrive; ``save``/``load`` keep the states.
See ``docs/streaming.md``.
"""

from .model import XLSTMStream
from .state import StreamState, flatten_state, state_nbytes, unflatten_state

__all__ = ["StreamState", "XLSTMStream", "flatten_state", "state_nbytes", "unflatten_state"]
