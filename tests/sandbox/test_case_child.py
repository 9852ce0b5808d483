"""One case child serves a run's consecutive cases (no fork per case, one CUDA context per
submission), and yet each case starts fresh: the submission's modules are imported again,
torch's global settings are back to the judge's, its prints are its own; a case that does not
end cleanly retires the child and the next case gets a new one. The supervisor runs on its own
here (no isolation: the "submission" is this test's code)."""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox import tensors as tensor_frame
from sandbox.backends.base import HARNESS_ROOT, RunResult, RunSpec, harness_env, run_with_channel, write_job
from sandbox.protocol import JOB_FILE, CaseSpec, Ending
from tests.sandbox.jobs import empty_job

DRIVER = b'''
import gc, os, sys, torch

LOADS = [0]
LOADS[0] += 1  # how many times this driver module was executed in this process

def generate_inputs(case, seed):
    return {"x": torch.ones(2)}

def run(sub, inputs, case):
    print("case", case.name)
    if case.params.get("crash"):
        os._exit(7)
    if case.params.get("boom"):
        raise RuntimeError("student bug")
    dtype_seen = torch.get_default_dtype()
    if case.params.get("mutate"):
        inputs["x"].add_(1)
    if case.params.get("float64"):
        torch.set_default_dtype(torch.float64)
    if case.params.get("lazy"):
        import sched  # a module of no one's until now: the judge's side keeps it
    sched_scanned = "sched" in sys.modules and any(
        o is sys.modules["sched"].scheduler.enter for o in gc.get_objects())
    torch.manual_seed(5)  # queued for CUDA (never initialised here) with the caller's stack
    queued = torch.cuda._lazy_seed_tracker.manual_seed_all_cb
    calls = sub.f(inputs["x"])
    return {"seed_stack_lines": torch.tensor([len(queued[1]) if queued else -1]),
            "cpu_seeded": torch.tensor([torch.initial_seed() == 5]),
            "sched_scanned": torch.tensor([sched_scanned]),
            "pid": torch.tensor([os.getpid()]), "calls": calls,
            "float32_default": torch.tensor([dtype_seen == torch.float32]),
            "driver_loads": torch.tensor([LOADS[0]]), "code": torch.tensor([id(sub.f.__code__)])}
'''

# Module state that would carry over if the module were not imported afresh for each case.
SOLUTION = b"import torch\nCALLS = []\ndef f(x):\n    CALLS.append(1)\n    return torch.tensor([len(CALLS)])\n"


def _case(name: str, **params: object) -> CaseSpec:
    return CaseSpec(name=name, params=params, dtype="float32", device="cpu", visibility="public",
                    seed=1, timed=False, mutable_inputs=[])


def _run(tmp_path: Path, cases: list[CaseSpec]) -> RunResult:
    job = empty_job(cases)
    spec = RunSpec(job=job, driver=DRIVER, files={"solution.py": SOLUTION}, work_root=tmp_path,
                   wall_time_s=120, memory_mb=1024, output_bytes=1 << 20)
    job_dir = write_job(spec, job, tmp_path)
    result = run_with_channel(
        lambda fd: [sys.executable, "-m", "sandbox.harness.supervisor", str(job_dir / JOB_FILE), str(fd)],
        spec, env=harness_env({"PYTHONPATH": str(HARNESS_ROOT)}))
    assert result.started and result.protocol_error is None, result.stderr_tail
    return result


def _out(result: RunResult, name: str) -> dict[str, list[int]]:
    outcome = result.outcome(name)
    assert outcome.ending is Ending.OK and outcome.tensors is not None, outcome
    return {k.removeprefix("out."): v.tolist() for k, v in tensor_frame.load(outcome.tensors).items()
            if k.startswith("out.")}


def test_consecutive_cases_share_one_child_but_start_fresh(tmp_path: Path) -> None:
    result = _run(tmp_path, [_case("a", float64=True), _case("b"), _case("c")])
    a, b, c = (_out(result, n) for n in "abc")
    assert a["pid"] == b["pid"] == c["pid"]  # one process for the run's cases
    assert a["calls"] == b["calls"] == c["calls"] == [1]  # module state never carries over
    # ... although its source was compiled once (the same code object, executed afresh), and the
    # driver (the judge's side of each case) was loaded once for the child.
    assert a["code"] == b["code"] == c["code"]
    assert a["driver_loads"] == b["driver_loads"] == c["driver_loads"] == [1]
    assert b["float32_default"] == [True]  # case a's set_default_dtype was undone
    for name in "abc":  # each case's prints are its own
        assert result.outcome(name).stdout.strip() == f"case {name}"


def test_what_a_case_leaves_to_the_judge_is_out_of_later_collections(tmp_path: Path) -> None:
    # A module imported during case a survives it (it is not the submission's); the collection
    # after the case freezes it, so no later case's collection scans its objects again.
    result = _run(tmp_path, [_case("a", lazy=True), _case("b")])
    assert _out(result, "a")["sched_scanned"] == [True]  # tracked while case a ran
    assert _out(result, "b")["sched_scanned"] == [False]


def test_only_inputs_the_outside_must_check_and_that_changed_travel_back(tmp_path: Path) -> None:
    still, mutated = _case("still"), _case("mutated", mutate=True)
    allowed = CaseSpec(name="allowed", params={"mutate": True}, dtype="float32", device="cpu",
                       visibility="public", seed=1, timed=False, mutable_inputs=["x"])
    result = _run(tmp_path, [still, mutated, allowed])

    def sent(name: str) -> tuple[set[str], dict[str, bool]]:
        outcome = result.outcome(name)
        assert outcome.tensors is not None and outcome.child is not None
        keys = {k for k in tensor_frame.load(outcome.tensors) if not k.startswith("out.")}
        return keys, outcome.child.input_meta["x"]

    keys, meta = sent("still")
    assert keys == set() and meta.get("unchanged") is True  # as it was: a word, not a copy
    keys, meta = sent("mutated")
    assert keys == {"in.x"} and not meta.get("unchanged")  # modified: the outside sees it
    keys, meta = sent("allowed")
    assert keys == set() and not meta.get("unchanged")  # the case lets it change: nothing to check


def test_seeding_formats_no_stack_for_a_device_this_child_cannot_have(tmp_path: Path) -> None:
    # torch.manual_seed() keeps the caller's formatted stack for CUDA's deferred seeding; in a
    # CPU case child that stack could never be shown, and formatting it was most of the cost
    # of the course's seed-heavy problems. The seed itself is set as ever.
    out = _out(_run(tmp_path, [_case("a")]), "a")
    assert out["seed_stack_lines"] == [1] and out["cpu_seeded"] == [True]


def test_a_case_that_dies_retires_the_child_and_the_next_case_gets_a_new_one(tmp_path: Path) -> None:
    result = _run(tmp_path, [_case("a"), _case("dies", crash=True), _case("b"), _case("bug", boom=True),
                             _case("c")])
    died = result.outcome("dies")
    assert died.ending is Ending.EXITED and died.exit_code == 7, died
    a, b, c = _out(result, "a"), _out(result, "b"), _out(result, "c")
    assert a["pid"] != b["pid"]  # the child that exited was replaced
    assert b["calls"] == [1]
    # A student's exception is the case's verdict; the child reported it and goes on.
    assert result.outcome("bug").ending is Ending.ERROR
    assert "student bug" in result.outcome("bug").message
    assert c["pid"] == b["pid"]
