"""The harness protocol: what goes into a run and what comes out, typed and checked on read.

Inside and outside share these types (sandbox imports nothing of ours, and the sandbox image has
no pydantic, so they are dataclasses with explicit decoders). Every message is decoded once,
where it is read: the supervisor decodes the child's (untrusted) messages, the backends decode
the supervisor's. A malformed message raises ProtocolError, never anything else.

Framing (sandbox/framing.py, re-exported here): b"J" frames carry one JSON object; a b"T" frame
carries safetensors bytes and belongs to the result that announced it (`tensors: true`), which
it immediately follows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from sandbox.framing import (
    HEADER,
    JSON,
    MAX_JSON_BYTES,
    TENSORS,
    FrameTooLarge,
    ProtocolError,
    encode,
    encode_json,
    read_exact,
    read_frame,
    write_all,
)

__all__ = [
    "CHILD_ENDINGS", "DRIVER_FILE", "HEADER", "JOB_FILE", "JSON", "MAX_JSON_BYTES", "SUBMISSION_DIR",
    "TENSORS", "CaseLimits", "CaseResult", "CaseSpec", "ChildResult", "Ending", "Event",
    "FrameTooLarge", "Job", "ProtocolError", "RulesSpec", "TimingSample", "TimingSpec",
    "decode_child_message", "decode_json", "decode_supervisor_message", "encode", "encode_json",
    "read_exact", "read_frame", "write_all",
]

# The job folder's layout, relative to the folder holding the job file (the backend's choice
# of where that folder lives, and where it appears inside the sandbox, is its own).
JOB_FILE = "job.json"
DRIVER_FILE = "driver.py"
SUBMISSION_DIR = "submission"


class Ending(str, Enum):
    """How a case ended: the one closed vocabulary of child, supervisor and backend."""

    # Reported by the child (the case ran to a result of its own).
    OK = "ok"  # outputs came back (and, for a timed case, a timing)
    WRONG = "wrong"  # the driver's structure check refused the outputs
    ERROR = "error"  # the submission raised
    OOM = "oom"  # MemoryError or an allocator's out-of-memory
    COMPILE_ERROR = "compile_error"  # the submission could not be loaded
    RULE_VIOLATION = "rule_violation"  # a forbidden call, also inside the timed loop
    # Decided by the supervisor (the child gave no usable result).
    CASE_TIMEOUT = "case_timeout"  # ran past limits.case_time_s
    OUTPUT_FLOOD = "output_flood"  # printed past limits.stdout_kill_bytes
    CPU_LIMIT = "cpu_limit"  # killed by SIGXCPU
    SIGNALED = "signaled"  # killed by another signal
    EXITED = "exited"  # exited without a result
    PROTOCOL_ERROR = "protocol_error"  # a malformed or missing message
    # Decided by the backend (the run as a whole).
    MEMORY_KILLED = "memory_killed"  # SIGKILL while the run's memory limit fired
    RUN_WALL = "run_wall"  # the run hit its wall-clock limit before this case finished
    RUN_OUTPUT = "run_output"  # the result channel went over its byte budget
    RUN_OOM = "run_oom"  # the memory limit killed the run before this case finished
    RUN_LOST = "run_lost"  # the sandbox stopped before this case finished


CHILD_ENDINGS = frozenset(
    {Ending.OK, Ending.WRONG, Ending.ERROR, Ending.OOM, Ending.COMPILE_ERROR, Ending.RULE_VIOLATION}
)
MODES = ("submission", "reference")


# -- decoding helpers: each names the field it refuses ---------------------------------------


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    # bool is an int subclass: never accept one where a number is meant.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ProtocolError(f"{where}: `{key}` is missing or not {_names(kind)}")
    return value


def _opt(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    return None if obj.get(key) is None else _get(obj, key, kind, where)


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))


def _strs(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = _get(obj, key, list, where)
    if not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{where}: `{key}` is not a list of strings")
    return list(value)


def _ints(obj: dict[str, Any], key: str, where: str) -> list[int]:
    value = _get(obj, key, list, where)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ProtocolError(f"{where}: `{key}` is not a list of integers")
    return list(value)


def _str_map(obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = _get(obj, key, dict, where)
    if not all(isinstance(v, str) for v in value.values()):
        raise ProtocolError(f"{where}: `{key}` is not a map of strings")
    return {str(k): v for k, v in value.items()}


def _ending(obj: dict[str, Any], where: str, allowed: frozenset[Ending] | None = None) -> Ending:
    raw = _get(obj, "ending", str, where)
    try:
        ending = Ending(raw)
    except ValueError:
        raise ProtocolError(f"{where}: unknown ending {raw[:40]!r}") from None
    if allowed is not None and ending not in allowed:
        raise ProtocolError(f"{where}: ending {raw!r} is not one this side reports")
    return ending


def _relative(path: str, where: str) -> str:
    if path.startswith("/") or ".." in path.split("/"):
        raise ProtocolError(f"{where}: {path!r} is not a path inside the job folder")
    return path


def decode_json(payload: bytes | bytearray) -> dict[str, Any]:
    """One JSON frame's object; ProtocolError for anything else."""
    try:
        obj = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and bad UTF-8 alike
        raise ProtocolError(f"a message is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a message is not a JSON object")
    return obj


def _wire(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(asdict(obj)))
    return out


# -- the job: what goes in --------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    """One case as the harness sees it (no tolerances, no expected values)."""

    name: str
    params: dict[str, Any]
    dtype: str
    device: str  # resolved: "cpu" or "cuda"
    visibility: str
    seed: int
    timed: bool
    mutable_inputs: list[str]

    @staticmethod
    def decode(obj: Any) -> CaseSpec:
        """Check one case of a job."""
        where = "case"
        if not isinstance(obj, dict):
            raise ProtocolError("a case is not an object")
        device = _get(obj, "device", str, where)
        if device not in ("cpu", "cuda"):
            raise ProtocolError(f"case: device {device!r} is not cpu or cuda")
        return CaseSpec(
            name=_get(obj, "name", str, where), params=dict(_get(obj, "params", dict, where)),
            dtype=_get(obj, "dtype", str, where), device=device,
            visibility=_get(obj, "visibility", str, where), seed=_get(obj, "seed", int, where),
            timed=_get(obj, "timed", bool, where), mutable_inputs=_strs(obj, "mutable_inputs", where),
        )


@dataclass(frozen=True)
class CaseLimits:
    """Per-case limits the supervisor enforces. No defaults here: core/problem.py owns them."""

    output_bytes: int  # the child's output tensors
    stdout_bytes: int  # student output kept for the report
    stdout_kill_bytes: int  # student output past which the case is stopped
    case_time_s: float
    address_space_mb: int  # added above what the harness already maps (CPU cases)


@dataclass(frozen=True)
class TimingSpec:
    """How timed cases are measured."""

    warmup: int
    repeats: int


@dataclass(frozen=True)
class RulesSpec:
    """What the runtime tracer refuses."""

    forbid_autograd: bool
    forbidden_calls: list[str]


@dataclass(frozen=True)
class Job:
    """One harness run. Paths are relative to the job folder; the backend sets the last three."""

    mode: str  # "submission" | "reference"
    entry_points: list[str]
    single_module: str | None
    cases: list[CaseSpec]
    timing: TimingSpec
    rules: RulesSpec
    limits: CaseLimits
    driver: str = DRIVER_FILE
    submission_dir: str = SUBMISSION_DIR
    workdir: str | None = None  # the child's cwd; None: the job folder itself
    isolated: bool = False  # in the sandbox's own pid namespace: strays may be killed
    install_seccomp: bool = False  # the supervisor installs the sandbox's syscall filter itself

    def encode(self) -> bytes:
        """The job file's bytes."""
        return json.dumps(_wire(self), separators=(",", ":")).encode()

    @staticmethod
    def decode(payload: bytes) -> Job:
        """Read and check a job file."""
        obj, where = decode_json(payload), "job"
        mode = _get(obj, "mode", str, where)
        if mode not in MODES:
            raise ProtocolError(f"job: mode {mode!r} is not one of {MODES}")
        limits, timing, rules = (_get(obj, k, dict, where) for k in ("limits", "timing", "rules"))
        return Job(
            mode=mode, entry_points=_strs(obj, "entry_points", where),
            single_module=_opt(obj, "single_module", str, where),
            cases=[CaseSpec.decode(c) for c in _get(obj, "cases", list, where)],
            timing=TimingSpec(warmup=_get(timing, "warmup", int, "job.timing"),
                              repeats=_get(timing, "repeats", int, "job.timing")),
            rules=RulesSpec(forbid_autograd=_get(rules, "forbid_autograd", bool, "job.rules"),
                            forbidden_calls=_strs(rules, "forbidden_calls", "job.rules")),
            limits=CaseLimits(
                output_bytes=_get(limits, "output_bytes", int, "job.limits"),
                stdout_bytes=_get(limits, "stdout_bytes", int, "job.limits"),
                stdout_kill_bytes=_get(limits, "stdout_kill_bytes", int, "job.limits"),
                case_time_s=float(_get(limits, "case_time_s", (int, float), "job.limits")),
                address_space_mb=_get(limits, "address_space_mb", int, "job.limits"),
            ),
            driver=_relative(_get(obj, "driver", str, where), where),
            submission_dir=_relative(_get(obj, "submission_dir", str, where), where),
            workdir=_opt(obj, "workdir", str, where),
            isolated=_get(obj, "isolated", bool, where),
            install_seccomp=_get(obj, "install_seccomp", bool, where),
        )


# -- child -> supervisor ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    """The child's one result for its case. Untrusted: nothing here is believed unchecked."""

    case: str
    ending: Ending  # one of CHILD_ENDINGS
    message: str = ""
    graded: dict[str, str] = field(default_factory=dict)  # entry symbol -> "src/f.py:f"
    notes: list[str] = field(default_factory=list)  # how the loader found the submission
    input_meta: dict[str, dict[str, bool]] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)  # output name -> device type
    tensors: bool = False  # a tensor frame follows

    def encode(self) -> dict[str, Any]:
        """The wire object."""
        return {"type": "result", **_wire(self)}

    @staticmethod
    def decode(obj: dict[str, Any]) -> ChildResult:
        """Check a child's result message."""
        where = "the child's result"
        ending = _ending(obj, where, CHILD_ENDINGS)
        meta = _get(obj, "input_meta", dict, where)
        for name, flags in meta.items():
            if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
                raise ProtocolError(f"{where}: input_meta of `{str(name)[:40]}` is malformed")
        tensors = _get(obj, "tensors", bool, where)
        if tensors != (ending is Ending.OK):
            raise ProtocolError(f"{where}: tensors come with an ok result, and only with one")
        return ChildResult(
            case=_get(obj, "case", str, where), ending=ending,
            message=_get(obj, "message", str, where),
            graded={k: v[:300] for k, v in list(_str_map(obj, "graded", where).items())[:20]},
            notes=[n[:1000] for n in _strs(obj, "notes", where)[:10]],
            input_meta={str(k): dict(v) for k, v in meta.items()},
            devices=_str_map(obj, "devices", where), tensors=tensors,
        )


def decode_child_message(payload: bytes | bytearray) -> ChildResult | str | tuple[str, int]:
    """A child's message: its result, "timing_ready", or a tock as (nonce hex, self-timed ns)."""
    obj = decode_json(payload)
    kind = obj.get("type")
    if kind == "result":
        return ChildResult.decode(obj)
    if kind == "timing_ready":
        return "timing_ready"
    if kind == "tock":
        return _get(obj, "nonce", str, "tock"), _get(obj, "self_ns", int, "tock")
    raise ProtocolError(f"unknown child message type {str(kind)[:40]!r}")


# -- supervisor -> outside --------------------------------------------------------------------


@dataclass(frozen=True)
class TimingSample:
    """Per-repeat times of a timed case: the supervisor's clock, and the child's own claim.

    `cpu_ns` is the CPU time the case child's process (all its threads) spent in each repeat,
    read by the supervisor from the kernel's clock for that process; empty where it could not
    be read. Other load on the machine stretches wall time, hardly CPU time.
    """

    trusted_ns: list[int]
    self_ns: list[int]
    cpu_ns: list[int] = field(default_factory=list)


@dataclass
class CaseResult:
    """How one case ended, as the supervisor saw it, with the outputs that belong to it."""

    case: str
    ending: Ending
    message: str = ""  # the child's message, or what went wrong in the protocol
    child: ChildResult | None = None
    timing: TimingSample | None = None
    signal: int | None = None
    exit_code: int | None = None
    stdout: str = ""
    stdout_total_bytes: int = 0
    strays_killed: int | None = None
    tensors: bytes | bytearray | None = None  # travels as its own frame, right after this one

    def encode(self) -> tuple[bytes, bytes | None]:
        """The JSON frame, and the tensor frame (if any) that must follow it."""
        head, *tensors = self.frames()
        return bytes(head), b"".join(tensors) if tensors else None

    def frames(self) -> list[bytes | bytearray]:
        """encode()'s frames as parts to write in order: the tensors are not copied into a frame."""
        head = encode_json({"type": "case_result", **_wire_case(self)})
        if self.tensors is None:
            return [head]
        return [head, HEADER.pack(TENSORS, len(self.tensors)), self.tensors]

    @staticmethod
    def decode(obj: dict[str, Any]) -> tuple[CaseResult, bool]:
        """A case result and whether a tensor frame is announced to follow."""
        where = "case_result"
        child = obj.get("child")
        timing = _opt(obj, "timing", dict, where)
        result = CaseResult(
            case=_get(obj, "case", str, where), ending=_ending(obj, where),
            message=_get(obj, "message", str, where),
            child=None if child is None else ChildResult.decode(_get(obj, "child", dict, where)),
            timing=None if timing is None else TimingSample(
                trusted_ns=_ints(timing, "trusted_ns", "timing"), self_ns=_ints(timing, "self_ns", "timing"),
                cpu_ns=_ints(timing, "cpu_ns", "timing") if "cpu_ns" in timing else []),
            signal=_opt(obj, "signal", int, where), exit_code=_opt(obj, "exit_code", int, where),
            stdout=_get(obj, "stdout", str, where),
            stdout_total_bytes=_get(obj, "stdout_total_bytes", int, where),
            strays_killed=_opt(obj, "strays_killed", int, where),
        )
        announced = _get(obj, "tensors", bool, where)
        if announced != (result.ending is Ending.OK):
            raise ProtocolError(f"{where}: tensors come with an ok result, and only with one")
        return result, announced


def _wire_case(result: CaseResult) -> dict[str, Any]:
    return {
        "case": result.case, "ending": result.ending.value, "message": result.message,
        "child": None if result.child is None else _wire(result.child),
        "timing": None if result.timing is None else _wire(result.timing),
        "signal": result.signal, "exit_code": result.exit_code, "stdout": result.stdout,
        "stdout_total_bytes": result.stdout_total_bytes, "strays_killed": result.strays_killed,
        "tensors": result.tensors is not None,
    }


@dataclass(frozen=True)
class Event:
    """A supervisor message other than a case result: hello, case_start, timing_mark, done."""

    kind: str
    case: str = ""
    mark: str = ""  # timing_mark: "start" | "end"


def decode_supervisor_message(payload: bytes | bytearray) -> Event | tuple[CaseResult, bool]:
    """One supervisor message: an Event, or a case result with its tensor announcement."""
    obj = decode_json(payload)
    kind = obj.get("type")
    if kind == "case_result":
        return CaseResult.decode(obj)
    if kind in ("hello", "done"):
        return Event(kind)
    if kind == "case_start":
        return Event(kind, case=_get(obj, "case", str, kind))
    if kind == "timing_mark":
        mark = _get(obj, "mark", str, kind)
        if mark not in ("start", "end"):
            raise ProtocolError(f"timing_mark: unknown mark {mark[:20]!r}")
        return Event(kind, case=_get(obj, "case", str, kind), mark=mark)
    raise ProtocolError(f"unknown supervisor message type {str(kind)[:40]!r}")
