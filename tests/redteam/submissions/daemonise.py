"""Leaves a double-forked, setsid'd daemon behind that ignores signals, then answers wrong.
Expected: wrong_answer, and no process survives the run."""
import ctypes
import os
import signal
import time

import torch


def _rename(name):
    # prctl(PR_SET_NAME): the host-side check looks for leftovers by this name. Writing
    # /proc/self/comm is refused where the sandbox runs under a real unprivileged uid.
    ctypes.CDLL(None, use_errno=True).prctl(15, name, 0, 0, 0)


def matmul_with_multi_head(input, weight, num_heads=1):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _rename(b"tjrt-daemon")
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            while True:
                time.sleep(0.05)
        os._exit(0)
    b, s, h = input.shape
    return torch.zeros(b, s, num_heads, weight.shape[1], dtype=input.dtype)
