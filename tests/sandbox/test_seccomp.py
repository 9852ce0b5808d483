"""The seccomp programs: structure, and behaviour when installed in a forked process."""

from __future__ import annotations

import os
import platform
import struct

import pytest

from sandbox import seccomp

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"),
                                reason="no syscall table for this architecture")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_programs_are_well_formed_for_each_arch(machine: str) -> None:
    for program in (seccomp.sandbox_filter(machine), seccomp.child_filter(42, machine)):
        assert len(program) % 8 == 0 and 0 < len(program) // 8 < 4096
        code, _, _, k = struct.unpack_from("=HBBI", program, 0)
        assert (code, k) == (0x20, 4)  # first: load the architecture
        last_code = struct.unpack_from("=HBBI", program, len(program) - 8)[0]
        assert last_code == 0x06  # every path ends in a return


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(seccomp.SeccompUnsupported):
        seccomp.sandbox_filter("sparc")


def test_installed_child_filter_blocks_what_it_should() -> None:
    """Fork, install, report each probe's errno through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        code = 0
        try:
            import ctypes
            import socket

            seccomp.install(seccomp.child_filter(os.getppid()))
            out = {}
            for name, family in (("inet", socket.AF_INET), ("inet6", socket.AF_INET6),
                                 ("netlink", socket.AF_NETLINK), ("unix", socket.AF_UNIX)):
                try:
                    socket.socket(family, socket.SOCK_STREAM if family != socket.AF_NETLINK
                                  else socket.SOCK_RAW).close()
                    out[name] = 0
                except OSError as exc:
                    out[name] = exc.errno
            for name, target in (("kill_parent", os.getppid()), ("kill_init", 1),
                                 ("kill_all", -1), ("kill_self", os.getpid())):
                try:
                    os.kill(target, 0)
                    out[name] = 0
                except OSError as exc:
                    out[name] = exc.errno
            libc = ctypes.CDLL(None, use_errno=True)
            out["ptrace"] = ctypes.get_errno() if libc.ptrace(16, os.getppid(), 0, 0) else 0
            out["unshare"] = ctypes.get_errno() if libc.unshare(0x10000000) else 0
            child = os.fork()  # plain fork still works
            if child == 0:
                os._exit(7)
            out["fork"] = os.waitpid(child, 0)[1] >> 8
            os.write(w, repr(out).encode())
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    assert os.waitpid(pid, 0)[1] == 0
    out = eval(data.decode())  # our own child's repr of a dict of ints
    assert out["inet"] == out["inet6"] == out["netlink"] == 97  # EAFNOSUPPORT
    assert out["unix"] == 0
    assert out["kill_parent"] == out["kill_init"] == out["kill_all"] == 1  # EPERM
    assert out["kill_self"] == 0
    assert out["ptrace"] == 1 and out["unshare"] == 1
    assert out["fork"] == 7


def test_memfd_holds_the_program() -> None:
    program = seccomp.sandbox_filter()
    fd = seccomp.memfd_with(program)
    try:
        assert os.read(fd, len(program) + 1) == program
    finally:
        os.close(fd)
