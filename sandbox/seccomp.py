"""A seccomp-BPF denylist, generated here in pure Python (no libseccomp needed).

Two programs:

- `sandbox_filter()` is installed by bubblewrap (`--seccomp FD`) on everything in the sandbox:
  no ptrace, no sockets but AF_UNIX, no namespaces or mounts, no keyrings, bpf, perf, kexec,
  module loading, userfaultfd, io_uring, cross-process memory access, personality, clock
  setting; foreign ABIs (x32, i386 via int 0x80) are refused outright.
- `child_filter(supervisor_pid)` is stacked on top by the supervisor in each forked case child
  before the student's code loads: signals may not reach the supervisor or the sandbox's init.

A program is a list of classic BPF instructions over `struct seccomp_data`
(nr at 0, arch at 4, args[i] at 16 + 8*i; we compare the low 32 bits, which on a
little-endian machine are at that offset).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

AF_UNIX = 1
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
    | 0x40000000 | 0x00000080

_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16

# Syscall numbers per architecture: the denylist plus the ones checked on their arguments.
_X86_64 = {
    "ptrace": 101, "mount": 165, "umount2": 166, "unshare": 272, "setns": 308, "pivot_root": 155,
    "chroot": 161, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
    "perf_event_open": 298, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "create_module": 174, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "process_vm_readv": 310, "process_vm_writev": 311, "personality": 135, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "acct": 163, "quotactl": 179, "syslog": 103, "lookup_dcookie": 212,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "clock_settime": 227, "settimeofday": 164, "adjtimex": 159, "clock_adjtime": 305,
    "vhangup": 153, "uselib": 134, "nfsservctl": 180, "kcmp": 312, "pidfd_getfd": 438,
    "socket": 41, "socketpair": 53, "clone": 56, "clone3": 435,
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
    "pidfd_send_signal": 424, "pidfd_open": 434,
}
_AARCH64 = {
    "ptrace": 117, "mount": 40, "umount2": 39, "unshare": 97, "setns": 268, "pivot_root": 41,
    "chroot": 51, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
    "perf_event_open": 241, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
    "finit_module": 273, "delete_module": 106, "userfaultfd": 282,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "process_vm_readv": 270, "process_vm_writev": 271, "personality": 92, "swapon": 224,
    "swapoff": 225, "reboot": 142, "sethostname": 161, "setdomainname": 162, "acct": 89,
    "quotactl": 60, "syslog": 116, "open_by_handle_at": 265, "name_to_handle_at": 264,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "clock_settime": 112, "settimeofday": 170,
    "adjtimex": 171, "clock_adjtime": 266, "vhangup": 58, "kcmp": 272, "pidfd_getfd": 438,
    "socket": 198, "socketpair": 199, "clone": 220, "clone3": 435,
    "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
    "pidfd_send_signal": 424, "pidfd_open": 434,
}
ARCHES = {"x86_64": (AUDIT_ARCH_X86_64, _X86_64), "aarch64": (AUDIT_ARCH_AARCH64, _AARCH64)}

DENIED = (
    "ptrace", "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "keyctl", "add_key",
    "request_key", "bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "create_module", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "process_vm_readv", "process_vm_writev", "personality",
    "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "iopl", "ioperm", "acct",
    "quotactl", "syslog", "lookup_dcookie", "open_by_handle_at", "name_to_handle_at", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "clock_settime",
    "settimeofday", "adjtimex", "clock_adjtime", "vhangup", "uselib", "nfsservctl", "kcmp",
    "pidfd_getfd",
)
# Extra for the case child: signalling is only checked on its target, these are simply refused.
CHILD_DENIED = ("tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal", "pidfd_open")


class SeccompUnsupported(RuntimeError):
    """No syscall table for this machine's architecture."""


class _Asm:
    """A tiny assembler: forward jumps to named labels, resolved to 8-bit offsets."""

    def __init__(self) -> None:
        self.ins: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.ins.append((code, jt, jf, k & 0xFFFFFFFF))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ins)

    def ret(self, value: int) -> None:
        self.op(_RET_K, value)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.ins):
            offs = []
            for target in (jt, jf):
                off = target if isinstance(target, int) else self.labels[target] - i - 1
                if not 0 <= off <= 255:
                    raise ValueError(f"BPF jump out of range at {i}: {target}")
                offs.append(off)
            out += struct.pack("=HBBI", code, offs[0], offs[1], k)
        return bytes(out)


def _arch(machine: str | None) -> tuple[int, dict[str, int], str]:
    name = machine or platform.machine()
    name = {"amd64": "x86_64", "arm64": "aarch64"}.get(name.lower(), name.lower())
    if name not in ARCHES:
        raise SeccompUnsupported(f"no seccomp syscall table for {name}")
    audit, table = ARCHES[name]
    return audit, table, name


def _program(machine: str | None, supervisor_pid: int | None) -> bytes:
    audit, table, name = _arch(machine)
    a = _Asm()
    a.op(_LD_W_ABS, _OFF_ARCH)
    a.op(_JEQ_K, audit, 0, "kill")
    a.op(_LD_W_ABS, _OFF_NR)
    if name == "x86_64":
        a.op(_JGE_K, X32_SYSCALL_BIT, "kill", 0)
    denied = [n for n in DENIED if n in table]
    if supervisor_pid is not None:
        denied += list(CHILD_DENIED)
    for syscall in denied:
        a.op(_JEQ_K, table[syscall], "eperm", 0)
    a.op(_JEQ_K, table["clone3"], "enosys", 0)  # libc falls back to clone(), checked below
    a.op(_JEQ_K, table["socket"], "domain", 0)
    a.op(_JEQ_K, table["socketpair"], "domain", 0)
    a.op(_JEQ_K, table["clone"], "clone", 0)
    if supervisor_pid is not None:
        a.op(_JEQ_K, table["kill"], "kill_target", 0)
        a.op(_JEQ_K, table["tgkill"], "tgkill_target", 0)
    a.ret(RET_ALLOW)
    a.label("eperm")
    a.ret(RET_ERRNO | errno.EPERM)
    a.label("enosys")
    a.ret(RET_ERRNO | errno.ENOSYS)
    a.label("kill")
    a.ret(RET_KILL_PROCESS)
    a.label("domain")
    a.op(_LD_W_ABS, _OFF_ARG0)
    a.op(_JEQ_K, AF_UNIX, 0, 1)
    a.ret(RET_ALLOW)
    a.ret(RET_ERRNO | errno.EAFNOSUPPORT)
    a.label("clone")
    a.op(_LD_W_ABS, _OFF_ARG0)
    a.op(_JSET_K, CLONE_NS_FLAGS, 0, 1)
    a.ret(RET_ERRNO | errno.EPERM)
    a.ret(RET_ALLOW)
    if supervisor_pid is not None:
        # kill(pid): not the supervisor, not init, not everyone (-1), not the supervisor's group.
        protected = [supervisor_pid, 1, -1, -supervisor_pid, -1 * 1]
        a.label("kill_target")
        a.op(_LD_W_ABS, _OFF_ARG0)
        for pid in dict.fromkeys(p & 0xFFFFFFFF for p in protected):
            a.op(_JEQ_K, pid, "kill_eperm", 0)
        a.ret(RET_ALLOW)
        a.label("kill_eperm")
        a.ret(RET_ERRNO | errno.EPERM)
        a.label("tgkill_target")
        a.op(_LD_W_ABS, _OFF_ARG0)
        a.op(_JEQ_K, supervisor_pid, "tgkill_eperm", 0)
        a.op(_JEQ_K, 1, "tgkill_eperm", 0)
        a.ret(RET_ALLOW)
        a.label("tgkill_eperm")
        a.ret(RET_ERRNO | errno.EPERM)
    return a.assemble()


def sandbox_filter(machine: str | None = None) -> bytes:
    """The filter bubblewrap installs on the whole sandbox (raw sock_filter array)."""
    return _program(machine, None)


def child_filter(supervisor_pid: int, machine: str | None = None) -> bytes:
    """The sandbox filter plus: no signals to the supervisor, its group or init."""
    return _program(machine, supervisor_pid)


def memfd_with(program: bytes) -> int:
    """A file descriptor holding the program, positioned at 0, for `bwrap --seccomp FD`."""
    fd = os.memfd_create("tj-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def install(program: bytes) -> None:
    """Install a filter on the calling thread (and what it forks); OSError if refused."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")
