"""Start-up failures are told plainly (catalog texts, ko and en), never as a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    for name in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "LEDGER_KEY_FILE",
                 "TELEGRAM_API_BASE_URL", "PSEUDONYM_PEPPER", "PORT"):  # fmt: skip
        environ.pop(name, None)
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "gateway", *argv], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=90)  # fmt: skip


def assert_plain(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Traceback" not in out and "role_crashed" not in out, out
    for needle in needles:
        assert needle in out, out


@pytest.mark.parametrize("role", ["migrate", "run"])
def test_an_unreachable_database_is_named_without_its_password(tmp_path, role):
    url = f"postgresql+psycopg://postgres:s3cretpw@127.0.0.1:{closed_port()}/x"
    done = gateway(tmp_path, role, DATABASE_URL=url, PORT=str(closed_port()))
    assert_plain(done, "데이터베이스에 연결할 수 없습니다", "Cannot connect to the database",
                 url.replace("s3cretpw", "***"))  # fmt: skip
    assert "s3cretpw" not in done.stdout + done.stderr


def test_an_unreachable_redis_is_named_without_its_password(tmp_path):
    url = f"redis://:s3cretpw@127.0.0.1:{closed_port()}/0"
    done = gateway(tmp_path, "run", REDIS_URL=url, PORT=str(closed_port()))
    assert_plain(done, "Redis에 연결할 수 없습니다", "Cannot connect to Redis",
                 url.replace("s3cretpw", "***"))  # fmt: skip
    assert "s3cretpw" not in done.stdout + done.stderr
