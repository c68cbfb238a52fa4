"""``python -m participation tally EXPORT_DIR``: recompute a round's results from an export.

Reads ``EXPORT_DIR/entries.jsonl`` (one ledger leaf per line, as ``python -m ledger export``
writes it), recomputes the results with :func:`participation.tally.tally` and prints the ranked
table and the formula. When the round has published results (a ``results.published`` entry),
the recomputation covers the same entries (``upto``) and its SHA-256 is compared with the
published one. Signatures are not checked here: run ``python -m ledger verify`` for that.

With ``--openings FILE`` (a round's ``/results/<round>/openings.json``; the round is then
the one it names unless ``--round`` is given) it also checks the titles published with the
results against the export (``participation.opening``): each opening must recompute the
``content_c`` of the latest entry that set that proposal's content, each withheld title must
be borne out by the ledger (erased, or hidden), and no listed proposal may be left out. It
prints the ranked proposals' titles marked verified, and each failure naming its ledger index.

It speaks Korean unless asked otherwise: ``--locale en``, or LC_ALL/LC_MESSAGES/LANG set to
English; its help and argparse's own texts (usage, a missing argument) too
(``ledger.argparser``; the help lines are ``report.cli.help.*``).

Exit status: 0 when the results were computed (and equal the published ones, if any, and the
titles verify); 1 when they cannot be computed or the openings cannot be read; 2 when they
differ from the published results; 3 when the results equal them but a title fails.

This command is a small composition root: the only module of ``participation`` that imports
``i18n`` (for the texts it prints); the import contract names this exception.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from i18n import LOCALES
from i18n import Catalog
from ledger.argparser import Parser
from ledger.argparser import locale_of
from ledger.messages import locale_from_environment
from participation import report
from participation.domain import events as ev
from participation.opening import WITHHELD_LATER
from participation.opening import Finding
from participation.opening import Openings
from participation.opening import OpeningsMalformed
from participation.opening import check_openings
from participation.opening import parse_openings
from participation.sheets import Texts
from participation.tally import Results
from participation.tally import TallyError
from participation.tally import opened_rounds
from participation.tally import read_entry
from participation.tally import tally


def _parser(texts: Texts, locale: str) -> argparse.ArgumentParser:
    """Return the parser, speaking `locale` (its help and argparse's own texts)."""

    def t(key: str) -> str:
        return texts.text(locale, f"report.cli.help.{key}")

    parser = Parser(prog="python -m participation", locale=locale)
    parser.add_argument("--locale", choices=LOCALES, default=locale, help=t("locale"))
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("tally", help=t("tally"))
    run.add_argument("export", type=Path, help=t("export"))
    run.add_argument("--round", help=t("round"))
    run.add_argument("--locale", choices=LOCALES, default=locale, help=t("locale"))
    run.add_argument("--csv", type=Path, help=t("csv"))
    run.add_argument("--xlsx", type=Path, help=t("xlsx"))
    run.add_argument("--chart", type=Path, help=t("chart"))
    run.add_argument("--openings", type=Path, help=t("openings"))
    return parser


def main(argv: Sequence[str] | None = None, catalog: Catalog | None = None) -> int:
    """Run the command line; return the exit status.

    The language is `--locale`, else English when LC_ALL, LC_MESSAGES or LANG names it, else
    Korean; argparse's own texts (usage, a missing argument) follow it (`ledger.argparser`)."""
    argv = sys.argv[1:] if argv is None else argv
    texts = catalog or Catalog.load()
    args = _parser(texts, locale_of(argv, locale_from_environment())).parse_args(argv)
    locale: str = args.locale
    path = args.export / "entries.jsonl" if args.export.is_dir() else args.export
    if not path.is_file():
        print(texts.text(locale, "report.cli.no_export", path=str(args.export)), file=sys.stderr)
        return 1
    try:
        doc = None if args.openings is None else _read_openings(args.openings)
        round_id = args.round or (doc.round if doc else None)
        entries = [read_entry(line) for line in path.read_bytes().splitlines() if line.strip()]
        results, published = recount_entries(entries, round_id)
    except OpeningsMalformed as err:
        why = texts.text(locale, f"report.openings_why.{err.why}", **err.params)
        print(texts.text(locale, err.key, path=str(args.openings), reason=why), file=sys.stderr)
        return 1
    except TallyError as err:
        print(texts.text(locale, err.key, path=str(args.openings), **err.params), file=sys.stderr)
        return 1
    print(_summary(results, texts, locale))
    status = 0
    if published is None:
        print(texts.text(locale, "report.cli.not_published"))
    elif published["results_sha256"] == results.sha256():
        index, digest = published["seq"], results.sha256()
        print(texts.text(locale, "report.cli.published_match", index=index, digest=digest))
    else:
        status = 2
        print(
            texts.text(
                locale,
                "report.cli.published_differs",
                index=published["seq"],
                published=published["results_sha256"],
                computed=results.sha256(),
            )
        )
    if doc is not None:
        checked = _check_titles(args.openings, doc, entries, results, published, texts, locale)
        if checked == 1:
            return 1
        status = status or checked
    _write_files(args, results, texts, locale)
    return status


def recount(lines: Sequence[bytes], round_id: str | None) -> tuple[Results, dict[str, Any] | None]:
    """Return the recomputed results and the last ``results.published`` body (with its seq).

    Raises:
        TallyError: see :func:`participation.tally.tally`.
    """
    entries = [read_entry(line) for line in lines if line.strip()]
    return recount_entries(entries, round_id)


def recount_entries(
    entries: Sequence[dict[str, Any]], round_id: str | None
) -> tuple[Results, dict[str, Any] | None]:
    """:func:`recount` of entries already read (``read_entry``)."""
    if round_id is None:
        rounds = opened_rounds(entries)
        round_id = rounds[0] if len(rounds) == 1 else None
    published: dict[str, Any] | None = None
    for entry in sorted(entries, key=lambda e: int(e["seq"])):
        if entry["kind"] == ev.ResultsPublished.kind and entry["round"] == round_id:
            published = {**entry["body"], "seq": entry["seq"]}
    upto = published["upto"] if published else None
    return tally(entries, round_id, upto=upto), published


def _summary(results: Results, texts: Texts, locale: str) -> str:
    r = results.rules
    lines = [
        texts.text(
            locale,
            "report.cli.heading",
            title=r.title,
            round=results.round,
            version=r.tally_version,
            last=max(results.upto - 1, 0),
        ),
        "",
        report.text_table(results, texts, locale),
        "",
        texts.text(
            locale,
            "report.cli.summary",
            count=len(results.selected),
            amount=report.money(texts, locale, results.selected_budget),
            cap=report.money(texts, locale, r.budget_cap),
        ),
        texts.text(
            locale,
            "report.cli.voters",
            counted=results.online_voters_counted,
            over=results.online_voters_over_quota,
        ),
    ]
    if results.excluded:
        items = ", ".join(
            f"{p} ({texts.text(locale, f'report.excluded.{why}')})"
            for p, why in sorted(results.excluded.items())
        )
        lines.append(texts.text(locale, "report.cli.excluded", items=items))
    lines += ["", *report.explanation(results, texts, locale)]
    return "\n".join(lines)


def _write_files(args: argparse.Namespace, results: Results, texts: Catalog, locale: str) -> None:
    writers = (
        (args.csv, report.write_csv),
        (args.xlsx, report.write_xlsx),
        (args.chart, report.render_chart),
    )
    for target, write in writers:
        if target is not None:
            write(results, target, texts, locale)
            print(texts.text(locale, "report.cli.written", path=str(target)))


def _read_openings(path: Path) -> Openings:
    """Return the openings document at ``path``.

    Raises:
        OpeningsMalformed: the file cannot be read, or is not an openings document.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise OpeningsMalformed("not_found") from err
    except OSError as err:
        raise OpeningsMalformed("unreadable") from err
    return parse_openings(raw)


# Messages of a finding, by its code (and, when withheld or unfounded, its reason).
FINDING_KEYS = {
    "verified": "report.openings.verified",
    "withheld.erased": "report.openings.withheld_erased",
    "withheld.hidden": "report.openings.withheld_hidden",
    "withheld_later.erased": "report.openings.withheld_later_erased",
    "withheld_later.hidden": "report.openings.withheld_later_hidden",
    "mismatch": "report.openings.mismatch",
    "not_content_entry": "report.openings.not_content_entry",
    "superseded": "report.openings.superseded",
    "missing": "report.openings.missing",
    "unfounded.erased": "report.openings.unfounded_erased",
    "unfounded.hidden": "report.openings.unfounded_hidden",
    "unlisted": "report.openings.unlisted",
}
TITLE_SLOT = "\x00"  # the title goes in after the catalog's particles are attached


def _check_titles(
    path: Path,
    doc: Openings,
    entries: Sequence[dict[str, Any]],
    results: Results,
    published: dict[str, Any] | None,
    texts: Texts,
    locale: str,
) -> int:
    """Print the check of ``doc`` against the export; return 0 (every title verifies and every
    withholding is in the export), 1 (nothing to check it against), 3 (a failure) or 4 (no
    failure, but a withholding is said to be recorded after the export: only the server's
    word until a later download bears it out)."""
    if doc.round != results.round:
        message = texts.text(locale, "report.openings.other_round", path=str(path),
                             other=doc.round, round=results.round)  # fmt: skip
        print(message, file=sys.stderr)
        return 1
    if published is None:
        print(texts.text(locale, "report.openings.unpublished", round=results.round),
              file=sys.stderr)  # fmt: skip
        return 1
    findings = check_openings(entries, results, doc)
    print("\n" + texts.text(locale, "report.openings.heading", path=str(path), round=doc.round))
    failed = [f for f in findings if f.failed]
    if doc.results_index != published["seq"]:
        failed.append(Finding(proposal="", code="other_results", index=doc.results_index))
        print(texts.text(locale, "report.openings.other_results", index=doc.results_index,
                         published=published["seq"]))  # fmt: skip
    for finding in findings:
        print("  " + _finding_text(finding, texts, locale))
    if failed:
        print(texts.text(locale, "report.openings.failed", failed=len(failed)))
        return 3
    verified = sum(1 for f in findings if f.code == "verified")
    later = [f for f in findings if f.code == WITHHELD_LATER]
    print(texts.text(locale, "report.openings.ok", verified=verified,
                     withheld=len(findings) - verified - len(later)))  # fmt: skip
    if later:
        print(texts.text(locale, "report.openings.later_note", later=len(later),
                         have=later[0].params["have"], size=doc.size))  # fmt: skip
        return 4
    return 0


def _finding_text(finding: Finding, texts: Texts, locale: str) -> str:
    reason = finding.params.get("reason")
    key = FINDING_KEYS.get(f"{finding.code}.{reason}") or FINDING_KEYS[finding.code]
    text = texts.text(locale, key, index=finding.index, number=_number(finding.proposal),
                      title=TITLE_SLOT, **finding.params)  # fmt: skip
    return text.replace(TITLE_SLOT, _printable(finding.title or ""))


def _number(proposal: str) -> str:
    """Return the proposal as residents know it, "#3" for "<round>-3" (else its id)."""
    _head, dash, tail = proposal.rpartition("-")
    return f"#{tail}" if dash and tail.isascii() and tail.isdigit() else proposal


def _printable(title: str) -> str:
    """Return ``title`` with control and bidirectional formatting characters shown as U+FFFD:
    a title must not rewrite the terminal's line or reorder the text around it."""
    return "".join(
        "\ufffd" if unicodedata.category(ch) == "Cc" or unicodedata.bidirectional(ch) in
        ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI") else ch
        for ch in title
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
