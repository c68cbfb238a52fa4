"""Operators' commands: `python -m gateway round|official|onsite ...`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import rounds
from gateway.settings import Settings
from gateway.wiring import Runtime
from i18n.format import format_datetime
from webhook.onsite import view_key
from webhook.onsite import view_token

ROOT = Path(__file__).resolve().parents[2]
KST = dt.timezone(dt.timedelta(hours=9))


def rules_toml(days_from_now: int = 10) -> str:
    at = dt.datetime.now(KST).replace(microsecond=0) + dt.timedelta(days=days_from_now)
    stamp = lambda d: (at + dt.timedelta(days=d)).isoformat()  # noqa: E731
    return f"""
title = "2017 따복공동체 주민제안 공모사업"
budget_cap = 3_100_000_000
max_request = 10_000_000
[deadlines]
submission_ends = {stamp(0)}
endorsement_ends = {stamp(7)}
review_ends = {stamp(13)}
[weights]
judges = 50
onsite = 30
online = 20
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings.from_env({"VAR_DIR": str(tmp_path / "var")}))
    yield rt
    rt.close()


def run(runtime: Runtime, *argv: str) -> int:
    return rounds.main(list(argv), runtime)


def test_grant_create_open_list_and_advance_a_round(runtime, tmp_path, capsys):
    rules = tmp_path / "round.toml"
    rules.write_text(rules_toml(), encoding="utf-8")
    assert run(runtime, "official", "grant", "--user-id", "7000000201") == 0
    assert run(runtime, "round", "create", str(rules), "--id", "gg2017", "--open") == 0
    assert runtime.service.round("gg2017").phase == "submission"
    assert run(runtime, "round", "advance", "gg2017") == 0
    assert runtime.service.round("gg2017").phase == "endorsement"
    capsys.readouterr()
    assert run(runtime, "round", "list") == 0
    out = capsys.readouterr().out
    assert "gg2017" in out and "2017 따복공동체 주민제안 공모사업" in out
    assert "공감" in out and "endorsement" in out.lower()  # phase names, Korean then English
    kinds = [json.loads(leaf)["entry"]["kind"] for leaf in runtime.ledger.entries(0, 10)]
    assert kinds[:4] == ["official.granted", "round.created", "round.opened", "round.advanced"]


def test_a_second_first_official_is_refused(runtime, capsys):
    assert run(runtime, "official", "grant", "--user-id", "1") == 0
    assert run(runtime, "official", "grant", "--user-id", "2") == 1
    assert "이미" in capsys.readouterr().err


def test_rounds_need_an_official(runtime, tmp_path, capsys):
    rules = tmp_path / "round.toml"
    rules.write_text(rules_toml(), encoding="utf-8")
    assert run(runtime, "round", "create", str(rules)) == 1
    assert "official grant" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "status", "said"),
    [
        ("title = ", 2, "규칙 파일을 읽을 수 없습니다"),
        (rules_toml().replace("judges = 50", "judges = 60"), 1, "sum to 100"),
        (rules_toml(days_from_now=-30), 1, "has passed"),
    ],
    ids=["not TOML", "weights", "deadline passed"],
)
def test_bad_rules_files_are_refused_with_the_reason(runtime, tmp_path, capsys, content,
                                                      status, said):  # fmt: skip
    rules = tmp_path / "round.toml"
    rules.write_text(content, encoding="utf-8")
    run(runtime, "official", "grant", "--user-id", "1")
    assert run(runtime, "round", "create", str(rules), "--open") == status
    assert said in capsys.readouterr().err


def test_onsite_url_is_the_signed_projector_link(runtime, capsys):
    assert run(runtime, "onsite", "url", "abcd1234", "--bot", "@ttabok_bot") == 0
    out = capsys.readouterr().out
    token = view_token(view_key(runtime.settings.pseudonym_pepper), "abcd1234", "ttabok_bot")
    assert f"/onsite/abcd1234?bot=ttabok_bot&k={token}" in out


def test_python_m_gateway_round_create_from_a_file(tmp_path):
    rules = tmp_path / "round.toml"
    rules.write_text(rules_toml(), encoding="utf-8")
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    for key in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "LEDGER_KEY_FILE"):
        env.pop(key, None)

    def gateway(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert gateway("official", "grant", "--user-id", "7000000201").returncode == 0
    made = gateway("round", "create", str(rules), "--id", "gg2017")
    assert made.returncode == 0, made.stderr
    assert "공모를 만들었습니다: gg2017" in made.stdout and "Round created: gg2017" in made.stdout


def test_an_operator_command_on_a_fresh_database_leaves_it_migratable(tmp_path, monkeypatch):
    """README's first step, `official grant`, may come before `migrate` or `run`: it used to
    create the tables without Alembic's stamp, and then migrate (and run) failed with
    'table ledger_logs already exists'."""
    from gateway.__main__ import main

    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    for name in ("DATABASE_URL", "REDIS_URL", "TELEGRAM_BOT_TOKEN", "LEDGER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["official", "grant", "--user-id", "7000000201"]) == 0
    assert main(["migrate"]) == 0
    assert main(["round", "list"]) == 0


def test_locale_before_or_after_a_command_runs_it(tmp_path, monkeypatch, capsys):
    """`--locale` is taken where `python -m ledger` takes it: before the command (it used to
    be read as a role: 'invalid choice'), or after it. What the command prints stays Korean,
    then English."""
    from gateway.__main__ import main

    # structlog would keep printing to this test's captured stdout after it is closed
    monkeypatch.setattr("gateway.__main__.configure", lambda *args, **kwargs: None)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    for name in ("DATABASE_URL", "REDIS_URL", "TELEGRAM_BOT_TOKEN", "LEDGER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--locale", "en", "official", "grant", "--user-id", "7000000201"]) == 0
    assert main(["--locale=ko", "migrate"]) == 0
    assert main(["round", "list", "--locale", "en"]) == 0
    assert main(["--locale", "en", "round", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("공모가 없습니다.") == 2 and out.count("There are no rounds.") == 2


def test_a_round_opened_too_late_names_its_deadline_as_dates_are_written_elsewhere(
    runtime, tmp_path, capsys
):
    """'제안 접수 마감(2017-02-10 18:00)이 이미 지나…': the service wrote the date into the
    refusal, unlike every other date an operator reads ('2017년 2월 10일 (금) 오후 6:00',
    'Fri 10 Feb 2017, 6:00 PM KST')."""
    rules = tmp_path / "round.toml"
    rules.write_text(rules_toml(days_from_now=-30), encoding="utf-8")
    run(runtime, "official", "grant", "--user-id", "1")
    assert run(runtime, "round", "create", str(rules), "--open") == 1
    said = capsys.readouterr().err
    deadline = tomllib.loads(rules.read_text(encoding="utf-8"))["deadlines"]["submission_ends"]
    for locale in ("ko", "en"):
        assert format_datetime(deadline, locale) in said
    assert deadline.strftime("%Y-%m-%d %H:%M") not in said
