"""The process sandbox's command line and environment, and (with CUDA) a GPU run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.backends.base import RunSpec
from sandbox.backends.process import ProcessSandbox, gpu_args
from tests.sandbox.jobs import empty_job

needs_bwrap = pytest.mark.skipif(ProcessSandbox().bwrap is None, reason="bubblewrap not installed")


def _spec(tmp_path: Path, gpus: list[int] | None = None) -> RunSpec:
    return RunSpec(job=empty_job(), driver=b"", files={}, work_root=tmp_path, wall_time_s=5,
                   memory_mb=256, output_bytes=1 << 20, tmp_mb=8, gpus=gpus or [])


@needs_bwrap
def test_argv_isolates_and_passes_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORJUDGE_SECRET_KEY", "hunter2")
    argv = ProcessSandbox().argv(_spec(tmp_path), tmp_path, result_fd=9, seccomp_fd=7)
    joined = " ".join(argv)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--seccomp") + 1] == "7"
    assert argv[argv.index("--remount-ro") + 1] == "/"
    assert argv[argv.index("--size") + 1] == str(8 << 20)
    assert "hunter2" not in joined and "TENSORJUDGE_" not in joined
    assert argv[-2:] == ["/job/job.json", "9"]
    assert "CUDA_VISIBLE_DEVICES" not in joined
    assert "TJ_" not in joined  # switches travel in the job file, not the environment


@needs_bwrap
def test_argv_with_gpus_sets_visible_devices(tmp_path: Path) -> None:
    argv = ProcessSandbox().argv(_spec(tmp_path, gpus=[0, 2]), tmp_path, result_fd=9)
    i = argv.index("CUDA_VISIBLE_DEVICES")
    assert argv[i - 1] == "--setenv" and argv[i + 1] == "0,2"


def test_gpu_args_binds_only_existing_nodes_of_the_given_gpus() -> None:
    assert gpu_args([]) == []
    args = gpu_args([0])
    nodes = [args[i + 1] for i, a in enumerate(args) if a == "--dev-bind"]
    assert all(os.path.exists(n) for n in nodes)
    assert not any(n.startswith("/dev/nvidia1") for n in nodes)


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.cuda
@pytest.mark.sandbox
@pytest.mark.skipif(not _cuda(), reason="no CUDA GPU here")
def test_cuda_case_runs_in_the_process_sandbox(tmp_path: Path) -> None:
    from core.grading import grade
    from core.problem import load_problem
    from core.settings import Settings

    repo = Path(__file__).resolve().parents[2]
    problem = load_problem(repo / "problems/multi-head-matmul")
    source = (repo / "problems/multi-head-matmul/solutions/accepted/permute_bmm.py").read_bytes()
    settings = Settings(data_dir=tmp_path, sandbox="process", gpus="0")
    report = grade(problem, {"solution.py": source}, settings=settings)
    assert report.verdict.value == "accepted", [(c.name, c.message) for c in report.cases]
    # Every case ran on the GPU: the reference outputs were cached under the cuda device class,
    # and the timed case carries the child's CUDA-event time beside the supervisor's clock.
    cached = list((tmp_path / "reference-cache").glob("multi-head-matmul-*/cuda/*.safetensors"))
    assert len(cached) == len(problem.config.cases)
    timed = [c.timings for c in report.cases if c.timings is not None]
    assert timed and all(t.submission_ms > 0 and t.submission_self_reported_ms for t in timed)
    # A GPU case whose answer comes back on the CPU is wrong, and says why.
    moved = source + b"\n\n_gpu = matmul_with_multi_head\n\n\ndef matmul_with_multi_head(*a, **k):\n" \
        b"    return _gpu(*a, **k).cpu()\n"
    wrong = grade(problem, {"solution.py": moved}, settings=settings)
    assert wrong.verdict.value == "wrong_answer"
    first = wrong.cases[0]
    assert first.feedback is not None and first.feedback["check"] == "device", first.feedback


def _host_uids(pid: int) -> dict[int, int]:
    """Real uid, as the host sees it, of pid and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            children.setdefault(ppid, []).append(int(entry))
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        out[p] = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))
        todo += children.get(p, [])
    return out


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand the sandbox another uid")
def test_the_sandbox_runs_as_an_unprivileged_host_uid_even_with_python_under_root(tmp_path: Path) -> None:
    """On this machine the interpreter lives under /root (pyenv), which uid 65534 cannot
    enter: the sandbox still runs as 65534 on the host, through read-only views of it."""
    import time

    box = ProcessSandbox(warm=1)
    try:
        ok, why = box.available()
        assert ok, why
        assert box.drop_uid, "the sandbox keeps our uid (0): nothing could expose the Python environment"
        box.prestart(_spec(tmp_path))
        deadline = time.monotonic() + 60
        while not box.waiting() and time.monotonic() < deadline:
            time.sleep(0.05)
        ((bwrap_pid, _job),) = box.waiting()
        time.sleep(0.5)  # its supervisor is up (importing torch)
        uids = _host_uids(bwrap_pid)
        assert len(uids) >= 2 and set(uids.values()) == {65534}, uids
    finally:
        box.close()
