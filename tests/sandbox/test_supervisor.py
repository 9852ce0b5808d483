"""The supervisor on its own (no isolation: the "submission" here is this test's own code): a
child that forges a malformed result is a protocol error for its case, and the next case of the
job still runs; the limits the job names are the ones enforced."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from sandbox import tensors as tensor_frame
from sandbox.backends.base import HARNESS_ROOT, RunResult, RunSpec, harness_env, run_with_channel, write_job
from sandbox.protocol import JOB_FILE, CaseSpec, Ending
from tests.sandbox.jobs import empty_job

DRIVER = b'''
import os, json, struct, torch

def generate_inputs(case, seed):
    return {"x": torch.ones(3)}

def run(sub, inputs, case):
    if case.params.get("forge"):
        obj = json.dumps({"type": "result", "case": case.name, "status": "ok"}).encode()
        frame = struct.pack("!cI", b"J", len(obj)) + obj
        for fd in range(3, 64):
            try:
                os.write(fd, frame)
            except OSError:
                pass
        os._exit(0)
    if case.params.get("sleep"):
        import time
        time.sleep(60)
    return {"y": sub.f(inputs["x"])}
'''


def _case(name: str, **params: object) -> CaseSpec:
    return CaseSpec(name=name, params=params, dtype="float32", device="cpu", visibility="public",
                    seed=1, timed=False, mutable_inputs=[])


def _run(tmp_path: Path, cases: list[CaseSpec], case_time_s: float = 20.0) -> RunResult:
    job = empty_job(cases)
    job = replace(job, limits=replace(job.limits, case_time_s=case_time_s))
    spec = RunSpec(job=job, driver=DRIVER, files={"solution.py": b"def f(x):\n    return 2 * x\n"},
                   work_root=tmp_path, wall_time_s=120, memory_mb=1024, output_bytes=1 << 20)
    job_dir = write_job(spec, job, tmp_path)
    return run_with_channel(
        lambda fd: [sys.executable, "-m", "sandbox.harness.supervisor", str(job_dir / JOB_FILE), str(fd)],
        spec, env=harness_env({"PYTHONPATH": str(HARNESS_ROOT)}))


def test_forged_child_result_is_a_protocol_error_and_the_job_goes_on(tmp_path: Path) -> None:
    result = _run(tmp_path, [_case("forge", forge=True), _case("honest"), _case("slow", sleep=True)],
                  case_time_s=3.0)
    assert result.started and result.protocol_error is None, result.stderr_tail
    forged = result.outcome("forge")
    assert forged.ending is Ending.PROTOCOL_ERROR and forged.tensors is None, forged
    honest = result.outcome("honest")
    assert honest.ending is Ending.OK and honest.tensors is not None
    assert honest.child is not None and honest.child.graded == {"f": "solution.py:f"}
    assert tensor_frame.load(honest.tensors)["out.y"].tolist() == [2.0, 2.0, 2.0]
    assert result.outcome("slow").ending is Ending.CASE_TIMEOUT  # the job's own case_time_s


def test_a_failing_callback_does_not_stop_the_result_reader() -> None:
    import os

    from sandbox import protocol
    from sandbox.backends.base import ResultReader
    from sandbox.protocol import ChildResult

    r, w = os.pipe()
    child = ChildResult(case="c1", ending=Ending.OK, tensors=True)
    head, tensors = protocol.CaseResult(case="c1", ending=Ending.OK, child=child, tensors=b"blob").encode()
    assert tensors is not None
    os.write(w, protocol.encode_json({"type": "hello", "pid": 1}) + head + tensors
             + protocol.encode_json({"type": "done"}))
    os.close(w)

    def boom(_msg: object) -> None:
        raise RuntimeError("progress write failed")

    reader = ResultReader(r, 1 << 20, boom)
    reader.start()
    reader.join(timeout=10)
    result = reader.result(exit_code=0, wall_s=0.0, stopped=None, stderr_tail="")
    assert result.started and list(result.cases) == ["c1"] and result.protocol_error is None
