"""Looks for secrets and the network: environment, $HOME, the judge's files, other processes'
environments and command lines, and a TCP listener on the host's loopback. Reports all it finds
in its error. Expected: runtime_error, and none of the canaries in any output."""
import glob
import os
import socket

PORT = {{PORT}}
CANARY_FILE = "{{CANARY_FILE}}"


def _read(path, limit=4096):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError as exc:
        return f"<{type(exc).__name__}>"


def matmul_with_multi_head(input, weight, num_heads=1):
    found = {"env": dict(os.environ)}
    for path in [CANARY_FILE, "/root", "/etc/shadow", "/work/main/var/secret_key",
                 *glob.glob("/home/*/*"), *glob.glob("/root/*"), *glob.glob("/work/*")]:
        found[path] = _read(path)
    for proc in glob.glob("/proc/[0-9]*"):
        found[proc] = _read(proc + "/environ", 2048) + " | " + _read(proc + "/cmdline", 512)
    net = []
    for family, addr in ((socket.AF_INET, ("127.0.0.1", PORT)), (socket.AF_INET6, ("::1", PORT))):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(addr)
            net.append(f"connected {addr}")
        except OSError as exc:
            net.append(f"{addr}: {exc}")
    found["net"] = net
    print(found)
    raise RuntimeError(repr(found)[:3500])
