"""``xlstm_stream``: a per-step xLSTM whose recurrent state runs over the whole history.

Every time step is one token: ``Linear([x_t (C), futr_t (F)] -> E)`` plus ``Linear(static -> E)``.
An :class:`~xlstm_ts.nn.XLSTMStack` (default: 2 mLSTM blocks at E=64) reads the tokens; a direct
multi-horizon head maps the stack output at step ``t`` to the forecasts of ``t+1 .. t+H``
(``Linear(E -> H*C*Q)``, plus a covariate term from the known covariates of ``t+1 .. t+H`` and
the statics). There is no RevIN: the per-series scaler fitted on the training span normalises;
with ``last_value_skip`` (default) the head forecasts the change from the last observation
``x_t``, which keeps forecasts on level when a series drifts away from its training range.
``linear_window = K > 0`` adds a DLinear-like term ``Linear(K -> H*Q)`` (shared by the channels)
on the last K observations relative to ``x_t``; the streaming state then keeps those K values
(a fixed-size buffer, still O(1) per step).

The state of the stack does not grow with the history, so a fitted model follows a stream in
O(1) time and memory per new observation (:meth:`XLSTMStream.read`); it is trained with
truncated BPTT (:mod:`xlstm_ts.streaming.training`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..models.base import ForecastModel, mask_past_only
from ..models.layers import CovariateHead, build_stack

READ_BLOCK = 4096  # steps per chunkwise call when reading a long history (bounds activation memory)


class XLSTMStream(ForecastModel):
    """Streaming xLSTM forecaster (see the module docstring).

    Hparams:
        xlstm: ``XLSTMStackConfig`` dict (merged into the defaults; ``embedding_dim`` is E).
        dropout: on the step tokens.
        segment_len: TBPTT segment length in steps (None: the estimator's ``lookback``).
        lane_len: length of the contiguous lanes cut from long series for training (None:
            ``max(4 * segment_len, total training steps / batch_size)``, so a batch holds about
            ``batch_size`` lanes).
        last_value_skip: add the last observed (scaled) value ``x_t`` to every horizon step.
        linear_window: K recent observations read by a linear term of the head (0: none).

    Besides the common ``forward(batch) -> (B, H, C, Q)`` (the window read from the zero state),
    the streaming interface is :meth:`encode` (tokens -> stack outputs and state), :meth:`head`
    (stack outputs -> forecasts) and :meth:`read` (advance a state over new steps, no grad).
    """

    name: ClassVar[str] = "xlstm_stream"
    past_covariates: ClassVar[bool] = True  # reads the past rows of x_futr
    streaming: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {
        "xlstm": {
            "embedding_dim": 64,
            "num_blocks": 2,
            "slstm_at": "1:0",
            "mlstm": {"num_heads": 4, "proj_factor": 2.0, "conv1d_kernel_size": 4,
                      "qkv_proj_blocksize": 16, "chunk_size": 64},
            "slstm": {"num_heads": 4, "conv1d_kernel_size": 4},
            "dropout": 0.1,
        },
        "dropout": 0.2,
        "segment_len": None,
        "lane_len": None,
        "last_value_skip": True,
        "linear_window": 0,
    }

    def __init__(self, spec, **hparams):
        super().__init__(spec, **hparams)
        hp, s = self.hparams, self.spec
        for key in ("segment_len", "lane_len"):
            v = hp[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{self.name}: hparam {key!r} must be None or a positive int; got {v!r}")
        K = hp["linear_window"]
        if isinstance(K, bool) or not isinstance(K, int) or K < 0:
            raise ValueError(f"{self.name}: hparam 'linear_window' must be an int >= 0; got {K!r}")
        self.recent_len = max(K, 1)  # observations the head reads: (..., recent_len, C)
        self.stack = build_stack(hp["xlstm"], "xlstm")
        E = self.stack.config.embedding_dim
        self.embedding_dim = E
        self.token = nn.Linear(s.n_channels + s.n_futr, E)
        self.static_token = nn.Linear(s.n_static, E, bias=False) if s.n_static else None
        self.dropout = nn.Dropout(hp["dropout"])
        self.out = nn.Linear(E, s.horizon * s.n_channels * s.n_outputs)
        self.covariates = (CovariateHead(s.horizon, s.n_futr, s.n_static, s.n_channels, s.n_outputs)
                           if s.n_futr or s.n_static else None)
        self.linear = nn.Linear(K, s.horizon * s.n_outputs) if K else None
        if self.linear is not None:  # start from the xLSTM (+ last value) forecast
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)

    # ------------------------------------------------------------------ streaming interface

    def tokens(self, x: torch.Tensor, futr: torch.Tensor | None, static: torch.Tensor | None) -> torch.Tensor:
        """``x (B, S, C)``, ``futr (B, S, F)`` (the covariates of the same steps), ``static (B, n_static)``
        -> tokens ``(B, S, E)``."""
        s = self.spec
        parts = [x]
        if s.n_futr:
            parts.append(futr.to(x.dtype))
        tok = self.token(torch.cat(parts, dim=-1) if len(parts) > 1 else x)
        if self.static_token is not None:
            tok = tok + self.static_token(static.to(x.dtype))[:, None]
        return self.dropout(tok)

    def encode(self, x, futr=None, static=None, state: list | None = None) -> tuple[torch.Tensor, list]:
        """Stack outputs ``(B, S, E)`` of the steps ``x (B, S, C)`` after ``state`` (None: zero state)."""
        return self.stack(self.tokens(x, futr, static), state)

    def head(self, y: torch.Tensor, recent: torch.Tensor, futr_next: torch.Tensor | None = None,
             static: torch.Tensor | None = None) -> torch.Tensor:
        """Forecasts from stack outputs.

        Args:
            y: ``(B, E)`` or ``(B, S, E)`` stack outputs at the forecast origins.
            recent: ``(B, K, C)`` / ``(B, S, K, C)`` with ``K = recent_len``: the last observed
                (scaled) values up to each origin (the origin's own value last; zeros before a
                series' start)
            futr_next: ``(B, H, F)`` / ``(B, S, H, F)``: the known covariates of the H steps
                after each origin (the past-only ones, ``spec.n_hist``, are zeroed here).
            static: ``(B, n_static)``.

        Returns:
            ``(B, H, C, Q)`` or ``(B, S, H, C, Q)``.
        """
        s = self.spec
        lead = y.shape[:-1]
        out = self.out(y).reshape(*lead, s.horizon, s.n_channels, s.n_outputs)
        if self.covariates is not None:
            n = y[..., 0].numel()
            f = mask_past_only(futr_next.reshape(n, s.horizon, s.n_futr), 0, s.n_hist) if s.n_futr else None
            st = None
            if s.n_static:
                st = static[:, None].expand(*lead, s.n_static).reshape(n, s.n_static) if y.dim() == 3 else static
            out = out + self.covariates(f, st).reshape(*lead, s.horizon, s.n_channels, s.n_outputs)
        recent = recent.to(out.dtype)
        x_last = recent[..., -1, :]
        if self.linear is not None:  # (..., K, C) -> (..., C, H*Q) -> (..., H, C, Q)
            z = self.linear((recent - x_last[..., None, :]).transpose(-1, -2))
            out = out + z.reshape(*lead, s.n_channels, s.horizon, s.n_outputs).transpose(-3, -2)
        if self.hparams["last_value_skip"]:
            out = out + x_last[..., None, :, None]
        return out

    def recent_window(self, x: torch.Tensor) -> torch.Tensor:
        """The last ``recent_len`` rows of ``x (B, S, C)`` (zero-padded in front): ``(B, recent_len, C)``."""
        K = self.recent_len
        if x.shape[1] < K:
            x = torch.cat([x.new_zeros(x.shape[0], K - x.shape[1], x.shape[2]), x], dim=1)
        return x[:, x.shape[1] - K:]

    @torch.no_grad()
    def read(self, x: torch.Tensor, futr: torch.Tensor | None, static: torch.Tensor | None,
             state: list | None = None, block: int = READ_BLOCK) -> tuple[torch.Tensor, list]:
        """Advance ``state`` over the steps ``x (B, S, C)`` without gradients.

        Long inputs are read in blocks of ``block`` steps carrying the state (equal to one call,
        with activation memory bounded by the block). One step (``S == 1``) with a state takes
        the stack's O(1) recurrent path.

        Returns:
            ``(y_last (B, E), state)``: the stack output at the last step and the new state.
        """
        if x.shape[1] < 1:
            raise ValueError("read needs at least one step")
        y = None
        for a in range(0, x.shape[1], block):
            b = a + block
            f = futr[:, a:b] if futr is not None and self.spec.n_futr else None
            y, state = self.encode(x[:, a:b], f, static, state)
        return y[:, -1], state

    # ------------------------------------------------------------------ window contract

    def _forward(self, x, futr, static):
        """The common interface: read the window ``x (B, L, C)`` from the zero state, forecast H steps."""
        L = x.shape[1]
        y, _ = self.encode(x, futr[:, :L] if futr is not None else None, static)
        return self.head(y[:, -1], self.recent_window(x), futr[:, L:] if futr is not None else None, static)
