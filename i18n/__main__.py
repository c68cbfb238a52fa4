"""``python -m i18n check [--dir DIR]``: check the catalogs; exit 1 naming every problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from i18n.catalog import LOCALES_DIR
from i18n.check import OWN_CATALOGS
from i18n.check import check
from i18n.check import summary


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m i18n")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("check", help="both locales hold the same ids and placeholders")
    run.add_argument("--dir", type=Path, default=LOCALES_DIR, help="the locales directory")
    args = parser.parse_args(argv)
    directories = (args.dir, *OWN_CATALOGS) if args.dir == LOCALES_DIR else (args.dir,)
    problems = check(*directories)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"i18n: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"i18n: OK ({summary(*directories)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
