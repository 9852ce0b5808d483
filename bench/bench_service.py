"""Service benchmark: end-to-end submissions per minute and status-API latency under load.

Starts `tensorjudge serve` (the embedded default: SQLite, filesystem broker, its own worker,
the real sandboxed grader) on a free 127.0.0.1 port with a temporary data dir and the tiny
test problem, creates a user through the CLI, then

1. submits --submissions accepted solutions at once and measures the time until all are done
   (submissions per minute, end to end: upload, queue, sandboxed grading, result stored);
2. runs --clients concurrent clients, each doing --requests GET /api/v1/submissions/{id}
   (bounded loops), and reports p50/p90/p99 latency and requests per second;
3. time to verdict on the warm worker: after one warm-up, --latency correct multi-head-matmul
   submissions one after another (--gap seconds apart), each from submit until its verdict is
   stored (median),
   against a cold `python -c "import torch"` timed in the same run;
4. saturation: --saturate submissions at once of --saturate-problem's first accepted solution
   (default multi-head-matmul); submissions per minute against the compute-bound limit (worker
   concurrency x 60 s / the solution's own compute, its cases run in-process without a
   sandbox, as bench_grade.py's "pure"), and the whole machine's CPU time per submission.

    .venv/bin/python bench/bench_service.py [--submissions 6] [--clients 16] [--requests 100]
                                             [--worker-concurrency 1] [--backend postgres]
                                             [--saturate N] [--saturate-problem SLUG]
With --backend postgres the same `serve` runs on a throwaway real Postgres and Redis (started
and stopped here, as in the integration tests) instead of SQLite and the filesystem broker.
Only 127.0.0.1 is contacted. Figures depend on the machine: report them with its core count.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "service" / "fixtures"
SOLUTION = (FIXTURES / "tiny-add" / "solutions" / "accepted" / "plus.py").read_bytes()
MHM = REPO / "problems" / "multi-head-matmul"
MHM_SOLUTION = (MHM / "reference.py").read_bytes()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    """Block until the server's health endpoint answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("serve exited early")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("serve did not become healthy")


def throughput(client: httpx.Client, n: int, timeout_s: float, problem: str = "tiny-add",
               solution: bytes | dict[str, bytes] = SOLUTION, poll_s: float = 0.25) -> tuple[float, list[int]]:
    """Submit n solutions at once (one file's bytes, or {path: bytes}); seconds until all are
    graded, and their ids."""
    files = solution if isinstance(solution, dict) else {"solution.py": solution}
    start = time.monotonic()
    ids = []
    for _ in range(n):
        r = client.post("/submissions", data={"problem": problem},
                        files=[("files", (name, data)) for name, data in files.items()])
        r.raise_for_status()
        ids.append(r.json()["id"])
    pending = set(ids)
    while pending and time.monotonic() - start < timeout_s:
        # Oldest first, and a round ends at the first one still being graded: the queue is
        # first in, first out, so polling the rest would only load the server being measured
        # (30 pending submissions polled every 0.25 s is 120 requests a second).
        for sid in sorted(pending):
            body = client.get(f"/submissions/{sid}").json()
            if body["status"] not in ("done", "failed"):
                break
            if body["verdict"] != "accepted":
                print(f"  warning: submission {sid} ended {body['status']}/{body['verdict']}")
            pending.discard(sid)
        time.sleep(poll_s)
    if pending:
        raise SystemExit(f"{len(pending)} submissions not graded within {timeout_s}s")
    return time.monotonic() - start, ids


def latency(url: str, token: str, ids: list[int], clients: int, requests: int) -> tuple[list[float], float]:
    """Concurrent bounded GET loops on submission status; (latencies in ms, wall seconds)."""
    results: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def run(i: int) -> None:
        with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            for j in range(requests):
                t0 = time.perf_counter()
                r = c.get(f"/submissions/{ids[(i + j) % len(ids)]}")
                results[i].append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors.append(f"{r.status_code}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    if errors:
        print(f"  {len(errors)} non-200 answers, e.g. {errors[:3]}")
    return [x for r in results for x in r], wall


def busy_ticks() -> tuple[int, int]:
    """(busy, steal) clock ticks of the whole machine so far, from /proc/stat (zeros elsewhere)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return v[0] + v[1] + v[2] + v[5] + v[6], v[7] if len(v) > 7 else 0


def saturate(client: httpx.Client, args: argparse.Namespace, data: Path) -> None:
    """--saturate submissions of --saturate-problem's first accepted solution at once:
    submissions per minute against the compute-bound limit, and the machine's CPU time per
    submission (everything: the API, the broker, the worker, the sandboxes, this client)."""
    sys.path[:0] = [str(REPO), str(REPO / "bench")]
    from bench_grade import pure_compute

    from core.grading.layout import install_files
    from core.problem import load_problem, solution_files
    from core.settings import Settings

    problem = load_problem(REPO / "problems" / args.saturate_problem)
    _, path = next((v, p) for v, p in problem.solutions() if v == "accepted")
    # As a student's repository: the solution in the course's layout, over the package's
    # support tree (their own modules that the problem builds on).
    files = install_files(problem, solution_files(path), problem.support_files()).files
    pure = statistics.median(pure_compute(problem, Settings(data_dir=data / "pure")) for _ in range(3))
    conc = args.worker_concurrency or Settings().concurrency
    throughput(client, 1, args.timeout, problem.slug, files)  # its reference outputs, cached
    ticks, steal = busy_ticks()
    sat, _ = throughput(client, args.saturate, args.timeout, problem.slug, files)
    ticks2, steal2 = busy_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    rate, bound = args.saturate / sat * 60, conc * 60 / pure
    print(f"saturation: {args.saturate} {problem.slug} submissions ({path.name}) in {sat:.1f} s = {rate:.0f}/min; "
          f"compute-bound limit {bound:.0f}/min ({conc} x 60 s / {pure:.3f} s pure compute): "
          f"{100 * rate / bound:.0f}%; machine CPU {(ticks2 - ticks) / hz / args.saturate:.3f} core-s "
          f"per submission (steal {(steal2 - steal) / hz / args.saturate:.3f})")


def main() -> None:
    """Run both measurements and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submissions", type=int, default=6)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--worker-concurrency", type=int, default=0, help="0: the default (fits the machine)")
    ap.add_argument("--latency", type=int, default=5)
    ap.add_argument("--gap", type=float, default=0.0,
                    help="seconds between the --latency submissions (0: each right after the last verdict)")
    ap.add_argument("--saturate", type=int, default=8)
    ap.add_argument("--saturate-problem", default="multi-head-matmul",
                    help="the bundled problem whose first accepted solution saturates the worker")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        if args.backend == "postgres":
            sys.path.insert(0, str(REPO))
            from tests.service.servers import postgres_server, redis_server

            urls["TENSORJUDGE_DATABASE_URL"] = stack.enter_context(postgres_server())
            urls["TENSORJUDGE_BROKER_URL"] = stack.enter_context(redis_server())
        run(args, urls)


def run(args: argparse.Namespace, urls: dict[str, str]) -> None:
    """Start serve with `urls` in its environment and take both measurements."""

    data = Path(tempfile.mkdtemp(prefix="tj-bench-"))
    problems = data / "problems-src"
    shutil.copytree(FIXTURES / "tiny-add", problems / "tiny-add")
    shutil.copytree(MHM, problems / "multi-head-matmul")
    heavy = REPO / "problems" / args.saturate_problem
    if not (problems / heavy.name).exists():
        shutil.copytree(heavy, problems / heavy.name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORJUDGE_")}
    env.update(
        TENSORJUDGE_DATA_DIR=str(data),
        TENSORJUDGE_PROBLEMS_DIR=str(problems),
        TENSORJUDGE_WORKER_CONCURRENCY=str(args.worker_concurrency),
        # One bench user sends many submissions at once: each must be graded, not superseded.
        TENSORJUDGE_QUEUE_SUPERSEDE="false",
        PYTHONPATH=str(REPO),
    )
    cli = [sys.executable, "-m", "cli.main"]
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(url, proc)
        out = subprocess.run(
            [*cli, "admin", "create-user", "bench", "--role", "student"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = out.stdout.strip().splitlines()[-1]
        print(f"machine: {os.cpu_count()} cores; backend {args.backend}; worker concurrency {args.worker_concurrency}")
        with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            # One warm-up submission fills the reference cache and warms the worker.
            warm_s, _ = throughput(client, 1, args.timeout)
            print(f"warm-up submission (reference outputs computed): {warm_s:.1f} s")
            wall, ids = throughput(client, args.submissions, args.timeout)
            if args.latency:
                throughput(client, 1, args.timeout, "multi-head-matmul", MHM_SOLUTION, 0.02)  # warm-up
                times = []
                for _ in range(args.latency):
                    time.sleep(args.gap)
                    times.append(throughput(client, 1, args.timeout, "multi-head-matmul", MHM_SOLUTION, 0.02)[0])
                t0 = time.monotonic()
                subprocess.run([sys.executable, "-c", "import torch"], check=True)
                cold = time.monotonic() - t0
                med = statistics.median(times)
                print(f"multi-head-matmul, submit to verdict on a warm worker ({args.gap:g} s between): median "
                      f"{med:.2f} s over {len(times)} (min {min(times):.2f}, max {max(times):.2f}); "
                      f"cold `import torch` {cold:.2f} s; ratio {med / cold:.2f}")
            if args.saturate:
                saturate(client, args, data)
        print(
            f"end to end: {args.submissions} submissions graded in {wall:.1f} s "
            f"= {args.submissions / wall * 60:.1f} submissions/min"
        )
        lat, lat_wall = latency(url, token, ids, args.clients, args.requests)
        print(
            f"GET /api/v1/submissions/{{id}} with {args.clients} concurrent clients x "
            f"{args.requests} requests: p50 {statistics.median(lat):.1f} ms, "
            f"p90 {percentile(lat, 90):.1f} ms, p99 {percentile(lat, 99):.1f} ms, "
            f"{len(lat) / lat_wall:.0f} req/s"
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
