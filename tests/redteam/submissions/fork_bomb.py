"""Fork bomb: every process forks forever. Expected: time_limit_exceeded (pids cgroup + case kill)."""
import ctypes
import os


def _rename(name):
    # prctl(PR_SET_NAME): the host-side check looks for leftovers by this name. Writing
    # /proc/self/comm is refused where the sandbox runs under a real unprivileged uid.
    ctypes.CDLL(None, use_errno=True).prctl(15, name, 0, 0, 0)


def matmul_with_multi_head(input, weight, num_heads=1):
    _rename(b"tjrt-forkbomb")
    while True:
        try:
            os.fork()
        except OSError:
            pass
