"""Hostile submissions against each real sandbox backend (process; docker where an engine runs):
each gets its expected verdict (never accepted), finishes within a wall-time bound, and leaves
nothing behind on the host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.grading import grade
from core.problem import Problem
from core.report import GradeReport
from core.sandboxing import get_backend
from core.settings import Settings

from .conftest import SUBMISSIONS
from .host import host_roots, stray_files, wait_no_leftovers

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

# submission -> (allowed verdicts, text the public case's message must contain, wall bound s)
EXPECTED: dict[str, tuple[set[str], str, float]] = {
    "fork_bomb": ({"time_limit_exceeded"}, "", 60),
    "memory_bomb": ({"memory_limit_exceeded"}, "", 60),
    "disk_fill": ({"runtime_error"}, "", 60),
    "infinite_loop": ({"time_limit_exceeded"}, "", 60),
    "signal_ignore": ({"time_limit_exceeded"}, "", 60),
    "ptrace_parent": ({"runtime_error"}, "errno=1", 60),
    "kill_parent": ({"runtime_error"}, "PermissionError", 60),
    "early_exit": ({"runtime_error"}, "", 60),
    "fake_results": ({"runtime_error", "wrong_answer"}, "", 60),
    "proc_fd_open": ({"runtime_error"}, "opened=[]", 60),
    "compare_monkeypatch": ({"wrong_answer"}, "", 60),
    "lazy_subclass": ({"wrong_answer"}, "plain torch.Tensor", 60),
    "input_mutation": ({"wrong_answer"}, "", 60),
    "gc_walk": ({"wrong_answer"}, "", 60),
    "daemonise": ({"wrong_answer"}, "", 60),
    "lingering_thread": ({"wrong_answer"}, "", 60),
    "segfault": ({"runtime_error"}, "SIGSEGV", 60),
}


def _grade(problem: Problem, name: str, settings: Settings) -> tuple[GradeReport, float]:
    source = (SUBMISSIONS / f"{name}.py").read_bytes()
    start = time.monotonic()
    report = grade(problem, {"solution.py": source}, settings=settings)
    return report, time.monotonic() - start


def _assert_host_clean(settings: Settings) -> None:
    backend = get_backend(settings)
    for d in getattr(backend, "last_cgroup_dirs", []):
        assert not Path(d).exists(), f"the run's cgroup {d} still exists (processes survived?)"
    # Warm sandboxes waiting for the next runs hold nothing of any run: an empty job folder.
    waiting = getattr(backend, "waiting", list)()
    for _who, job_dir in waiting:
        assert not any(job_dir.iterdir()), f"a waiting sandbox's job folder holds {list(job_dir.iterdir())}"
    if backend.name == "docker":
        from sandbox.backends.docker import _OWNER

        client = backend.client  # type: ignore[attr-defined]
        # This process's containers only: a compose stack's workers on the same engine have their own.
        left = client.containers.list(all=True, filters={"label": ["tensorjudge.run", f"tensorjudge.owner={_OWNER}"]})
        left = [c for c in left if c.id not in {who for who, _ in waiting}]
        assert left == [], f"containers outlived their run: {left}"
    assert wait_no_leftovers(settings.data_dir, waiting={who for who, _ in waiting if isinstance(who, int)}) == []
    assert stray_files(*host_roots(settings.data_dir)) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_submission_gets_its_verdict_and_leaves_nothing(
    name: str, mini: Problem, settings: Settings, canary: str
) -> None:
    verdicts, needle, bound_s = EXPECTED[name]
    report, wall_s = _grade(mini, name, settings)
    case = report.cases[0]
    assert report.verdict.value != "accepted"
    assert report.verdict.value in verdicts, (report.verdict, case.message)
    assert needle in case.message, case.message
    assert wall_s < bound_s
    text = report.model_dump_json()
    assert canary not in text
    assert len(text) < 1 << 20
    _assert_host_clean(settings)


def test_patched_clocks_do_not_hide_a_slow_solution(
    mini_timed: Problem, settings: Settings
) -> None:
    report, wall_s = _grade(mini_timed, "timer_patch", settings)
    by_name = {c.name: c for c in report.cases}
    assert by_name["small"].verdict.value == "accepted"  # right answer...
    timed = by_name["timed"]
    assert timed.verdict.value == "time_limit_exceeded", timed.message  # ...but slow
    assert timed.timings is not None and timed.timings.ratio > 20
    assert report.verdict.value == "time_limit_exceeded"
    assert wall_s < 90
    _assert_host_clean(settings)


def test_correct_submission_is_still_accepted_after_the_red_team(
    mini_timed: Problem, settings: Settings
) -> None:
    accepted = Path(__file__).resolve().parents[2] / "problems/multi-head-matmul/solutions/accepted"
    source = (accepted / "permute_bmm.py").read_bytes()
    report = grade(mini_timed, {"solution.py": source}, settings=settings)
    assert report.verdict.value == "accepted", [(c.name, c.message) for c in report.cases]
    _assert_host_clean(settings)


def test_the_process_sandbox_ran_the_red_team_in_zygotes_it_could_not_harm(settings: Settings) -> None:
    """Where cgroups hold zygotes, the hostile runs above went to zygotes (one warm sandbox
    serving run after run), and none of them killed, wedged or dirtied its zygote: none was
    retired, and zygotes are still on."""
    backend = get_backend(settings)
    if backend.name != "process" or not getattr(backend, "warm", 0):
        pytest.skip("zygotes are the process sandbox's warm sandboxes")
    if backend.zygote_off is not None and "no cgroup" in backend.zygote_off:  # type: ignore[attr-defined]
        pytest.skip(f"no zygotes on this host: {backend.zygote_off}")  # type: ignore[attr-defined]
    assert backend.zygote_off is None  # type: ignore[attr-defined]
    assert backend.warm_hits >= len(EXPECTED) // 2  # type: ignore[attr-defined]
    assert backend.zygotes_lost == 0  # type: ignore[attr-defined]
