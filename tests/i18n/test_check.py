from __future__ import annotations

from pathlib import Path

import pytest

from i18n.__main__ import main
from i18n.check import check

HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'


def write(root: Path, locale: str, domain: str, entries: list[tuple[str, str]], fuzzy=()) -> None:
    folder = root / locale / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    body = HEADER
    for key, text in entries:
        if key in fuzzy:
            body += "#, fuzzy\n"
        body += f'msgid "{key}"\nmsgstr "{text}"\n\n'
    (folder / f"{domain}.po").write_text(body, encoding="utf-8")


def test_matching_catalogs_have_no_problems(tmp_path):
    write(tmp_path, "ko", "bot", [("bot.hello", "%(name)s님, 안녕하세요")])
    write(tmp_path, "en", "bot", [("bot.hello", "Hello, %(name)s")])
    assert check(tmp_path) == []


@pytest.mark.parametrize(
    ("ko", "en", "fuzzy", "problem"),
    [
        ([("bot.a", "가")], [], (), "en/bot.po: bot.a: missing"),
        ([("bot.a", "")], [("bot.a", "A")], (), "ko/bot.po: bot.a: empty translation"),
        ([("bot.a", "가")], [("bot.a", "A")], ("bot.a",), "ko/bot.po: bot.a: fuzzy"),
        ([("bot.a", "%(n)s개")], [("bot.a", "%(m)s items")], (), "placeholders differ"),
        ([("bot.a", "%(n)d개")], [("bot.a", "%(n)s items")], (), "placeholders differ"),
        ([("bot.a", "%s개")], [("bot.a", "%s items")], (), "positional placeholder"),
        ([("hello", "가")], [("hello", "A")], (), "is not a dotted key"),
        ([("bot.a", "%(n)")], [("bot.a", "%(n)")], (), "does not format"),
    ],
)
def test_each_kind_of_problem_is_named(tmp_path, ko, en, fuzzy, problem):
    write(tmp_path, "ko", "bot", ko, fuzzy)
    write(tmp_path, "en", "bot", en)
    problems = check(tmp_path)
    assert any(problem in line for line in problems), problems


def test_a_domain_file_missing_in_one_locale_is_named(tmp_path):
    write(tmp_path, "ko", "bot", [("bot.a", "가")])
    (tmp_path / "en" / "LC_MESSAGES").mkdir(parents=True)
    assert "en/bot.po: missing (other locales have it)" in check(tmp_path)


def test_an_id_defined_by_two_domains_is_named(tmp_path):
    for domain in ("bot", "webhook"):
        write(tmp_path, "ko", domain, [("shared.a", "가")])
        write(tmp_path, "en", domain, [("shared.a", "A")])
    assert "webhook.po: shared.a: also defined in bot.po" in check(tmp_path)


def test_percent_literal_is_not_a_placeholder(tmp_path):
    write(tmp_path, "ko", "report", [("report.weight", "%(w)s%%")])
    write(tmp_path, "en", "report", [("report.weight", "%(w)s%%")])
    assert check(tmp_path) == []


def test_cli_exits_non_zero_naming_the_problem(tmp_path, capsys):
    write(tmp_path, "ko", "bot", [("bot.a", "가")])
    write(tmp_path, "en", "bot", [("bot.a", "")])
    assert main(["check", "--dir", str(tmp_path)]) == 1
    assert "en/bot.po: bot.a: empty translation" in capsys.readouterr().err


def test_cli_reports_ok_on_good_catalogs(tmp_path, capsys):
    write(tmp_path, "ko", "bot", [("bot.a", "가")])
    write(tmp_path, "en", "bot", [("bot.a", "A")])
    assert main(["check", "--dir", str(tmp_path)]) == 0
    assert "i18n: OK" in capsys.readouterr().out
