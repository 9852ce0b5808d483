"""Tries to open the supervisor's descriptors through /proc. Expected: runtime_error naming none."""
import os


def matmul_with_multi_head(input, weight, num_heads=1):
    opened, listed = [], []
    for pid in (os.getppid(), 1):
        try:
            listed.append(f"{pid}:{sorted(os.listdir(f'/proc/{pid}/fd'))}")
        except OSError as exc:
            listed.append(f"{pid}:{type(exc).__name__}")
        for fd in range(64):
            try:
                os.close(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK))
                opened.append(f"{pid}/{fd}")
            except OSError:
                pass
    raise RuntimeError(f"opened={opened} listed={listed}")
