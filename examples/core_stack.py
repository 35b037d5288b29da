"""The xLSTM core on its own: a mixed mLSTM/sLSTM stack, full-sequence vs streaming.

    python examples/core_stack.py
"""

import torch

from xlstm_ts.nn import MLSTMLayerConfig, SLSTMLayerConfig, XLSTMStack, XLSTMStackConfig

torch.manual_seed(0)
config = XLSTMStackConfig(
    embedding_dim=64, num_blocks=4, slstm_at="1:1",  # xLSTM[1:1]: mLSTM, sLSTM, mLSTM, sLSTM
    mlstm=MLSTMLayerConfig(num_heads=4, chunk_size=32), slstm=SLSTMLayerConfig(num_heads=4),
)
print(config.to_yaml())
stack = XLSTMStack(config).eval()
print(f"parameters: {sum(p.numel() for p in stack.parameters()):,}")

x = torch.randn(2, 300, 64)
with torch.no_grad():
    y, state = stack(x)  # chunkwise mLSTM + fused sLSTM over the whole sequence
    stream, ys = None, []
    for t in range(x.shape[1]):  # the same sequence one token at a time, O(1) memory
        y_t, stream = stack.step(x[:, t], stream)
        ys.append(y_t)
err = (torch.stack(ys, 1) - y).abs().max().item()
print(f"full forward vs step-by-step: max |diff| = {err:.2e}")
