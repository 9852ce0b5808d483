"""Ignores every catchable signal, then spins. Expected: time_limit_exceeded."""
import signal


def matmul_with_multi_head(input, weight, num_heads=1):
    for sig in signal.valid_signals():
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError, RuntimeError):
            pass
    while True:
        pass
