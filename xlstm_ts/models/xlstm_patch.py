"""``xlstm_patch``: channel-independent patched xLSTM (xLSTMTime / P-sLSTM / PatchTST style)."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from .base import POSITIVE, ForecastModel, Range
from .layers import CovariateHead, PatchEmbedding, RevIN, build_stack


class XLSTMPatch(ForecastModel):
    """RevIN -> patches -> Linear(P -> E) (+ past covariates, statics) -> xLSTM stack over the
    patch tokens -> flatten -> Linear(N*E -> H*Q) (+ future-covariate term) -> de-normalise.

    Every channel is its own sequence (channel independence, as PatchTST / P-sLSTM); the stack
    runs over ``B*C`` sequences of ``N`` patch tokens. The recurrence is order-aware, so there is
    no positional embedding. Default stack: 1 mLSTM block (``slstm_at="1:0"``) at E=32, small on
    purpose: larger stacks overfit ETTh1-sized data at lr 1e-3 and cost more CPU time;
    ``xlstm={"slstm_at": "all"}`` gives the sLSTM (P-sLSTM-like) variant.

    Hparams:
        patch_len, stride: patching (PatchTST 16 / 8), ``stride <= patch_len``; ``pad_end`` adds
            PatchTST's end patch; without it the patches end at the window's last step (the
            oldest ``(L - patch_len) % stride`` steps are dropped).
        xlstm: ``XLSTMStackConfig`` dict (merged into the defaults; ``embedding_dim`` is E).
        dropout: on the patch tokens; the stack's own ``xlstm.dropout`` acts inside the blocks.
        head_dropout: before the flatten head.
        revin, revin_affine: RevIN on/off and its learnable affine map.
    """

    name: ClassVar[str] = "xlstm_patch"
    past_covariates: ClassVar[bool] = True  # reads the past rows of x_futr
    defaults: ClassVar[dict[str, Any]] = {
        "patch_len": 16,
        "stride": 8,
        "pad_end": True,
        "xlstm": {
            "embedding_dim": 32,
            "num_blocks": 1,
            "slstm_at": "1:0",
            "mlstm": {"num_heads": 4, "proj_factor": 2.0, "conv1d_kernel_size": 4,
                      "qkv_proj_blocksize": 16, "chunk_size": 64},
            "slstm": {"num_heads": 4, "conv1d_kernel_size": 4},
            "dropout": 0.1,
            # No final LayerNorm: it would normalise each patch token over its features and so
            # erase the patch's amplitude before the flatten head. Chosen on VALIDATION: ETTh1
            # L=336 H=96, etth1_tuning.yaml, seed 2021: val MSE 0.667 without, 0.713 with.
            "add_post_blocks_norm": False,
        },
        "dropout": 0.2,
        "head_dropout": 0.3,
        "revin": True,
        "revin_affine": False,
    }
    ranges: ClassVar[dict[str, Range]] = {"patch_len": POSITIVE, "stride": POSITIVE}

    def __init__(self, spec, **hparams):
        super().__init__(spec, **hparams)
        hp, s = self.hparams, self.spec
        self.stack = build_stack(hp["xlstm"], "xlstm")
        E = self.stack.config.embedding_dim
        self.revin = RevIN(s.n_channels, affine=hp["revin_affine"]) if hp["revin"] else None
        self.embed = PatchEmbedding(s.lookback, hp["patch_len"], hp["stride"], E,
                                    n_futr=s.n_futr, n_static=s.n_static, pad_end=hp["pad_end"])
        self.n_patches = self.embed.n_patches
        self.dropout = nn.Dropout(hp["dropout"])
        self.head_dropout = nn.Dropout(hp["head_dropout"])
        self.head = nn.Linear(self.n_patches * E, s.horizon * s.n_outputs)
        # Statics enter through the tokens; the future part of x_futr through an additive term.
        self.covariates = CovariateHead(s.horizon, s.n_futr, 0, s.n_channels, s.n_outputs) if s.n_futr else None

    def _forward(self, x, futr, static):
        s = self.spec
        B, L, C = x.shape
        futr_past = futr[:, :L] if futr is not None else None
        tok = self.dropout(self.embed(x, futr_past, static))  # (B*C, N, E)
        tok, _ = self.stack(tok)
        out = self.head(self.head_dropout(tok.flatten(1)))  # (B*C, H*Q)
        out = out.reshape(B, C, s.horizon, s.n_outputs).transpose(1, 2)  # (B, H, C, Q)
        if self.covariates is not None:
            out = out + self.covariates(futr[:, L:], None)
        return out

