"""`python -m ledger export --db URL` on a URL that names no ledger says so, in Korean first.

An operator who mistyped the database path got a Python traceback ('no such table:
ledger_logs') and, worse, an empty SQLite file at the mistyped path: SQLite creates the file
when it connects. Now nothing is created, the message comes from the catalog (합쇼체, or
English with --locale en), and the exit code is the CLI's usage code (nothing was exported)
or, for a database that cannot be reached, its failure code.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from ledger import Ledger
from ledger import LedgerKey
from ledger.cli import main
from tests.ledger.conftest import ORIGIN
from tests.ledger.conftest import SEED

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _export(
    db: str, out: Path, locale: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    argv = ["export", "--db", db, "--out", str(out), "--locale", locale, *extra]
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(str(exited.code))
    said = capsys.readouterr()
    return code, said.out + said.err


def _plain(said: str, locale: str) -> None:
    assert "Traceback" not in said and "sqlalchemy" not in said and "sqlite3." not in said, said
    if locale == "ko":
        assert HANGUL.search(said), said
    else:
        assert not HANGUL.search(said), said


@pytest.mark.parametrize(("locale", "said"), [("ko", "파일이 없습니다"), ("en", "no such file")])
def test_a_mistyped_sqlite_path_creates_no_file_and_says_so(
    locale: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for typo in (tmp_path / "ttabok.dbb", tmp_path / "no-such-folder" / "ttabok.db"):
        code, out = _export(f"sqlite:///{typo}", tmp_path / "out", locale, capsys)
        assert code == 2 and said in out and str(typo) in out, out
        _plain(out, locale)
        assert not typo.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("locale", "said"), [("ko", "장부가 없습니다"), ("en", "holds no ledger")])
def test_a_database_without_ledger_tables_is_named_not_a_traceback(
    locale: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER)")
    conn.close()
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database\n", encoding="utf-8")
    for db in (other, text_file):
        code, out = _export(f"sqlite:///{db}", tmp_path / "out", locale, capsys)
        assert code == 2 and said in out and str(db) in out, out
        _plain(out, locale)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("locale", "said"), [("ko", "sqlite:///"), ("en", "sqlite:///")])
def test_a_path_that_is_not_a_url_gets_the_form_of_one(
    locale: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _export(str(tmp_path / "ttabok.db"), tmp_path / "out", locale, capsys)
    assert code == 2 and said in out and str(tmp_path / "ttabok.db") in out, out
    _plain(out, locale)
    for url in ("postgres://ledger:s3cret@127.0.0.1:9/x", "postgre sql://ledger:s3cret@h/x"):
        code, out = _export(url, tmp_path / "out", locale, capsys)  # not a dialect; not a URL
        assert code == 2 and said in out and "ledger:***@" in out and "s3cret" not in out, out
        _plain(out, locale)


@pytest.mark.parametrize(
    ("locale", "said"), [("ko", "연결할 수 없습니다"), ("en", "cannot connect")]
)
def test_an_unreachable_database_server_fails_without_a_traceback_or_its_password(
    locale: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://ledger:s3cret@127.0.0.1:9/ttabok"
    code, out = _export(url, tmp_path / "out", locale, capsys)
    assert code == 1 and said in out and "127.0.0.1" in out, out
    assert "s3cret" not in out and "Traceback" not in out, out


@pytest.mark.parametrize(("locale", "said"), [("ko", "장부가 없습니다"), ("en", "no log")])
def test_an_origin_the_database_does_not_hold_is_named_with_the_ones_it_does(
    locale: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.open(db, LedgerKey.from_seed(ORIGIN, SEED), ORIGIN).close()
    code, out = _export(db, tmp_path / "out", locale, capsys, "--origin", "typo.example/x")
    assert code == 2 and said in out and "typo.example/x" in out and ORIGIN in out, out
    _plain(out, locale)
    code, out = _export(db, tmp_path / "out", locale, capsys)
    assert code == 0 and ORIGIN in out, out
