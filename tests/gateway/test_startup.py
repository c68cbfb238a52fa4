"""Start-up failures are told plainly (catalog texts, ko and en), never as a traceback."""

from __future__ import annotations

import base64
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


def test_an_unreachable_bot_api_is_told_plainly_without_the_token(tmp_path):
    """With a well-formed token and Telegram out of reach, `run` printed its 'started' banner,
    then a role_crashed log with stack frames. TELEGRAM_API_BASE_URL points at a closed port,
    so the test never calls api.telegram.org."""
    from ledger import LedgerKey

    key = tmp_path / "ledger.key"
    LedgerKey.generate("ttabok.gg.go.kr").to_file(key)
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
    base = f"http://127.0.0.1:{closed_port()}/bot"
    done = gateway(tmp_path, "run", TELEGRAM_BOT_TOKEN=token, LEDGER_KEY_FILE=str(key),
                   PSEUDONYM_PEPPER=base64.b64encode(b"p" * 32).decode(),
                   TELEGRAM_API_BASE_URL=base, PORT=str(closed_port()))  # fmt: skip
    assert_plain(done, "텔레그램 Bot API", "Cannot reach the Telegram Bot API", base)
    out = done.stdout + done.stderr
    assert "ABCdefGHI" not in out and "게이트웨이가 시작되었습니다" not in out
    assert "gateway started" not in out


@pytest.mark.parametrize("argv", [["round", "list"], ["run"]])
def test_a_key_file_that_does_not_sign_the_ledger_says_what_to_do(tmp_path, argv):
    from ledger import LedgerKey

    assert gateway(tmp_path, "official", "grant", "--user-id", "7000000201").returncode == 0
    other = tmp_path / "other.key"
    LedgerKey.generate("elsewhere").to_file(other)
    done = gateway(tmp_path, *argv, LEDGER_KEY_FILE=str(other), PORT=str(closed_port()))
    assert_plain(done, "이 장부에 서명하는 키가 아닙니다", "LEDGER_KEY_FILE",
                 "not the key that signs this ledger", "Operations: Keys",
                 LedgerKey.from_file(other).key_id)  # fmt: skip
