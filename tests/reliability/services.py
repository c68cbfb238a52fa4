"""Private PostgreSQL and Redis servers that a test may crash and restart.

Never the machine's shared ones (other people's tests use them): a PostgreSQL cluster made
with `initdb` in a temporary directory on a free port (as the `postgres` user when the test
runs as root), and redis-server on a unix socket with AOF (`tests.gateway.support.RedisServer`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from tests.gateway.support import RedisServer
from tests.reliability.stack import free_port

__all__ = ["PrivatePostgres", "RedisServer", "postgres_bin"]


def postgres_bin() -> Path | None:
    """Return the directory of initdb/pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb") or shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster; `crash()` stops it like a power cut (immediate mode)."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        # Not under pytest's tmp_path: as root that is mode 0700, closed to the postgres user.
        directory = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
        self.bin, self.dir = bindir, directory
        self.data, self.sockets = directory / "data", directory / "sock"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def init(self) -> PrivatePostgres:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> PrivatePostgres:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "30",
                  "-l", str(self.dir / "server.log"), "start")  # fmt: skip
        return self

    def crash(self) -> None:
        """Stop at once, without a checkpoint (recovery replays the WAL at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def answers(self) -> bool:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.answers():
            if time.monotonic() > deadline:
                raise AssertionError("private PostgreSQL did not come back")
            time.sleep(0.1)
