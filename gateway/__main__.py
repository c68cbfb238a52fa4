"""`python -m gateway web|worker|clock|run|migrate`: the process entry points.

- `web`: the Flask app on werkzeug (production: gunicorn `gateway.wsgi:app`, see Procfile)
- `worker`: one update worker (run several; SIGTERM drains)
- `clock`: the scheduler and update feeder (a second copy stays idle)
- `run`: everything in one process on embedded defaults (sandbox when no token)
- `migrate`: apply the Alembic migrations to DATABASE_URL
- `round create|list|advance`, `official grant`, `onsite url`: operators' commands
  (gateway/rounds.py)
- `deadletters list|replay|drop`: the updates the workers gave up on (gateway/deadletters.py)

The help (lines `gateway.cli.help.*`) and argparse's own texts (usage, help headings, a
missing argument, a bad choice: `ledger.argparser`) are in one language: `--locale ko|en`,
before the role or command or after it (as `python -m ledger` takes it), else English when
LC_ALL, LC_MESSAGES or LANG names English, else Korean. What the commands print after parsing
is Korean, then English, whatever the language. Exit status 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from gateway.logging import configure
from gateway.settings import ConfigError
from gateway.settings import Settings
from gateway.startup import StartupFailed
from gateway.startup import check_database
from gateway.startup import check_ledger_key
from ledger.argparser import locale_of
from ledger.messages import locale_from_environment

ROOT = Path(__file__).resolve().parent.parent
log = structlog.get_logger("gateway")


def migrate(database_url: str) -> str:
    """Upgrade the database at `database_url` to the newest revision; return it."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    from ledger.store import make_engine

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            return str(MigrationContext.configure(conn).get_current_revision())
    finally:
        engine.dispose()


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as err:
        from i18n.catalog import Catalog

        catalog = Catalog.load()
        print(catalog.text("ko", "gateway.config.invalid"), file=sys.stderr)
        print(catalog.text("en", "gateway.config.invalid"), file=sys.stderr)
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _say(failure: StartupFailed) -> int:
    """Print why the process cannot start, in Korean and English; return the exit status."""
    from i18n.catalog import Catalog

    catalog = Catalog.load()
    for locale in ("ko", "en"):
        print(catalog.text(locale, failure.key, **failure.params), file=sys.stderr)
    return 1


def key_ids(settings: Settings) -> tuple[str, str]:
    """Return the key id of LEDGER_KEY_FILE and the key id that signs the ledger now."""
    from gateway.wiring import load_or_create_key
    from ledger import Ledger

    reader = Ledger.open_reader(settings.database_url, settings.ledger_origin)
    try:
        current = reader.vkeys()[-1]
    finally:
        reader.close()
    return load_or_create_key(settings).key_id, "+".join(current.split("+")[:2])


def preflight(runtime: Any, *, telegram: bool) -> None:
    """Check Redis, the ledger key and (with `telegram`, not in the sandbox) the Bot API.

    Raises:
        StartupFailed: what cannot be reached or does not match, as a catalog key.
    """
    from gateway import processes
    from gateway import startup

    s = runtime.settings
    startup.check_redis(runtime.redis, s.redis_url or "redis (embedded)")
    check_ledger_key(lambda: runtime.ledger, str(s.ledger_key_file), partial(key_ids, s))
    if telegram and not s.sandbox:
        base, files = runtime.bot_endpoints()
        startup.check_bot_api(lambda: processes.bot_username(runtime, base, files), base)


# operators' commands: gateway/rounds.py, and gateway/deadletters.py for `deadletters`
OPERATOR_COMMANDS = ("round", "official", "onsite", "deadletters")


# the roles; each one's help is gateway.cli.help.<role> (the top-level help lists them)
ROLES = ("web", "worker", "clock", "run", "migrate")


def command_of(argv: list[str]) -> str | None:
    """Return the role or operators' command `argv` names: its first word once a `--locale`
    before it is set aside (`--locale en round list`); None when there is none."""
    early = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    early.add_argument("--locale")
    try:
        _known, rest = early.parse_known_args(argv)
    except argparse.ArgumentError:  # `--locale` with no value: the parser will say so
        rest = argv
    return rest[0] if rest else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    locale = locale_of(argv, locale_from_environment())
    try:
        if command_of(argv) in OPERATOR_COMMANDS:
            return operate(argv, locale)
        return serve(argv, locale)
    except StartupFailed as failure:
        return _say(failure)


def serve(argv: list[str], locale: str) -> int:
    """Run one of the roles web, worker, clock, run, or migrate."""
    from gateway.rounds import operators
    from gateway.rounds import with_locale

    parser, roles, catalog, t = operators(locale, dest="role", metavar="ROLE")
    parser.description, parser.epilog = t("description"), t("operators")
    for role in ROLES:
        with_locale(roles.add_parser(role, help=t(role), description=t(role)), locale, catalog)
    args = parser.parse_args(argv)
    settings = _settings()
    configure(settings.log_level)
    check_database(settings.database_url)
    if args.role == "migrate":
        revision = migrate(settings.database_url)
        for lang in ("ko", "en"):  # what a command prints: Korean, then English
            print(catalog.text(lang, "gateway.migrate.done", revision=revision))
        return 0
    from gateway import processes
    from gateway.wiring import Runtime

    runtime = Runtime(settings)
    try:
        if args.role == "run":
            migrate(settings.database_url)
        preflight(runtime, telegram=args.role != "web")
    except BaseException:
        runtime.close()
        raise
    if args.role in ("worker", "run"):  # the processes whose threads run update workers
        sys.setswitchinterval(settings.worker_switch_interval_ms / 1000)
    stopper = processes.Stopper()
    processes.install_signals(stopper)
    try:
        if args.role == "worker":
            processes.run_loop(processes.worker_main(runtime, stopper), settings.event_loop)
        elif args.role == "clock":
            processes.run_loop(processes.clock_main(runtime, stopper), settings.event_loop)
        elif args.role == "web":
            from werkzeug.serving import make_server

            from webhook.app import create_app

            server = make_server("0.0.0.0", settings.port, create_app(runtime.webhook_deps()),
                                 threaded=True)  # fmt: skip

            def stop_serving() -> None:
                stopper.stopped.wait()
                server.shutdown()

            processes.run_in_thread("web-stopper", stop_serving)
            server.serve_forever()
        else:
            from gateway.run import run_all

            run_all(runtime, stopper)
    finally:
        runtime.close()
    return 1 if stopper.crashed else 0


def operate(argv: list[str], locale: str) -> int:
    """`round create|list|advance`, `official grant`, `onsite url` (see gateway/rounds.py);
    `deadletters list|replay|drop` (gateway/deadletters.py)."""
    from gateway import deadletters
    from gateway import rounds
    from gateway.wiring import Runtime

    command = deadletters if command_of(argv) == "deadletters" else rounds
    command.parser(locale).parse_args(argv)  # --help, usage errors: before anything is made
    settings = _settings()
    configure(settings.log_level)
    check_database(settings.database_url)
    migrate(settings.database_url)  # as `run` does: the tables an operator's command creates
    runtime = Runtime(settings)  # must be Alembic's, or a later migrate finds them and fails
    try:
        check_ledger_key(
            lambda: runtime.ledger, str(settings.ledger_key_file), partial(key_ids, settings)
        )
        return command.main(argv, runtime, locale)  # in `locale`: a usage error found later
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
