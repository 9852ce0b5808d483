"""Time to verdict against the course's own grader, on the same correct student file.

The course (NJU LLM, 2024 A0 = importance-matmul) grades with a pytest score test. Its public
grader is never part of this project: point --grader at a copy you fetched yourself, e.g.

    git --git-dir=/work/.mirror/gaomusiki+webhook-test/repo archive HEAD webhook/a0 | tar -x -C /tmp/cg
    .venv/bin/python bench/bench_course_grader.py --grader /tmp/cg/webhook/a0 [--repeats 3]

Both sides get the same file, installed as the course's `src/functional.py` (with an
`src/__init__.py` that exports it, as the course template does):
1. the course's grader: `pytest test_score.py` in a temporary copy of --grader, with
   STUDENT_REPO_PATH set; on a machine without CUDA the copy's cases are moved to the CPU (the
   course's cases name `"device": "cuda"`); wall time per run, median of --repeats;
2. TensorJudge: `tensorjudge serve` (the embedded default) with the bundled importance-matmul;
   after one warm-up submission, --repeats submissions of the student's `src/` folder one after
   another, each timed from the POST until its verdict is stored (polled every 20 ms).
It prints both medians and their ratio, with the machine's core count. The course grader imports
pandas: install it (`pip install pandas`) in the interpreter that runs this script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from bench_service import free_port, wait_healthy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PROBLEM = REPO / "problems" / "importance-matmul"


def student_repo(root: Path, solution: Path) -> Path:
    """A course-layout repository holding the solution as src/functional.py."""
    src = root / "src"
    src.mkdir(parents=True)
    (src / "functional.py").write_bytes(solution.read_bytes())
    (src / "__init__.py").write_text("from .functional import matmul_with_importance\n")
    return root


def course_grader(grader: Path, repo: Path, work: Path, repeats: int) -> list[float]:
    """Wall seconds of each run of the course's score test on the student repository."""
    copy = work / "grader"
    shutil.copytree(grader, copy, ignore=shutil.ignore_patterns("__pycache__", "submits"))
    import torch

    if not torch.cuda.is_available():
        test = copy / "test_score.py"
        test.write_text(test.read_text().replace('"device": "cuda"', '"device": "cpu"'))
    env = {**os.environ, "STUDENT_REPO_PATH": str(repo), "CUDA_VISIBLE_DEVICES": os.environ.get(
        "CUDA_VISIBLE_DEVICES", "")}
    times = []
    for _ in range(repeats):
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_score.py"],
                              cwd=copy, env=env, capture_output=True, text=True)
        times.append(time.monotonic() - t0)
        last = (done.stdout.strip().splitlines() or [""])[-1]
        print(f"  course grader run: {times[-1]:.2f} s ({last})")
    return times


def tensorjudge(repo: Path, work: Path, repeats: int) -> list[float]:
    """Seconds from submit to stored verdict for each of `repeats` submissions on a warm worker."""
    data = work / "data"
    problems = data / "problems-src"
    shutil.copytree(PROBLEM, problems / PROBLEM.name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORJUDGE_")}
    env.update(TENSORJUDGE_DATA_DIR=str(data), TENSORJUDGE_PROBLEMS_DIR=str(problems), PYTHONPATH=str(REPO))
    cli = [sys.executable, "-m", "cli.main"]
    data.mkdir(parents=True, exist_ok=True)
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen([*cli, "serve", "--port", str(port)], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    files = [("files", (str(p.relative_to(repo)), p.read_bytes())) for p in sorted(repo.rglob("*.py"))]
    try:
        wait_healthy(url, proc)
        out = subprocess.run([*cli, "admin", "create-user", "bench", "--role", "student"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True)
        token = out.stdout.strip().splitlines()[-1]
        times = []
        with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"},
                          timeout=120) as client:
            for i in range(repeats + 1):
                t0 = time.monotonic()
                r = client.post("/submissions", data={"problem": PROBLEM.name}, files=files)
                r.raise_for_status()
                sid = r.json()["id"]
                while True:
                    body = client.get(f"/submissions/{sid}").json()
                    if body["status"] in ("done", "failed"):
                        break
                    time.sleep(0.02)
                wall = time.monotonic() - t0
                label = "warm-up" if i == 0 else "run"
                print(f"  tensorjudge {label}: {wall:.2f} s ({body['status']}, {body['verdict']}, "
                      f"{body['score']}/{body['max_score']})")
                if i:
                    times.append(wall)
        return times
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def main() -> None:
    """Both measurements, then the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grader", type=Path, required=True, help="the course's a0 grader folder (test_score.py)")
    ap.add_argument("--solution", type=Path,
                    default=sorted((PROBLEM / "solutions" / "accepted").glob("*.py"))[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not (args.grader / "test_score.py").is_file():
        raise SystemExit(f"{args.grader} has no test_score.py")
    work = Path(tempfile.mkdtemp(prefix="tj-course-bench-"))
    try:
        repo = student_repo(work / "student", args.solution)
        print(f"machine: {os.cpu_count()} cores; solution {args.solution.name}")
        course = course_grader(args.grader, repo, work, args.repeats)
        ours = tensorjudge(repo, work, args.repeats)
        c, t = statistics.median(course), statistics.median(ours)
        print(f"course grader: median {c:.2f} s over {len(course)}; TensorJudge submit to verdict (warm "
              f"worker): median {t:.2f} s over {len(ours)}; ratio {t / c:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
