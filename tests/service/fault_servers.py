"""Real Redis and Postgres servers that a fault test can stop and start again on the same port
(the session-wide ones in servers.py are shared by every test and must stay up)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .servers import PG_BIN, _as_postgres, free_port, wait_port


class RestartableRedis:
    """redis-server on a fixed port; `appendonly` keeps messages across a restart."""

    def __init__(self, appendonly: bool = False) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not installed")
        self.exe = exe
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tj-redis-", dir="/tmp"))
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        """Kill it (no clean shutdown: nothing is saved that was not already)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP it: connections stay open and new ones are accepted by the kernel, but
        nothing is answered (a hung or swapped-out Redis)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT it: it answers everything it was sent meanwhile."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop it and remove its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RestartablePostgres:
    """A Postgres cluster of its own on a fixed port, restartable with pg_ctl."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"postgres binaries not found in {PG_BIN}")
        self.root = Path(tempfile.mkdtemp(prefix="tj-pgf-", dir="/tmp"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        self.port = free_port()
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                     "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)

    @property
    def url(self) -> str:
        """SQLAlchemy URL of its `tensorjudge` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/tensorjudge"

    def _ctl(self, *args: str) -> None:
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
                                     "-l", str(self.root / "log"), "-w", "-t", "60", *args]),
                       check=True, capture_output=True)

    def start(self, create: bool = False) -> None:
        """Start the cluster (and create the database the first time)."""
        self._ctl("start")
        if create:
            subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                                         "-U", "postgres", "tensorjudge"]), check=True, capture_output=True)

    def stop(self) -> None:
        """Fast shutdown: open connections are cut."""
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """What `pg_ctl restart -m fast` does."""
        self._ctl("-m", "fast", "restart")

    def close(self) -> None:
        """Stop it for good and remove its files."""
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                     "stop"]), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
