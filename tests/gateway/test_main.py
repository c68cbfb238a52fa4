"""`python -m gateway`: each role has its own --help."""

from __future__ import annotations

import pytest

from gateway.__main__ import ROLES
from gateway.__main__ import main
from i18n.catalog import Catalog


@pytest.mark.parametrize("role", ["web", "worker", "clock", "run", "migrate"])
def test_each_role_has_its_own_help(role, capsys, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")  # Korean otherwise (test_main_language.py)
    monkeypatch.setenv("COLUMNS", "2000")
    with pytest.raises(SystemExit) as done:
        main([role, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m gateway {role} [-h]")
    assert Catalog.load().text("en", f"gateway.cli.help.{role}") in out


def test_the_top_level_help_lists_every_role(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(role in out for role in ROLES) and "deadletters" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["round", "--help"],
        ["round", "create", "--help"],
        ["official", "grant", "--help"],
        ["onsite", "url", "--help"],
        ["deadletters", "list", "--help"],
        ["round", "no-such-verb"],
    ],
)
def test_an_operators_help_or_usage_error_touches_nothing(argv, capsys, tmp_path, monkeypatch):
    """`--help` (or a mistyped command) answers before any settings are read: it used to
    create var/ledger.key, the pepper, the webhook secret and the database in the folder it
    was typed in."""
    for name in ("DATABASE_URL", "REDIS_URL", "LEDGER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == (2 if "no-such-verb" in argv else 0)
    assert capsys.readouterr()
    assert not (tmp_path / "var").exists()
