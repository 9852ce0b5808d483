"""Tries to kill the supervisor, init and everyone. Expected: runtime_error (PermissionError)."""
import os
import signal


def matmul_with_multi_head(input, weight, num_heads=1):
    outcomes = []
    for target in (os.getppid(), 1, -1, -os.getppid()):
        try:
            os.kill(target, signal.SIGKILL)
            outcomes.append(f"kill({target}) ok")
        except OSError as exc:
            outcomes.append(f"kill({target}) {type(exc).__name__}")
    raise RuntimeError("still here after: " + ", ".join(outcomes))
