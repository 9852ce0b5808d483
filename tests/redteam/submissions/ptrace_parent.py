"""Tries to ptrace the supervisor. Expected: runtime_error carrying the refusal (errno 1, EPERM)."""
import ctypes
import os

PTRACE_ATTACH = 16


def matmul_with_multi_head(input, weight, num_heads=1):
    libc = ctypes.CDLL(None, use_errno=True)
    results = []
    for pid in (os.getppid(), 1):
        rc = libc.ptrace(PTRACE_ATTACH, pid, None, None)
        results.append(f"ptrace({pid})={rc} errno={ctypes.get_errno()}")
    raise RuntimeError("; ".join(results))
