"""``python -m participation tally EXPORT_DIR``: recount from an export alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image

from i18n import Catalog
from ledger import Ledger
from participation.__main__ import main
from participation.domain import events as ev
from participation.service import ParticipationService
from participation.tally import tally
from tests.participation.conftest import Clock
from tests.participation.scenario import ROUND
from tests.participation.scenario import run_round
from tests.participation.tally_ledger import LedgerBuilder
from tests.participation.tally_ledger import rules
from tests.participation.test_tally import four_proposals

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load()


def export(directory: Path, b: LedgerBuilder) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "entries.jsonl").write_bytes(b"\n".join(b.lines()) + b"\n")
    return directory


def publish(b: LedgerBuilder, digest: str | None = None) -> None:
    results = tally(b.leaves)
    b.add(
        ev.ResultsPublished(
            tally_version=1,
            upto=results.upto,
            results_sha256=digest or results.sha256(),
            ranking=results.ranking,
            selected=results.selected,
        )
    )


def test_recount_of_a_published_round_from_the_service_matches(
    service: ParticipationService, ledger: Ledger, clock: Clock, tmp_path: Path, capsys
):
    run_round(service, clock)
    ledger.export(tmp_path / "export")
    status = main(
        [
            "tally",
            str(tmp_path / "export"),
            "--round",
            ROUND,
            "--csv",
            str(tmp_path / "r.csv"),
            "--xlsx",
            str(tmp_path / "r.xlsx"),
            "--chart",
            str(tmp_path / "r.png"),
        ],  # fmt: skip
        CATALOG,
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "발표된 결과와 같습니다" in out
    published = service.results(ROUND)
    assert published is not None
    # the proposals as residents know them, "#3", in the published order
    table = out.split("\n\n")[1].splitlines()[2:]
    numbers = ["#" + proposal.rsplit("-", 1)[1] for proposal in published["ranking"]]
    assert [line.split()[1] for line in table] == numbers
    assert len((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()) == 1 + len(
        published["ranking"]
    )
    assert load_workbook(tmp_path / "r.xlsx").sheetnames == ["결과", "규칙"]
    with Image.open(tmp_path / "r.png") as image:
        assert image.format == "PNG"


def test_recount_runs_as_a_command_in_english(tmp_path):
    b = four_proposals()
    publish(b)
    folder = export(tmp_path / "export", b)
    done = subprocess.run(
        [sys.executable, "-m", "participation", "tally", str(folder), "--locale", "en"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Equals the published results" in done.stdout
    assert "Skipped: over budget" in done.stdout
    assert "(50×J + 30×O + 20×N) ÷ 100" in done.stdout


def test_a_digest_that_differs_from_the_recount_exits_2(tmp_path, capsys):
    b = four_proposals()
    publish(b, digest="0" * 64)
    assert main(["tally", str(export(tmp_path / "x", b))], CATALOG) == 2
    assert "발표된 결과와 다릅니다" in capsys.readouterr().out


def test_entries_after_the_publication_do_not_change_the_recount(tmp_path, capsys):
    b = four_proposals()
    publish(b)
    b.like("r:late", "r1-3")  # after results.published: outside its upto
    assert main(["tally", str(export(tmp_path / "x", b))], CATALOG) == 0


def test_unpublished_round_prints_provisional_results(tmp_path, capsys):
    assert main(["tally", str(export(tmp_path / "x", four_proposals()))], CATALOG) == 0
    out = capsys.readouterr().out
    assert "잠정 결과" in out
    assert ["1", "#1"] in [line.split()[:2] for line in out.splitlines()]  # rank 1, number 1


def test_missing_export_exits_1(tmp_path, capsys):
    assert main(["tally", str(tmp_path / "nothing")], CATALOG) == 1
    assert "entries.jsonl" in capsys.readouterr().err


def test_unsupported_tally_version_exits_1_naming_it(tmp_path, capsys):
    b = LedgerBuilder()
    payload = rules().to_payload()
    payload["tally_version"] = 7
    b.add(ev.RoundOpened(rules=payload))
    assert main(["tally", str(export(tmp_path / "x", b)), "--locale", "en"], CATALOG) == 1
    assert "tally version 7" in capsys.readouterr().err


def test_several_rounds_need_a_round_option(tmp_path, capsys):
    b = four_proposals()
    other = LedgerBuilder("r2")
    other.leaves = b.leaves
    other.open(rules(title="second"))
    folder = export(tmp_path / "x", b)
    assert main(["tally", str(folder)], CATALOG) == 1
    assert "r1, r2" in capsys.readouterr().err
    assert main(["tally", str(folder), "--round", "r1"], CATALOG) == 0


@pytest.mark.parametrize("line", [b"{not json", b'{"entry": {"seq": "x"}}'])
def test_a_garbled_export_line_exits_1(tmp_path, capsys, line):
    folder = export(tmp_path / "x", four_proposals())
    with (folder / "entries.jsonl").open("ab") as handle:
        handle.write(line + b"\n")
    assert main(["tally", str(folder)], CATALOG) == 1
    err = capsys.readouterr().err
    assert "장부 항목" in err and "%(" not in err


def test_several_rounds_are_named_with_the_option_that_picks_one(tmp_path, capsys):
    """Once a second round opens, the documented `tally DIR` must say how to go on: not
    'round  has no opening entry' with an empty round id."""
    b = four_proposals()
    other = LedgerBuilder("r2")
    other.leaves = b.leaves
    other.open(rules(title="second"))
    folder = export(tmp_path / "x", b)
    for locale in ("ko", "en"):
        assert main(["tally", str(folder), "--locale", locale], CATALOG) == 1
        err = capsys.readouterr().err
        assert "r1, r2" in err and "--round r2" in err, err
        assert "공모 의" not in err and "round  " not in err and "round." not in err, err


def test_the_option_shown_picks_the_newest_round_with_published_results(tmp_path, capsys):
    b = four_proposals()
    publish(b)
    other = LedgerBuilder("r2")
    other.leaves = b.leaves
    other.open(rules(title="second"))  # opened after r1's results, nothing published yet
    assert main(["tally", str(export(tmp_path / "x", b))], CATALOG) == 1
    assert "--round r1)" in capsys.readouterr().err


def test_an_export_without_any_round_says_so(tmp_path, capsys):
    folder = export(tmp_path / "x", LedgerBuilder())
    assert main(["tally", str(folder)], CATALOG) == 1
    err = capsys.readouterr().err
    assert "공모 의" not in err and "시작된 공모" in err, err
