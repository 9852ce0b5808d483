"""Which clock a timed case is judged by, and a run's medians on each clock it can vouch for.

Every timed repeat is measured by the supervisor twice: wall time, and the CPU time the case
child's process spent (the kernel's clock for that process, every thread included). A CPU case
is judged by CPU time wherever the outside can cross-check it (the run's cgroup accounts CPU):
on a loaded worker, wall time stretches with whatever else runs (a 5 ms repeat preempted by
three other runnable processes takes 20-30 ms), CPU time hardly at all, so the verdict of a
submission does not depend on how busy the worker was. CUDA cases, and runs whose CPU usage
the outside cannot read (no cgroup; a container whose cgroup a worker in another container
cannot see), are judged by wall time. Submission
and reference are always compared on the same clock. The supervisor reports no CPU time for a
case where a process other than the case child is in the sandbox at a repeat's end (a helper
could compute while the child waits), so such a case is judged by wall time too.

Each clock's median is bounded below by what the outside saw over the timed repeats (the
supervisor runs inside the sandbox): only a median under half of the outside's mean is
overruled, which marks arriving late under load never bring an honest run near.
"""

from __future__ import annotations

import statistics

from sandbox.backends.base import RunResult
from sandbox.protocol import CaseSpec

CPU, WALL = "cpu", "wall"
PREFERENCE = (CPU, WALL)

Medians = dict[str, float]  # clock -> median ms, for the clocks this run can vouch for


def medians(result: RunResult, case: CaseSpec, *, bounded: bool = True) -> Medians:
    """The timed case's medians (ms) per clock; empty when the case was not timed.

    `bounded`: apply the outside's lower bound (a submission's run; the reference is ours)."""
    sample = result.outcome(case.name).timing
    if sample is None or not sample.trusted_ns:
        return {}
    n = len(sample.trusted_ns)

    def bound(ms: float, window: tuple[int, int] | None) -> float:
        if not bounded or window is None:
            return ms
        return max(ms, 0.5 * (window[1] - window[0]) / 1e6 / n)

    out = {WALL: bound(statistics.median(sample.trusted_ns) / 1e6, result.windows_ns.get(case.name))}
    cpu_window = result.cpu_windows_ns.get(case.name)
    if case.device != "cuda" and len(sample.cpu_ns) == n and cpu_window is not None:
        out[CPU] = bound(statistics.median(sample.cpu_ns) / 1e6, cpu_window)
    return out


def best(measured: Medians) -> str:
    """The clock a run's medians are best judged by (they must not be empty)."""
    return next(c for c in PREFERENCE if c in measured)


def common(submission: Medians, reference: Medians) -> str | None:
    """The clock both sides were measured on, CPU first; None when they share none."""
    return next((c for c in PREFERENCE if c in submission and c in reference), None)
