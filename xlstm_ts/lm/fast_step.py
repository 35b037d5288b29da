"""A lean single-token step for :class:`xlstm_ts.nn.XLSTMStack` (generation on CPU).

``XLSTMStack.step`` runs the sequence code path with ``S = 1``; on a CPU at batch 1 a decode
step is bound by per-op overhead, and that path spends it on a 4-tap ``conv1d`` (oneDNN setup
per call), three headwise einsums and shape checks. This module computes the same step with
fewer, cheaper ops from the same parameters and the same state layout (states produced by the
stack's chunkwise prefill continue here, and vice versa):

- causal conv as a multiply-add over the carried window;
- q and k from one batched matmul over the q/k blocks, v from another;
- the mLSTM and sLSTM cell updates written out for one step (stabilised, as in
  :func:`xlstm_ts.nn.functional.mlstm_step` / ``slstm_step``);
- sLSTM: input and recurrent projections of a head in one ``bmm`` over ``[x_conv, x, h]``.

Packed weights are cached per block and rebuilt when a parameter changes (tensor versions).
Equality with the full-sequence forward is tested in ``tests/lm``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xlstm_ts.nn.blocks import MLSTMBlock, SLSTMBlock, XLSTMStack
from xlstm_ts.nn.functional import MLSTMState, SLSTMState, slstm_zero_state
from xlstm_ts.nn.functional.slstm import slstm_pointwise

EPS = 1e-6


def _key(*tensors: torch.Tensor) -> tuple:
    return tuple((t.data_ptr(), t._version) for t in tensors)


def _cached(module: torch.nn.Module, params: tuple[torch.Tensor, ...], build):
    key = _key(*params)
    cache = module.__dict__.get("_fast_step_cache")
    if cache is None or cache[0] != key:
        with torch.no_grad():
            cache = (key, build())
        module.__dict__["_fast_step_cache"] = cache
    return cache[1]


def _conv_step(conv, x: torch.Tensor, state: torch.Tensor | None):
    """``CausalConv1d`` for one step: ``x (B, D)``, state ``(B, K-1, D)`` (None: zeros)."""
    if conv.conv is None:
        return x, None
    K = conv.kernel_size
    if state is None:
        state = x.new_zeros(x.shape[0], K - 1, x.shape[1])
    w = _cached(conv, (conv.conv.weight,), lambda: conv.conv.weight[:, 0, :].t().contiguous())  # (K, D)
    window = torch.cat([state.to(x.dtype), x[:, None]], dim=1)  # (B, K, D)
    y = (window * w).sum(1) + conv.conv.bias
    return y, window[:, 1:]


def _mlstm_block_step(block: MLSTMBlock, x: torch.Tensor, state):
    layer = block.layer
    B, E = x.shape
    NH, DH, inner = layer.num_heads, layer.head_dim, layer.inner_dim
    conv_state, cell = state if state is not None else (None, None)
    h_in = F.layer_norm(x, (E,), block.norm.weight, block.norm.bias, block.norm.eps)
    x_m, z = F.linear(h_in, layer.proj_up.weight, layer.proj_up.bias).chunk(2, dim=-1)
    x_c, conv_state = _conv_step(layer.conv, x_m, conv_state)
    x_c = F.silu(x_c)
    nb, bs = layer.q_proj.num_blocks, layer.q_proj.block_size
    w_qk = _cached(layer, (layer.q_proj.weight, layer.k_proj.weight),
                   lambda: torch.cat([layer.q_proj.weight, layer.k_proj.weight], dim=-1))  # (nb, bs, 2bs)
    qk = torch.bmm(x_c.reshape(B, nb, bs).transpose(0, 1), w_qk)  # (nb, B, 2bs)
    q = qk[..., :bs].transpose(0, 1).reshape(B, inner)
    k = qk[..., bs:].transpose(0, 1).reshape(B, inner)
    v = torch.bmm(x_m.reshape(B, nb, bs).transpose(0, 1), layer.v_proj.weight).transpose(0, 1).reshape(B, inner)
    g = F.linear(torch.cat([q, k, v], dim=-1), layer.gates.weight, layer.gates.bias)
    cap = layer.config.gate_soft_cap
    if cap is not None:
        g = cap * torch.tanh(g / cap)
    i_t, f_t = g[:, :NH], g[:, NH:]  # (B, NH)
    q, k, v = q.view(B, NH, DH), k.view(B, NH, DH) * (1.0 / math.sqrt(DH)), v.view(B, NH, DH)
    if cell is None:
        C = x.new_zeros(B, NH, DH, DH)
        n = x.new_zeros(B, NH, DH)
        m = x.new_zeros(B, NH)
    else:
        C, n, m = cell
    log_f = F.logsigmoid(f_t)
    m_new = torch.maximum(log_f + m, i_t)
    f_w = torch.exp(log_f + m - m_new)[..., None]
    i_w = torch.exp(i_t - m_new)[..., None]
    ik = i_w * k
    C = torch.baddbmm((f_w[..., None] * C).view(B * NH, DH, DH), ik.reshape(B * NH, DH, 1),
                      v.reshape(B * NH, 1, DH)).view(B, NH, DH, DH)
    n = f_w * n + ik
    num = torch.bmm(q.reshape(B * NH, 1, DH), C.view(B * NH, DH, DH)).view(B, NH, DH)
    den = (q * n).sum(-1)
    h = num * (torch.maximum(den.abs(), torch.exp(-m_new)) + EPS).reciprocal()[..., None]
    h = F.layer_norm(h, (DH,), eps=layer.outnorm.eps).reshape(B, inner) * layer.outnorm.weight
    h = (h + layer.skip * x_c) * F.silu(z)
    y = F.linear(h, layer.proj_down.weight, layer.proj_down.bias)
    return x + y, (conv_state, MLSTMState(C, n, m_new))


def _slstm_block_step(block: SLSTMBlock, x: torch.Tensor, state):
    layer = block.layer
    B, E = x.shape
    NH, DH = layer.num_heads, layer.head_dim
    conv_state, cell = state if state is not None else (None, None)
    h_in = F.layer_norm(x, (E,), block.norm.weight, block.norm.bias, block.norm.eps)
    x_c, conv_state = _conv_step(layer.conv, h_in, conv_state)
    x_c = F.silu(x_c)

    def pack():
        W = layer.w_if.new_zeros(NH, 3 * DH, 4 * DH)
        W[:, :DH, :2 * DH] = layer.w_if.reshape(NH, DH, 2 * DH)
        W[:, DH:2 * DH, 2 * DH:] = layer.w_zo.reshape(NH, DH, 2 * DH)
        W[:, 2 * DH:] = layer.R.reshape(NH, DH, 4 * DH)
        return W, layer.b.permute(1, 0, 2).reshape(NH, 1, 4 * DH).contiguous()

    W, b = _cached(layer, (layer.w_if, layer.w_zo, layer.R, layer.b), pack)
    if cell is None:
        cell = slstm_zero_state(B, NH, DH, device=x.device)
    h_prev, c, n, m = cell
    inp = torch.cat([x_c.view(B, NH, DH), h_in.view(B, NH, DH), h_prev], dim=-1).transpose(0, 1)  # (NH, B, 3DH)
    pre = torch.baddbmm(b, inp, W).view(NH, B, 4, DH).permute(1, 2, 0, 3)  # (B, 4, NH, DH)
    h, c, n, m_new = slstm_pointwise(*pre.unbind(1), c, n, m)
    y = F.layer_norm(h, (DH,), eps=layer.norm.eps).reshape(B, E) * layer.norm.weight
    x = x + y
    x = x + block.ffn(block.ffn_norm(x))
    return x, (conv_state, SLSTMState(h, c, n, m_new))


def supports_fast_step(stack: XLSTMStack) -> bool:
    """The lean step covers the float32 torch layers of the stack (not ``backend='triton'``)."""
    return all(isinstance(b, (MLSTMBlock, SLSTMBlock)) for b in stack.blocks) and \
        stack.config.backend in ("auto", "torch") and all(p.dtype == torch.float32 for p in stack.parameters())


def stack_step(stack: XLSTMStack, x_t: torch.Tensor, state: list | None):
    """Same contract as ``XLSTMStack.step``: ``x_t (B, E)`` -> ``(y_t (B, E), state)``."""
    state = state if state is not None else [None] * len(stack.blocks)
    new_state = []
    x = x_t
    for block, s in zip(stack.blocks, state, strict=True):
        if isinstance(block, MLSTMBlock):
            x, s = _mlstm_block_step(block, x, s)
        else:
            x, s = _slstm_block_step(block, x, s)
        new_state.append(s)
    return stack.post_norm(x), new_state
