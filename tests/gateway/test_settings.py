"""Settings: embedded defaults, generated secrets, every problem reported at once."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gateway.settings import ConfigError
from gateway.settings import Settings


def test_nothing_configured_means_embedded_defaults(tmp_path: Path):
    s = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert s.sandbox and s.embedded_redis and s.webhook_url is None
    assert s.database_url == f"sqlite:///{tmp_path}/ttabok.db"
    assert s.ledger_key_file == tmp_path / "ledger.key"
    assert (s.public_channel, s.block_seconds, s.default_locale, s.port) == (
        "@gg_ledger", 600, "ko", 8080,
    )  # fmt: skip
    assert len(s.pseudonym_pepper) == 32 and len(s.webhook_secret) == 64


def test_generated_secrets_are_private_and_stable(tmp_path: Path):
    first = Settings.from_env({"VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert first.pseudonym_pepper == second.pseudonym_pepper
    assert first.webhook_secret == second.webhook_secret
    for name in ("pepper", "webhook.secret"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o600


def test_secrets_stay_out_of_repr(tmp_path: Path):
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "1:" + "x" * 35,
                           "PSEUDONYM_PEPPER": base64.b64encode(b"p" * 32).decode(),
                           "LEDGER_KEY_FILE": str(_key(tmp_path))})  # fmt: skip
    text = repr(s)
    assert "xxxxx" not in text and s.webhook_secret not in text and "sqlite" not in text


def _key(tmp_path: Path) -> Path:
    path = tmp_path / "k.key"
    path.write_text("key")
    path.chmod(0o600)
    return path


def test_every_problem_is_reported_at_once(tmp_path: Path):
    bad_key = tmp_path / "open.key"
    bad_key.write_text("k")
    bad_key.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({
            "VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "not-a-token",
            "TELEGRAM_WEBHOOK_URL": "http://plain.example/telegram", "BLOCK_SECONDS": "ten",
            "PORT": "70000", "DATABASE_URL": "mysql://x", "REDIS_URL": "http://r",
            "DEFAULT_LOCALE": "fr", "PUBLIC_CHANNEL": "gg_ledger", "LEDGER_KEY_FILE": str(bad_key),
            "PSEUDONYM_PEPPER": "c2hvcnQ=", "TELEGRAM_WEBHOOK_SECRET": "has spaces",
        })  # fmt: skip
    text = str(caught.value)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "BLOCK_SECONDS", "PORT",
                 "DATABASE_URL", "REDIS_URL", "DEFAULT_LOCALE", "PUBLIC_CHANNEL",
                 "LEDGER_KEY_FILE", "PSEUDONYM_PEPPER", "TELEGRAM_WEBHOOK_SECRET"):  # fmt: skip
        assert name in text
    assert len(caught.value.problems) == 11


def test_production_requires_its_secrets(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "123:" + "a" * 35,
                           "TELEGRAM_WEBHOOK_URL": "https://bot.example/telegram"})  # fmt: skip
    problems = " ".join(caught.value.problems)
    assert "PSEUDONYM_PEPPER is required" in problems
    assert "TELEGRAM_WEBHOOK_SECRET is required" in problems
    assert "does not exist" in problems
    assert not (tmp_path / "pepper").exists()


def test_public_base_url_follows_port(tmp_path: Path):
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "PORT": "9000"})
    assert s.public_base_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 0.5), ("0.25", 0.25), ("5", 5.0), ("100", 100.0)]
)
def test_worker_switch_interval(tmp_path: Path, raw: str, expected: float):
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "WORKER_SWITCH_INTERVAL_MS": raw})
    assert s.worker_switch_interval_ms == expected


@pytest.mark.parametrize("raw", ["0", "-1", "1000", "nan", "inf", "fast"])
def test_worker_switch_interval_out_of_range_is_a_problem(tmp_path: Path, raw: str):
    with pytest.raises(ConfigError, match="WORKER_SWITCH_INTERVAL_MS"):
        Settings.from_env({"VAR_DIR": str(tmp_path), "WORKER_SWITCH_INTERVAL_MS": raw})


def test_the_worker_role_applies_the_switch_interval(tmp_path: Path, monkeypatch):
    import sys

    from gateway import __main__ as cli
    from gateway import processes

    async def no_worker(_rt: object, _stopper: object) -> None:
        return None

    monkeypatch.setattr(processes, "worker_main", no_worker)
    monkeypatch.setattr(processes, "install_signals", lambda _stopper: None)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("WORKER_SWITCH_INTERVAL_MS", "0.25")
    before = sys.getswitchinterval()
    try:
        assert cli.main(["worker"]) == 0
        assert sys.getswitchinterval() == pytest.approx(0.00025)
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize(("raw", "expected"), [("", "uvloop"), ("asyncio", "asyncio"),
                                               (" UVLOOP ", "uvloop")])  # fmt: skip
def test_event_loop(tmp_path: Path, raw: str, expected: str):
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "EVENT_LOOP": raw})
    assert s.event_loop == expected


def test_an_unknown_event_loop_is_a_problem(tmp_path: Path):
    with pytest.raises(ConfigError, match="EVENT_LOOP must be uvloop or asyncio"):
        Settings.from_env({"VAR_DIR": str(tmp_path), "EVENT_LOOP": "trio"})


@pytest.mark.parametrize(("raw", "loop_module"), [("", "uvloop"), ("asyncio", "asyncio")])
@pytest.mark.parametrize("role", ["worker", "clock"])
def test_the_worker_and_clock_roles_run_on_the_chosen_loop(
    tmp_path: Path, monkeypatch, role: str, raw: str, loop_module: str
):
    import asyncio
    import sys

    from gateway import __main__ as cli
    from gateway import processes

    seen: list[str] = []

    async def role_main(_rt: object, _stopper: object) -> None:
        seen.append(type(asyncio.get_running_loop()).__module__.split(".")[0])
        await asyncio.to_thread(lambda: None)  # the worker's hops run on this loop's executor

    monkeypatch.setattr(processes, f"{role}_main", role_main)
    monkeypatch.setattr(processes, "install_signals", lambda _stopper: None)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("EVENT_LOOP", raw)
    before = sys.getswitchinterval()
    try:
        assert cli.main([role]) == 0
    finally:
        sys.setswitchinterval(before)
    assert seen == [loop_module]
