"""A slow (but right) solution that patches every clock to look fast on the timed case.
Expected: time_limit_exceeded (the supervisor times it with its own clock)."""
import time

_real_sleep = time.sleep
_fake = [0]


def _frozen_ns():
    _fake[0] += 1000
    return _fake[0]


time.perf_counter_ns = _frozen_ns
time.perf_counter = lambda: _frozen_ns() / 1e9
time.monotonic_ns = _frozen_ns
time.monotonic = lambda: _frozen_ns() / 1e9
time.time = lambda: _frozen_ns() / 1e9


def matmul_with_multi_head(input, weight, num_heads=1):
    _real_sleep(0.1)
    b, s, h = input.shape
    hd = h // num_heads
    return (input.reshape(b, s, num_heads, 1, hd) @ weight.reshape(num_heads, hd, -1)).squeeze(-2)
