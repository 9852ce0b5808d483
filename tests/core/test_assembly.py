"""The pipeline's assembly with a fake backend (no sandbox needed): how many harness runs a
submission costs, how case results become the report, and what hidden cases keep to themselves.
Verdicts of real code in the real sandbox are tested in test_grading.py and tests/redteam."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from core.grading import grade
from core.problem import Problem
from core.settings import Settings
from core.verdicts import MESSAGES, Verdict
from sandbox.protocol import CaseResult, CaseSpec, Ending, Job
from tests.core.fake_backend import FakeBackend, ended, ok

SUB = {"solution.py": b"def scale(x, a):\n    return x * a\n"}
X = torch.arange(4, dtype=torch.float32)


def _right(case: CaseSpec) -> dict[str, torch.Tensor]:
    return {"y": X * float(case.params["alpha"])}


def reference(job: Job, case: CaseSpec) -> CaseResult:
    """The reference: right outputs, pristine inputs, 1 ms per timed repeat."""
    return ok(case, _right(case), inputs={"x": X}, trusted_ns=[1_000_000] * 3 if case.timed else None)


def script(submission: dict[str, CaseResult | None] | None = None, slow: int = 1):  # type: ignore[no-untyped-def]
    """The reference always; the submission right everywhere, `slow` times the reference's
    time, except where `submission` says otherwise (by case name; None: never finished)."""
    def answer(job: Job, case: CaseSpec) -> CaseResult | None:
        if job.mode == "reference":
            return reference(job, case)
        if submission and case.name in submission:
            return submission[case.name]
        return ok(case, _right(case), inputs={"x": X}, stdout="hi\n",
                  trusted_ns=[slow * 1_000_000] * 3 if case.timed else None,
                  graded={"scale": "solution.py:scale"}, notes=["loaded solution.py"])
    return answer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(env="test", data_dir=tmp_path, secret_key="fake-backend-secret", sandbox="process")


def _case(problem: Problem, name: str, settings: Settings) -> CaseSpec:
    from core.grading.jobs import case_spec, effective_seed

    c = next(c for c in problem.config.cases if c.name == name)
    return case_spec(c, "cpu", effective_seed(problem, c, settings.resolved_secret()))


def test_accepted_in_two_runs_then_one_timing_run(vec_scale: Problem, settings: Settings) -> None:
    fake = FakeBackend(script())
    seen: list[tuple[int, int]] = []
    report = grade(vec_scale, SUB, settings=settings, backend=fake, progress=lambda k, n: seen.append((k, n)))
    assert report.verdict is Verdict.ACCEPTED and report.score == report.max_score == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert report.graded == {"scale": "solution.py:scale"}
    assert report.notes[-1] == "loaded solution.py"
    # One submission run, then one reference run: every expected output (cold cache) and the
    # timing of the timed case, together.
    assert [j.mode for j in fake.jobs] == ["submission", "reference"]
    assert [(c.name, c.timed) for c in fake.jobs[1].cases] == [
        ("small", False), ("hidden-f64", False), ("timed", True)]
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.ratio == pytest.approx(1.0)
    # Warm caches, and the submission is clearly fast enough (1x, budget 20x): judged against
    # the cached reference median, with no reference run at all.
    again = FakeBackend(script())
    report = grade(vec_scale, SUB, settings=settings, backend=again)
    assert [j.mode for j in again.jobs] == ["submission"]
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.reference_ms == pytest.approx(1.0)


@pytest.mark.parametrize(("slow", "remeasured"), [(9, False), (11, True), (30, True)])
def test_a_submission_near_or_over_the_budget_gets_the_reference_timed_again(
        vec_scale: Problem, settings: Settings, slow: int, remeasured: bool) -> None:
    grade(vec_scale, SUB, settings=settings, backend=FakeBackend(script()))  # both caches filled
    fake = FakeBackend(script(slow=slow))  # budget 20x: half of it is the line
    report = grade(vec_scale, SUB, settings=settings, backend=fake)
    assert [j.mode for j in fake.jobs] == (["submission", "reference"] if remeasured else ["submission"])
    if remeasured:
        assert [c.name for c in fake.jobs[1].cases] == ["timed"]
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.ratio == pytest.approx(slow)


def test_the_cached_reference_median_is_the_smallest_recent_one(vec_scale: Problem, settings: Settings) -> None:
    from core.grading.reference import cached_timing

    def reference_at(ms: int):  # type: ignore[no-untyped-def]
        def answer(job: Job, case: CaseSpec) -> CaseResult | None:
            if job.mode == "reference":
                return ok(case, _right(case), inputs={"x": X}, trusted_ns=[ms * 1_000_000] * 3 if case.timed else None)
            return ok(case, _right(case), inputs={"x": X}, trusted_ns=[100_000_000] * 3 if case.timed else None)
        return answer

    for ms in (3, 2, 5):  # each submission is over the budget's half: the reference is re-timed
        grade(vec_scale, SUB, settings=settings, backend=FakeBackend(reference_at(ms)))
    assert cached_timing(settings, vec_scale, _case(vec_scale, "timed", settings)) == pytest.approx(2.0)


def test_nothing_to_time_and_all_cached_means_one_run(vec_scale: Problem, settings: Settings) -> None:
    grade(vec_scale, SUB, settings=settings, backend=FakeBackend(script()))  # fills the cache
    fake = FakeBackend(script({"timed": None}))  # the timed case never finishes
    report = grade(vec_scale, SUB, settings=settings, backend=fake)
    assert [j.mode for j in fake.jobs] == ["submission"]
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.verdict is Verdict.RUNTIME_ERROR  # hidden: the generic message only
    assert timed.message == MESSAGES[Verdict.RUNTIME_ERROR]


def test_over_budget_is_tle_with_the_ratio(vec_scale: Problem, settings: Settings) -> None:
    report = grade(vec_scale, SUB, settings=settings, backend=FakeBackend(script(slow=30)))
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.verdict is Verdict.TIME_LIMIT_EXCEEDED
    assert timed.timings is not None and timed.timings.ratio == pytest.approx(30.0)
    assert report.verdict is Verdict.TIME_LIMIT_EXCEEDED and report.score == 2


def test_outside_clock_overrules_a_short_inside_median(vec_scale: Problem, settings: Settings) -> None:
    """The supervisor says 1 ms a repeat; our own clock saw 3 repeats take 300 ms."""
    fake = FakeBackend(script(), windows_ns={"timed": (0, 300_000_000)})
    report = grade(vec_scale, SUB, settings=settings, backend=fake)
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.submission_ms == pytest.approx(50.0)
    assert timed.verdict is Verdict.TIME_LIMIT_EXCEEDED  # 50x, over the budget of 20x


def test_public_case_shows_details_hidden_case_only_its_verdict(vec_scale: Problem, settings: Settings) -> None:
    small, hidden = _case(vec_scale, "small", settings), _case(vec_scale, "hidden-f64", settings)
    wrong = {"small": ok(small, {"y": X * 0}, inputs={"x": X}, stdout="x" * 20000),
             "hidden-f64": ended(hidden, Ending.ERROR, "Traceback: secret detail")}
    report = grade(vec_scale, SUB, settings=settings, backend=FakeBackend(script(wrong)))
    by = {c.name: c for c in report.cases}
    assert by["small"].verdict is Verdict.WRONG_ANSWER
    assert by["small"].feedback is not None and by["small"].feedback["check"] == "value"
    assert by["small"].stdout is not None and "truncated, 20000 bytes in all" in by["small"].stdout
    assert by["hidden-f64"].verdict is Verdict.RUNTIME_ERROR
    assert by["hidden-f64"].message == MESSAGES[Verdict.RUNTIME_ERROR]
    assert by["hidden-f64"].stdout is None and by["hidden-f64"].feedback is None
    assert report.verdict is Verdict.RUNTIME_ERROR  # more severe than wrong_answer


@pytest.mark.parametrize(("result", "oom", "verdict", "text"), [
    ({"signal": int(signal.SIGSEGV)}, False, Verdict.RUNTIME_ERROR, "the process was killed by SIGSEGV"),
    ({"signal": int(signal.SIGKILL)}, True, Verdict.MEMORY_LIMIT_EXCEEDED, "killed by the memory limit"),
    ({"signal": int(signal.SIGKILL)}, False, Verdict.RUNTIME_ERROR, "the process was killed by SIGKILL"),
    ({"exit_code": 7}, False, Verdict.RUNTIME_ERROR, "exited with code 7 before producing a result"),
])
def test_how_the_child_died_is_worded_on_public_cases(
        vec_scale: Problem, settings: Settings, result: dict[str, int], oom: bool, verdict: Verdict,
        text: str) -> None:
    small = _case(vec_scale, "small", settings)
    ending = Ending.SIGNALED if "signal" in result else Ending.EXITED
    fake = FakeBackend(script({"small": ended(small, ending, **result)}), oom_killed=oom)
    report = grade(vec_scale, SUB, settings=settings, backend=fake)
    assert (report.cases[0].verdict, report.cases[0].message) == (verdict, text)


def test_a_stopped_run_words_the_cases_it_never_finished(vec_scale: Problem, settings: Settings) -> None:
    fake = FakeBackend(script({"small": None}), stopped=Ending.RUN_WALL)
    report = grade(vec_scale, SUB, settings=settings, backend=fake)
    assert report.cases[0].verdict is Verdict.TIME_LIMIT_EXCEEDED
    assert report.cases[0].message == "the run hit its wall-clock limit before this case"


def test_compile_error_message_becomes_the_submissions(vec_scale: Problem, settings: Settings) -> None:
    def fail(job: Job, case: CaseSpec) -> CaseResult:
        if job.mode == "reference":
            return reference(job, case)
        return ended(case, Ending.COMPILE_ERROR, "`scale` is missing from solution.py")

    report = grade(vec_scale, SUB, settings=settings, backend=FakeBackend(fail))
    assert report.verdict is Verdict.COMPILE_ERROR
    assert report.message == "`scale` is missing from solution.py"
    assert report.graded == {}


def test_a_failing_progress_report_never_changes_the_verdict(vec_scale: Problem, settings: Settings) -> None:
    def progress(done: int, total: int) -> None:
        raise RuntimeError("database went away")  # the worker's progress write, failing

    report = grade(vec_scale, SUB, settings=settings, backend=FakeBackend(script()), progress=progress)
    assert report.verdict is Verdict.ACCEPTED and report.score == report.max_score


def _cpu_script(wall_ms: int, cpu_ms: int, ref_cpu_ms: int = 1):  # type: ignore[no-untyped-def]
    """Reference 1 ms of wall time and ref_cpu_ms of CPU a repeat; the submission wall_ms and cpu_ms."""
    def answer(job: Job, case: CaseSpec) -> CaseResult | None:
        timed = case.timed
        if job.mode == "reference":
            return ok(case, _right(case), inputs={"x": X}, trusted_ns=[1_000_000] * 3 if timed else None,
                      cpu_ns=[ref_cpu_ms * 1_000_000] * 3 if timed else None)
        return ok(case, _right(case), inputs={"x": X}, trusted_ns=[wall_ms * 1_000_000] * 3 if timed else None,
                  cpu_ns=[cpu_ms * 1_000_000] * 3 if timed else None)
    return answer


def _windows(sub_cpu_ms: int, ref_cpu_ms: int = 1) -> dict[str, dict[str, tuple[int, int]]]:
    return {"submission": {"timed": (0, 3 * sub_cpu_ms * 1_000_000)},
            "reference": {"timed": (0, 3 * ref_cpu_ms * 1_000_000)}}


def test_a_cpu_case_the_run_vouches_for_is_judged_by_cpu_time(vec_scale: Problem, settings: Settings) -> None:
    """A loaded worker stretched the submission's wall time 30x; its CPU time is the reference's."""
    report = grade(vec_scale, SUB, settings=settings,
                   backend=FakeBackend(_cpu_script(wall_ms=30, cpu_ms=1), cpu_windows_ns=_windows(1)))
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.clock == "cpu"
    assert timed.timings.ratio == pytest.approx(1.0)
    assert timed.verdict is Verdict.ACCEPTED
    # The same run without the cgroup's reading: wall time, and over the 20x budget.
    report = grade(vec_scale, SUB, settings=settings, backend=FakeBackend(_cpu_script(wall_ms=30, cpu_ms=1)))
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.clock == "wall"
    assert timed.verdict is Verdict.TIME_LIMIT_EXCEEDED


def test_too_much_cpu_is_tle_and_the_cgroup_overrules_a_short_inside_cpu_median(
        vec_scale: Problem, settings: Settings) -> None:
    slow = grade(vec_scale, SUB, settings=settings,
                 backend=FakeBackend(_cpu_script(wall_ms=30, cpu_ms=30), cpu_windows_ns=_windows(30)))
    timed = next(c for c in slow.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.clock == "cpu" and timed.timings.ratio == pytest.approx(30)
    assert timed.verdict is Verdict.TIME_LIMIT_EXCEEDED
    # The supervisor claims 1 ms of CPU a repeat; the cgroup saw 3 repeats use 150 ms.
    lying = grade(vec_scale, SUB, settings=settings,
                  backend=FakeBackend(_cpu_script(wall_ms=1, cpu_ms=1), cpu_windows_ns=_windows(50)))
    timed = next(c for c in lying.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.submission_ms == pytest.approx(25.0)
    assert timed.verdict is Verdict.TIME_LIMIT_EXCEEDED


def test_reference_medians_are_cached_per_clock(vec_scale: Problem, settings: Settings) -> None:
    from core.grading.reference import cached_timing

    grade(vec_scale, SUB, settings=settings,
          backend=FakeBackend(_cpu_script(wall_ms=1, cpu_ms=1, ref_cpu_ms=2), cpu_windows_ns=_windows(1, 2)))
    timed = _case(vec_scale, "timed", settings)
    assert cached_timing(settings, vec_scale, timed, "wall") == pytest.approx(1.0)
    assert cached_timing(settings, vec_scale, timed, "cpu") == pytest.approx(2.0)
    # A later submission with CPU time is judged against the cached CPU median, with no reference run.
    again = FakeBackend(_cpu_script(wall_ms=9, cpu_ms=1, ref_cpu_ms=2), cpu_windows_ns=_windows(1, 2))
    report = grade(vec_scale, SUB, settings=settings, backend=again)
    assert [j.mode for j in again.jobs] == ["submission"]
    timed_report = next(c for c in report.cases if c.name == "timed")
    assert timed_report.timings is not None and timed_report.timings.clock == "cpu"
    assert timed_report.timings.ratio == pytest.approx(0.5)


def test_a_wall_only_cache_is_measured_afresh_for_a_submission_with_cpu_time(
        vec_scale: Problem, settings: Settings) -> None:
    grade(vec_scale, SUB, settings=settings, backend=FakeBackend(script()))  # caches a wall median only
    fake = FakeBackend(_cpu_script(wall_ms=1, cpu_ms=1), cpu_windows_ns=_windows(1))
    report = grade(vec_scale, SUB, settings=settings, backend=fake)
    assert [j.mode for j in fake.jobs] == ["submission", "reference"]
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.clock == "cpu"
