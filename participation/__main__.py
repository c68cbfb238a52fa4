"""``python -m participation tally EXPORT_DIR``: recompute a round's results from an export.

Reads ``EXPORT_DIR/entries.jsonl`` (one ledger leaf per line, as ``python -m ledger export``
writes it), recomputes the results with :func:`participation.tally.tally` and prints the ranked
table and the formula. When the round has published results (a ``results.published`` entry),
the recomputation covers the same entries (``upto``) and its SHA-256 is compared with the
published one. Signatures are not checked here: run ``python -m ledger verify`` for that.

Exit status: 0 when the results were computed (and equal the published ones, if any);
1 when they cannot be computed; 2 when they differ from the published results.

This command is a small composition root: the only module of ``participation`` that imports
``i18n`` (for the texts it prints); the import contract names this exception.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from i18n import DEFAULT_LOCALE
from i18n import LOCALES
from i18n import Catalog
from participation import report
from participation.domain import events as ev
from participation.sheets import Texts
from participation.tally import Results
from participation.tally import TallyError
from participation.tally import opened_rounds
from participation.tally import read_entry
from participation.tally import tally


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m participation")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("tally", help="recompute a round's results from a ledger export")
    run.add_argument("export", type=Path, help="directory holding entries.jsonl")
    run.add_argument("--round", help="round id (needed when the export holds several rounds)")
    run.add_argument("--locale", choices=LOCALES, default=DEFAULT_LOCALE)
    run.add_argument("--csv", type=Path, help="also write the table as CSV")
    run.add_argument("--xlsx", type=Path, help="also write an XLSX workbook")
    run.add_argument("--chart", type=Path, help="also write a PNG chart")
    return parser


def main(argv: Sequence[str] | None = None, catalog: Catalog | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    texts = catalog or Catalog.load()
    locale: str = args.locale
    path = args.export / "entries.jsonl" if args.export.is_dir() else args.export
    if not path.is_file():
        print(texts.text(locale, "report.cli.no_export", path=str(args.export)), file=sys.stderr)
        return 1
    try:
        results, published = recount(path.read_bytes().splitlines(), args.round)
    except TallyError as err:
        print(texts.text(locale, err.key, **err.params), file=sys.stderr)
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
    _write_files(args, results, texts, locale)
    return status


def recount(lines: Sequence[bytes], round_id: str | None) -> tuple[Results, dict[str, Any] | None]:
    """Return the recomputed results and the last ``results.published`` body (with its seq).

    Raises:
        TallyError: see :func:`participation.tally.tally`.
    """
    entries = [read_entry(line) for line in lines if line.strip()]
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


if __name__ == "__main__":
    sys.exit(main())
