"""The cases of one run, in a forked child of the supervisor, one after another. Everything here
is untrusted territory: the student's code shares this process, so nothing it reports is
believed without a check outside (values are compared outside the sandbox; timings are taken
by the supervisor)."""

from __future__ import annotations

import gc
import importlib.machinery
import importlib.util
import os
import resource
import socket
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sandbox import protocol
from sandbox import tensors as tensor_frame
from sandbox.harness import CaseContext, RuleViolation, WrongAnswer
from sandbox.harness.loader import CompileFailure, load_submission, student_traceback
from sandbox.harness.rules import RuleTracer
from sandbox.kit import DTYPES, same_bits
from sandbox.protocol import CaseSpec, ChildResult, Ending, Job

_OOM_MARKERS = ("can't allocate memory", "not enough memory", "out of memory", "CUDA out of memory")


_DRIVERS: dict[str, types.ModuleType] = {}


def load_driver(path: str) -> types.ModuleType:
    """Import the problem's driver from its file, once per case child: it is the judge's side
    of every case (the submission's modules are the ones imported afresh for each case), and
    executing it again per case cost milliseconds (a driver's dataclasses build their methods
    with exec). Nothing the student's code does to it can change a verdict that a single case
    could not already: outputs are compared outside the sandbox."""
    module = _DRIVERS.get(path)
    if module is None:
        spec = importlib.util.spec_from_file_location("tj_problem_driver", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _DRIVERS[path] = module
    return module


def _snapshot_inputs(inputs: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for key, value in inputs.items():
        if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
            continue
        tensors[f"in.{key}"] = value.detach().clone()
        grad = value.grad
        meta[key] = {"requires_grad": bool(value.requires_grad), "has_grad": grad is not None}
        if grad is not None:
            tensors[f"ingrad.{key}"] = grad.detach().clone()
    return tensors, meta


def _changed(after: dict[str, torch.Tensor], before: dict[str, torch.Tensor],
             meta: dict[str, Any], mutable: list[str]) -> dict[str, torch.Tensor]:
    """The input snapshots the outside needs for its in-place check: none of an input the case
    lets the submission modify (the check skips it), and, of the rest, only those that differ
    from the snapshot taken before the call; the others are marked `unchanged` (or
    `grad_unchanged`) in their meta. A timed case's inputs are megabytes, and every copy of them
    on the way out (pipe, relay, load) costs milliseconds. Believing the mark is no weaker than
    believing the snapshot: both come from this process, which the submission shares."""
    out: dict[str, torch.Tensor] = {}
    for key, value in after.items():
        kind, name = key.split(".", 1)
        if name in mutable:
            continue
        old = before.get(key)
        if old is not None and same_bits(old, value):
            meta[name]["unchanged" if kind == "in" else "grad_unchanged"] = True
        else:
            out[key] = value
    return out


def _plain_outputs(outputs: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not isinstance(outputs, dict):
        raise WrongAnswer(f"the driver got {type(outputs).__name__}, not a dict of tensors")
    plain: dict[str, torch.Tensor] = {}
    devices: dict[str, str] = {}
    for key, value in outputs.items():
        if type(value) is not torch.Tensor:
            raise WrongAnswer(
                f"output `{key}` is a {type(value).__name__}; return a plain torch.Tensor"
            )
        devices[key] = value.device.type
        plain[f"out.{key}"] = value.detach().to("cpu").contiguous()
    return plain, devices


def run_case(job: Job, root: Path, case: CaseSpec, send: Callable[[bytes | memoryview], None], go_fd: int) -> None:
    """Run one case and send its result; always sends exactly one result message."""
    ending, message = Ending.OK, ""
    graded: dict[str, str] = {}
    notes: list[str] = []
    meta: dict[str, dict[str, bool]] = {}
    devices: dict[str, str] = {}
    blob: list[bytes | memoryview] | None = None
    submission_dir = str(root / job.submission_dir)
    tracer: RuleTracer | None = None
    thunk: Callable[[], Any] | None = None
    try:
        # Bound before the student's code loads, so patching these names later changes nothing.
        sync = torch.cuda.synchronize if case.device == "cuda" else (lambda: None)
        clock = time.perf_counter_ns
        driver = load_driver(str(root / job.driver))
        loaded = load_submission(submission_dir, job.entry_points, job.single_module)
        sub = loaded.namespace
        graded, notes = loaded.graded, loaded.notes
        ctx = CaseContext(
            name=case.name,
            params=dict(case.params),
            dtype=DTYPES[case.dtype],
            device=case.device,
            visibility=case.visibility,
            seed=case.seed,
            mutable_inputs=list(case.mutable_inputs),
        )
        torch.manual_seed(ctx.seed)
        inputs = driver.generate_inputs(ctx, ctx.seed)
        before, before_meta = _snapshot_inputs(inputs)
        tracer = RuleTracer(job.rules.forbidden_calls, job.rules.forbid_autograd)
        with tracer:
            outputs = driver.run(sub, inputs, ctx)
            stack_ok = torch._C._len_torch_function_stack() == tracer.depth
        if tracer.violations:
            raise RuleViolation(tracer.violations[0])
        if not stack_ok or not tracer.intact():
            raise RuleViolation("the submission tampered with the judge's torch function tracing")
        tensors, devices = _plain_outputs(outputs)
        if job.mode == "reference":
            tensors.update(before)
            meta = before_meta
        else:
            after, meta = _snapshot_inputs(inputs)
            tensors.update(_changed(after, before, meta, case.mutable_inputs))
        blob = tensor_frame.parts(tensors)
        if case.timed:
            thunk = driver.timed(sub, inputs, ctx) if hasattr(driver, "timed") else (
                lambda: driver.run(sub, inputs, ctx)
            )
    except BaseException as exc:  # noqa: BLE001 - a crash in student code is a verdict
        ending, message = _classify(exc, tracer, submission_dir)
    ok = ending is Ending.OK
    result = ChildResult(case=case.name, ending=ending, message=message, graded=graded,
                         notes=notes, input_meta=meta if ok else {}, devices=devices if ok else {},
                         tensors=ok)
    send(protocol.encode_json(result.encode()))
    if not ok or blob is None:
        return
    send(protocol.HEADER.pack(protocol.TENSORS, tensor_frame.size(blob)))
    for chunk in blob:  # the header, then each tensor's own memory: no copy of megabytes
        send(chunk)
    if thunk is None or tracer is None:
        return
    try:
        _timing_loop(thunk, sync, clock, send, go_fd, tracer, case.device)
    except BaseException as exc:  # noqa: BLE001 - a second result: the supervisor decides
        ending, message = _classify(exc, tracer, submission_dir)
        late = ChildResult(case=case.name, ending=ending, message=message, graded=graded, notes=notes)
        send(protocol.encode_json(late.encode()))


def _classify(exc: BaseException, tracer: RuleTracer | None, submission_dir: str) -> tuple[Ending, str]:
    """How an exception out of the driver or the submission ends the case, and its message."""
    if isinstance(exc, RuleViolation):
        return Ending.RULE_VIOLATION, str(exc)
    if isinstance(exc, CompileFailure):
        return Ending.COMPILE_ERROR, str(exc)
    if isinstance(exc, WrongAnswer):
        return Ending.WRONG, str(exc)
    if isinstance(exc, MemoryError):
        return Ending.OOM, "MemoryError"
    if tracer is not None and tracer.violations:
        return Ending.RULE_VIOLATION, tracer.violations[0]
    oom = any(m in str(exc) for m in _OOM_MARKERS)
    return (Ending.OOM if oom else Ending.ERROR), student_traceback(exc, submission_dir)


def _timing_loop(
    thunk: Callable[[], Any],
    sync: Callable[[], None],
    clock: Callable[[], int],
    send: Callable[[bytes | memoryview], None],
    go_fd: int,
    tracer: RuleTracer,
    device: str = "cpu",
) -> None:
    """Each iteration starts when the supervisor writes a nonce and ends when we echo it.

    On CUDA the L2 cache is flushed before each iteration, outside the timed window, and the
    iteration is also measured with CUDA events (reported, but the verdict uses the
    supervisor's clock, which this process cannot touch).
    """
    flush: torch.Tensor | None = None
    events: tuple[Any, Any] | None = None
    if device == "cuda":
        flush = torch.empty(64 << 20, dtype=torch.int32, device="cuda")  # 256 MiB > any L2
        events = (
            torch.cuda.Event(enable_timing=True),  # type: ignore[no-untyped-call]
            torch.cuda.Event(enable_timing=True),  # type: ignore[no-untyped-call]
        )
    send(protocol.encode_json({"type": "timing_ready"}))
    with tracer:
        while True:
            if flush is not None:
                flush.zero_()
                sync()
            nonce = protocol.read_exact(go_fd, 8)
            if nonce is None or nonce == b"\0" * 8:
                return
            t0 = clock()
            if events is not None:
                events[0].record()
            thunk()
            if events is not None:
                events[1].record()
            sync()
            t1 = clock()
            if tracer.violations:  # a trap that records rather than raises
                raise RuleViolation(tracer.violations[0])
            self_ns = int(events[0].elapsed_time(events[1]) * 1e6) if events is not None else t1 - t0
            send(protocol.encode_json({"type": "tock", "nonce": nonce.hex(), "self_ns": self_ns}))


def _mapped_bytes() -> int:
    """Virtual address space this process already maps (torch and its libraries).

    RLIMIT_AS counts mappings, not memory: the CPU wheel of torch maps about 1 GiB at import, a
    CUDA build several GiB more (its kernels and libraries), so the case's allowance is added
    on top of the baseline rather than set as an absolute figure.
    """
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def serve_cases(job: Job, root: Path, ctl_fd: int, device: str) -> None:
    """Entry point of the forked case child; never returns.

    The supervisor sends a case's index with three descriptors (the message pipe, the go pipe
    and the case's stdout) over the control socket; the case runs with its prints going to its
    own pipe, then the child forgets it (the submission's modules, torch's global settings) and
    closes the case's pipes, which tells the supervisor it is ready for the next. A closed
    control socket ends the child.
    """
    code = 0
    # What the supervisor imported (torch above all) is never garbage: leave it out of every
    # collection, which then costs what the case itself allocated, not ~0.1 s of torch's heap.
    gc.freeze()
    _compile_once()
    unrecorded_lazy_calls(device)
    try:
        if device != "cuda":
            lim = _mapped_bytes() + (job.limits.address_space_mb << 20)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        ctl = socket.socket(fileno=ctl_fd)
        quiet = os.open(os.devnull, os.O_WRONLY)
        known = set(sys.modules)
        baseline = _Baseline.take()
        while True:
            data, fds, _, _ = socket.recv_fds(ctl, 32, 3)
            if not data or len(fds) != 3:
                break
            msg_fd, go_fd, out_fd = fds
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.close(out_fd)
            os.chdir(job.workdir or str(root))

            def send(data: bytes | memoryview, fd: int = msg_fd) -> None:
                # Flush the student's prints first, so they are captured before the case ends.
                _flush()
                protocol.write_all(fd, data)

            run_case(job, root, job.cases[int(data)], send, go_fd)
            _flush()
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            healthy = _forget_case(known, str(root / job.submission_dir), baseline)
            os.close(go_fd)
            os.close(msg_fd)
            if not healthy:
                break
    except BaseException:  # noqa: BLE001
        code = 3
    finally:
        _flush()
        os._exit(code)


class _NoStack:
    """Stands in for the `traceback` module in torch's device modules (see below)."""

    @staticmethod
    def format_stack() -> list[str]:
        return ["  (not recorded: this sandbox has no such device)\n"]


def unrecorded_lazy_calls(device: str) -> None:
    """torch.manual_seed() queues a seed for each device backend not yet initialised (CUDA, XPU,
    MTIA) together with the caller's whole formatted stack, only to show it should that
    backend's initialisation fail later. In a case child that can never initialise one (no
    such device here, or a run with no CUDA case, whose sandbox gets no GPU), that stack is
    never shown, and formatting it costs 0.1-0.3 ms per seed at the harness's stack depth
    (3x what the same call costs in a shallow script): whole seconds for a problem whose
    modules seed their initialisers, as the course's MLP and transformer problems do. What
    the student's code calls and gets is unchanged."""
    import torch.mtia
    import torch.xpu

    backends = [torch.xpu, torch.mtia] + ([torch.cuda] if device != "cuda" else [])
    for module in backends:
        initialised = getattr(module, "is_initialized", None)
        if callable(initialised) and not initialised() and getattr(module, "traceback", None) is not None:
            module.traceback = _NoStack  # type: ignore[attr-defined]


def _compile_once() -> None:
    """Compile each source file (the driver, the submission's modules) once in this child, not
    once per case: every case still executes a fresh module from it, so no module state carries
    over; only the bytecode, which is immutable, is reused. A few milliseconds per file and case
    (the sandbox writes no .pyc files). Installed before any of the submission's code runs."""
    machinery = importlib.machinery.SourceFileLoader
    real = machinery.source_to_code
    cache: dict[tuple[str, bytes], types.CodeType] = {}

    def source_to_code(self: Any, data: Any, path: Any, *, _optimize: int = -1) -> types.CodeType:
        key = (str(path), bytes(data))
        found = cache.get(key)
        if found is None:
            found = cache[key] = real(self, data, path, _optimize=_optimize)
        return found

    machinery.source_to_code = source_to_code  # type: ignore[method-assign]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


class _Baseline:
    """Torch's process-wide settings as the judge leaves them, restored after every case."""

    def __init__(self, dtype: torch.dtype, threads: int, cuda_bytes: int) -> None:
        self.dtype, self.threads, self.cuda_bytes = dtype, threads, cuda_bytes

    @classmethod
    def take(cls) -> _Baseline:
        return cls(torch.get_default_dtype(), torch.get_num_threads(), 0)

    def restore(self, device: str) -> bool:
        """Put the settings back; False when the process should not take another case (device
        memory the finished case still holds)."""
        torch.set_default_dtype(self.dtype)
        torch.set_grad_enabled(True)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if device == "cuda" and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            return bool(torch.cuda.memory_allocated() <= self.cuda_bytes)
        return True


def _forget_case(known: set[str], submission_dir: str, baseline: _Baseline) -> bool:
    """Drop what the finished case left: the modules loaded from the submission (so the next
    case imports them afresh: no module state carries over), garbage, torch's global settings.
    False when this process should not run another case."""
    prefix = submission_dir.rstrip(os.sep) + os.sep
    for name in sys.modules.keys() - known:  # a set difference in C: 1600 names a case
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) or ""
        paths = list(getattr(module, "__path__", None) or [])
        if where.startswith(prefix) or any(str(p).startswith(prefix) for p in paths) or (
                not where and not paths and getattr(module, "__spec__", None) is None):
            del sys.modules[name]
    known.update(sys.modules)  # what is left is not the submission's: not looked at again
    importlib.invalidate_caches()
    gc.collect()
    # What survived is the judge's or torch's (modules imported lazily during the case: a first
    # autograd.grad, torch._dynamo): out of later collections too, or each case's collection
    # scans them again (27 ms a case in importance-matmul, its own compute 3 ms).
    gc.freeze()
    device = "cuda" if torch.cuda.is_initialized() else "cpu"  # type: ignore[no-untyped-call]
    return baseline.restore(device)


__all__ = ["Path", "load_submission", "serve_cases", "student_traceback"]
