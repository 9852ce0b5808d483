"""Fork bomb: every process forks forever. Expected: time_limit_exceeded (pids cgroup + case kill)."""
import os


def matmul_with_multi_head(input, weight, num_heads=1):
    with open("/proc/self/comm", "w") as f:
        f.write("tjrt-forkbomb")
    while True:
        try:
            os.fork()
        except OSError:
            pass
