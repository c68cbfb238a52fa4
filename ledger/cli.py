"""`python -m ledger keygen | export | verify`: the ledger's command line.

What it prints is in Korean (the default) or English: `--locale ko|en`, or English when
LC_ALL, LC_MESSAGES or LANG names it. Texts come from the `ledger` catalog (`ledger.messages`),
argparse's own ("usage:", "the following arguments are required") too (`ledger.argparser`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ledger.argparser import Parser
from ledger.argparser import locale_of
from ledger.errors import LedgerError
from ledger.errors import NoLedger
from ledger.keys import LedgerKey
from ledger.log import Ledger
from ledger.messages import LOCALES
from ledger.messages import Message
from ledger.messages import locale_from_environment
from ledger.messages import text
from ledger.notefile import read_note
from ledger.remote import verify_url
from ledger.verify import Name
from ledger.verify import VerificationFailed
from ledger.verify import verify_export


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code (0 ok, 1 failed, 2 usage)."""
    locale = locale_of(sys.argv[1:] if argv is None else argv, locale_from_environment())
    parser = _parser(locale)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args, locale)
        return code
    except VerificationFailed as err:
        print(text(locale, "ledger.cli.failed", reason=err.text(locale)), file=sys.stderr)
        return 1
    except LedgerError as err:  # ours: said in the reader's language (err.said)
        print(text(locale, "ledger.cli.error", detail=err.said), file=sys.stderr)
        return 1
    except OSError as err:  # the system's own words (strerror), English
        print(text(locale, "ledger.cli.error", detail=str(err)), file=sys.stderr)
        return 1


def _parser(locale: str) -> argparse.ArgumentParser:
    def t(key: str) -> str:
        return text(locale, f"ledger.cli.help.{key}")

    parser = Parser(prog="python -m ledger", description=t("description"), locale=locale)
    parser.add_argument("--locale", choices=LOCALES, help=t("locale"))
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    keygen = commands.add_parser("keygen", help=t("keygen"))
    keygen.add_argument("--name", required=True, help=t("name"))
    keygen.add_argument("--out", required=True, type=Path, help=t("key_out"))
    keygen.set_defaults(run=_keygen)
    export = commands.add_parser("export", help=t("export"))
    export.add_argument("--db", required=True, help=t("db"))
    export.add_argument("--out", required=True, type=Path, help=t("export_out"))
    export.add_argument("--origin", help=t("origin"))
    export.set_defaults(run=_export, parser=export)
    verify = commands.add_parser("verify", help=t("verify"))
    verify.add_argument("directory", nargs="?", type=Path, help=t("directory"))
    verify.add_argument("--url", help=t("url"))
    verify.add_argument("--vkey", help=t("vkey"))
    verify.add_argument(
        "--checkpoint", action="append", default=[], type=Path, help=t("checkpoint")
    )
    verify.add_argument("--processes", type=int, help=t("processes"))
    verify.add_argument("--out", type=Path, help=t("verify_out"))
    verify.set_defaults(run=_verify, parser=verify)
    for command in (keygen, export, verify):  # also after the command, as the README writes it
        command.add_argument("--locale", choices=LOCALES, help=t("locale"))
    return parser


def _keygen(args: argparse.Namespace, locale: str) -> int:
    key = LedgerKey.generate(args.name)
    key.to_file(args.out)
    print(key.vkey)  # the key itself, alone on its line: scripts read it
    return 0


def _export(args: argparse.Namespace, locale: str) -> int:
    try:
        log = Ledger.open_reader(args.db, args.origin)
    except NoLedger as err:  # a mistyped path or URL: nothing to export, nothing created
        parser: argparse.ArgumentParser = args.parser
        parser.error(err.text(locale))
    try:
        checkpoint = log.export(args.out)
    finally:
        log.close()
    size = 0 if checkpoint is None else checkpoint.size
    print(text(locale, "ledger.cli.exported", size=size, origin=log.origin, path=str(args.out)))
    return 0


def _verify(args: argparse.Namespace, locale: str) -> int:
    parser: argparse.ArgumentParser = args.parser
    if (args.directory is None) == (args.url is None):
        parser.error(text(locale, "ledger.cli.dir_or_url"))
    vkey = args.vkey
    if vkey is not None and Path(vkey).is_file():
        vkey = Path(vkey).read_text(encoding="utf-8")
    # A checkpoint copied from a channel post or a web page is not the published bytes:
    # no final newline (Telegram trims messages), CRLF or a byte-order mark (Windows),
    # trailing spaces, the post's other lines around it. The tolerance is here, in the
    # reading layer (ledger.notefile); the note it finds is checked strictly as signed.
    older: dict[Name, str] = {}  # a failure names the file
    for path in args.checkpoint:
        try:
            held = read_note(path)
        except UnicodeDecodeError:
            parser.error(text(locale, "ledger.cli.checkpoint_not_text", path=str(path)))
        except OSError:
            parser.error(text(locale, "ledger.cli.checkpoint_unreadable", path=str(path)))
        older[Message.of("ledger.checkpoint.file", path=str(path))] = held
    if args.out is not None and args.url is None:
        parser.error(text(locale, "ledger.cli.out_needs_url"))
    export_files = ("entries.jsonl", "checkpoint", "vkey")
    if args.directory is not None and not any((args.directory / f).exists() for f in export_files):
        # nothing to check (a typo, the wrong folder): not a failed verification
        parser.error(text(locale, "ledger.cli.no_export", path=str(args.directory)))
    if args.url is not None:
        report = verify_url(
            args.url, vkey=vkey, checkpoints=older, processes=args.processes, out=args.out
        )
    else:
        report = verify_export(
            args.directory, vkey=vkey, checkpoints=older, processes=args.processes
        )
    keys = ", ".join(report.key_ids)
    print(
        text(
            locale,
            "ledger.cli.ok",
            size=report.size,
            root=report.root.hex(),
            count=len(report.checkpoint_sizes),
            sizes=", ".join(map(str, report.checkpoint_sizes)),
            keys=keys,
        )
    )
    if not older:
        source = "you" if args.vkey is not None else "server" if args.url is not None else "export"
        print(text(locale, f"ledger.cli.note_{source}", keys=keys))
    if args.out is not None:
        print(text(locale, "ledger.cli.written", path=str(args.out)))
    return 0
