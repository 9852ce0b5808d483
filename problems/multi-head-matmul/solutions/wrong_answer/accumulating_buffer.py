import torch

_buffers = {}


# Bug: reuses a preallocated output buffer between calls and accumulates into it with +=
# without zeroing it first, so the second call returns twice the right answer.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[1]
    d = h // num_heads
    key = (b, s, num_heads, e, input.dtype, input.device)
    if key not in _buffers:
        _buffers[key] = torch.zeros(b, s, num_heads, e, dtype=input.dtype, device=input.device)
    out = _buffers[key]
    for i in range(num_heads):
        out[:, :, i] += input[..., i * d:(i + 1) * d] @ weight[i * d:(i + 1) * d]
    return out
