"""`python -m ledger keygen | export | verify`: the ledger's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ledger.errors import LedgerError
from ledger.keys import LedgerKey
from ledger.log import Ledger
from ledger.remote import verify_url
from ledger.verify import VerificationFailed
from ledger.verify import verify_export


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code (0 ok, 1 failed, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except VerificationFailed as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    except (LedgerError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ledger", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    keygen = commands.add_parser("keygen", help="make a signing key (file mode 0600)")
    keygen.add_argument("--name", required=True, help="key name, e.g. the log origin")
    keygen.add_argument("--out", required=True, type=Path, help="key file to create")
    keygen.set_defaults(run=_keygen)
    export = commands.add_parser("export", help="write entries.jsonl, checkpoint and vkey")
    export.add_argument("--db", required=True, help="SQLAlchemy database URL")
    export.add_argument("--out", required=True, type=Path, help="directory to write")
    export.add_argument("--origin", help="which log, when the database holds several")
    export.set_defaults(run=_export)
    verify = commands.add_parser("verify", help="verify an export or a running instance")
    verify.add_argument("directory", nargs="?", type=Path, help="export directory")
    verify.add_argument("--url", help="base URL of a running instance (instead of a directory)")
    verify.add_argument("--vkey", help="the verifier key you trust (text or a file)")
    verify.add_argument(
        "--checkpoint", action="append", default=[], type=Path,
        help="an older checkpoint you hold (repeatable); must be a prefix of this log",
    )  # fmt: skip
    verify.add_argument("--processes", type=int, help="worker processes (default: all cores)")
    verify.add_argument(
        "--out", type=Path,
        help="with --url: keep the verified download here as an export directory "
        "(for python -m participation tally)",
    )  # fmt: skip
    verify.set_defaults(run=_verify, parser=verify)
    return parser


def _keygen(args: argparse.Namespace) -> int:
    key = LedgerKey.generate(args.name)
    key.to_file(args.out)
    print(key.vkey)
    return 0


def _export(args: argparse.Namespace) -> int:
    log = Ledger.open_reader(args.db, args.origin)
    try:
        checkpoint = log.export(args.out)
    finally:
        log.close()
    size = 0 if checkpoint is None else checkpoint.size
    print(f"exported {size} entries of {log.origin} to {args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    if (args.directory is None) == (args.url is None):
        args.parser.error("give an export DIRECTORY or --url, not both")
    vkey = args.vkey
    if vkey is not None and Path(vkey).is_file():
        vkey = Path(vkey).read_text(encoding="utf-8")
    # A checkpoint copied from a channel post has lost its final newline (Telegram trims
    # messages) and may carry blank lines or indentation around it: the note is the text
    # between them, and ends with exactly one newline.
    older = {  # a failure names the file
        f"the checkpoint in {path}": path.read_text(encoding="utf-8").strip() + "\n"
        for path in args.checkpoint
    }
    if args.out is not None and args.url is None:
        args.parser.error("--out keeps what --url downloads; an export directory is already one")
    export_files = ("entries.jsonl", "checkpoint", "vkey")
    if args.directory is not None and not any((args.directory / f).exists() for f in export_files):
        # nothing to check (a typo, the wrong folder): not a failed verification
        args.parser.error(f"{args.directory} holds no export (entries.jsonl, checkpoint, vkey)")
    if args.url is not None:
        report = verify_url(
            args.url, vkey=vkey, checkpoints=older, processes=args.processes, out=args.out
        )
    else:
        report = verify_export(
            args.directory, vkey=vkey, checkpoints=older, processes=args.processes
        )
    print(
        f"OK: {report.size} entries, root {report.root.hex()}, "
        f"{len(report.checkpoint_sizes)} checkpoint size(s) consistent "
        f"({', '.join(map(str, report.checkpoint_sizes))}), keys: {', '.join(report.key_ids)}"
    )
    if not older:
        source = (
            "you gave" if args.vkey is not None
            else "the server gave" if args.url is not None
            else "the export carries"
        )  # fmt: skip
        print(
            f"note: no --checkpoint of yours was given, so this shows the log is whole and "
            f"consistent under the key {source} ({', '.join(report.key_ids)}), not that it is "
            f"the log whose block digests were posted in the public channel; to check that, "
            f"pass --checkpoint FILE with a checkpoint copied from a channel post"
        )
    if args.out is not None:
        print(f"export written to {args.out}")
    return 0
