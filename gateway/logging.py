"""Configure structlog once for every process (STYLE R24/R25).

JSON lines on stdout when not on a TTY, a console renderer on a TTY. Events never carry
tokens, secrets, message text or raw Telegram ids; callers bind `update_id`, `partition`,
`user_ref` (an HMAC of the id) and the like.
"""

from __future__ import annotations

import logging
import sys

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def configure(level: str = "info", *, json: bool | None = None) -> None:
    """Set up structlog (and route stdlib logging through the same output)."""
    as_json = (not sys.stdout.isatty()) if json is None else json
    numeric = _LEVELS.get(level, logging.ERROR)
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        # No local variables in tracebacks: they would carry message texts and ids.
        no_locals = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        processors += [
            structlog.processors.ExceptionRenderer(no_locals),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
    else:
        processors.append(structlog.dev.ConsoleRenderer(exception_formatter=_plain_traceback))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stdout, force=True)
    # httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # access lines carry client IPs


def _plain_traceback(sio: object, exc_info: object) -> None:
    structlog.dev.plain_traceback(sio, exc_info)  # type: ignore[arg-type]
