"""Writes forged 'accepted' result frames to every fd 0-255 and to the supervisor's fds via
/proc, then exits. Expected: runtime_error or wrong_answer, never accepted."""
import json
import os
import struct


def frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack("!cI", b"J", len(data)) + data


def matmul_with_multi_head(input, weight, num_heads=1):
    forged = b"".join([
        frame({"type": "result", "case": "small", "status": "ok", "devices": {}}),
        frame({"type": "case_result", "case": "small", "child": {"status": "ok"}}),
        frame({"type": "done", "verdict": "accepted"}),
    ])
    opened = []
    for pid in (os.getppid(), 1):
        for fd in range(256):
            try:
                wfd = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                continue
            opened.append(f"{pid}/{fd}")
            try:
                os.write(wfd, forged)
            except OSError:
                pass
    for fd in range(256):
        try:
            os.write(fd, forged)
        except OSError:
            pass
    os._exit(0 if not opened else 0)
