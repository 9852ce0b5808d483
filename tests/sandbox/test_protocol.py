"""The typed harness protocol: round trips, and every malformed message refused with
ProtocolError (the child is untrusted: nothing it sends may crash the judge)."""

from __future__ import annotations

import json
import os
import threading

import pytest

from sandbox import protocol
from sandbox.backends.base import ResultReader
from sandbox.protocol import (
    CaseResult,
    CaseSpec,
    ChildResult,
    Ending,
    Job,
    ProtocolError,
    TimingSample,
    decode_child_message,
)
from tests.sandbox.jobs import empty_job

CASE = CaseSpec(name="small", params={"n": 3}, dtype="float32", device="cpu", visibility="public",
                seed=1, timed=True, mutable_inputs=[])


def test_job_round_trip_keeps_every_field() -> None:
    job = empty_job([CASE])
    assert Job.decode(job.encode()) == job


def _without(obj: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in obj.items() if k != key}


@pytest.mark.parametrize("mutate", [
    lambda j: _without(j, "limits"),
    lambda j: {**j, "limits": _without(j["limits"], "case_time_s")},  # no defaults inside
    lambda j: {**j, "mode": "trusted"},
    lambda j: {**j, "driver": "/etc/passwd"},
    lambda j: {**j, "submission_dir": "../elsewhere"},
    lambda j: {**j, "isolated": 1},
    lambda j: {**j, "cases": [{**j["cases"][0], "device": "any"}]},
    lambda j: {**j, "cases": [{**j["cases"][0], "seed": True}]},
])
def test_job_decode_refuses_what_is_not_a_full_job(mutate) -> None:  # type: ignore[no-untyped-def]
    obj = json.loads(empty_job([CASE]).encode())
    with pytest.raises(ProtocolError):
        Job.decode(json.dumps(mutate(obj)).encode())


def test_child_result_round_trip() -> None:
    result = ChildResult(case="small", ending=Ending.OK, graded={"f": "src/f.py:f"}, notes=["n"],
                         input_meta={"x": {"requires_grad": False, "has_grad": False}},
                         devices={"y": "cpu"}, tensors=True)
    assert decode_child_message(json.dumps(result.encode()).encode()) == result


GOOD = ChildResult(case="small", ending=Ending.ERROR, message="boom").encode()


@pytest.mark.parametrize("payload", [
    b"not json",
    b"\xff\xfe",
    b"[1, 2]",
    json.dumps({"type": "result", "case": "small", "status": "ok", "devices": {}}).encode(),  # old shape
    json.dumps({**GOOD, "ending": "accepted"}).encode(),
    json.dumps({**GOOD, "ending": "case_timeout"}).encode(),  # the supervisor's to say, not the child's
    json.dumps({**GOOD, "ending": "ok"}).encode(),  # ok without its tensors
    json.dumps({**GOOD, "tensors": True}).encode(),  # tensors with an error
    json.dumps({**GOOD, "message": 5}).encode(),
    json.dumps({**GOOD, "graded": {"f": 1}}).encode(),
    json.dumps({**GOOD, "input_meta": {"x": {"requires_grad": "no"}}}).encode(),
    json.dumps({"type": "tock", "nonce": "00", "self_ns": "fast"}).encode(),
    json.dumps({"type": "verdict", "verdict": "accepted"}).encode(),
])
def test_malformed_child_messages_are_protocol_errors(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_child_message(payload)


def _read(frames: bytes, budget: int = 1 << 20) -> ResultReader:
    r, w = os.pipe()
    reader = ResultReader(r, budget, None)
    writer = threading.Thread(target=lambda: (protocol.write_all(w, frames), os.close(w)))
    writer.start()
    reader.start()
    reader.join(timeout=10)
    writer.join(timeout=10)
    return reader


def _ok_result(tensors: bytes = b"blob") -> CaseResult:
    child = ChildResult(case="small", ending=Ending.OK, tensors=True)
    return CaseResult(case="small", ending=Ending.OK, child=child,
                      timing=TimingSample(trusted_ns=[5], self_ns=[4]), tensors=tensors)


def test_reader_gives_each_result_its_own_tensors() -> None:
    head, tensors = _ok_result().encode()
    assert tensors is not None
    error = CaseResult(case="other", ending=Ending.SIGNALED, signal=11)
    frames = protocol.encode_json({"type": "hello", "pid": 1}) + head + tensors + error.encode()[0]
    reader = _read(frames + protocol.encode_json({"type": "done"}))
    assert reader.error is None and reader.started
    assert reader.cases["small"].tensors == b"blob"
    assert reader.cases["small"].timing == TimingSample(trusted_ns=[5], self_ns=[4])
    assert reader.cases["other"].tensors is None and reader.cases["other"].signal == 11


def test_reader_refuses_a_tensor_frame_nobody_announced() -> None:
    error = CaseResult(case="small", ending=Ending.ERROR, message="x").encode()[0]
    reader = _read(error + protocol.encode(protocol.TENSORS, b"stray"))
    assert reader.error is not None and "announced" in reader.error


def test_reader_refuses_an_announced_result_without_its_tensors() -> None:
    head, _ = _ok_result().encode()
    reader = _read(head + protocol.encode_json({"type": "done"}))
    assert reader.error is not None and "small" not in reader.cases


def test_reader_over_budget_is_typed_not_matched_by_text() -> None:
    head, tensors = _ok_result(b"x" * 4096).encode()
    assert tensors is not None
    reader = _read(head + tensors, budget=1024)
    assert reader.over_budget and reader.error is None
    assert reader.result(exit_code=0, wall_s=0.0, stopped=None, stderr_tail="").stopped is Ending.RUN_OUTPUT
