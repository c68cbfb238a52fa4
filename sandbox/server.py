"""``SandboxServer``: the Bot API stand-in and the web chat, served from background threads.

    srv = SandboxServer(host="127.0.0.1", port=0, flood_limits=False, data_dir=None)
    srv.start()                      # port 0 picks a free port
    Application.builder().token(tok).base_url(srv.api_base_url)
        .base_file_url(srv.file_base_url)...
    u = srv.users.create(first_name="...", language_code="ko")
    srv.send_text(u["id"], "/start"); srv.wait_for(u["id"], lambda m: "..." in (m["text"] or ""))
    srv.stop()

Any well-formed token ``<digits>:<30-64 of A-Za-z0-9_->`` gets its own bot; the first is
``@ttabok_sandbox_bot``. With ``data_dir`` the state survives a restart (``sandbox.pickle``).
"""

from __future__ import annotations

import logging
import pickle
import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from flask import Flask
from flask import redirect
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from i18n import Catalog
from sandbox.api import bp as api_bp
from sandbox.api import method_table
from sandbox.chat import bp as chat_bp
from sandbox.client import Client
from sandbox.client import Predicate
from sandbox.flood import FloodControl
from sandbox.flood import FloodLimits
from sandbox.keepalive import ConnectionRegistry
from sandbox.keepalive import handler_for
from sandbox.methods import Method
from sandbox.model import JSON
from sandbox.personas import seed_personas
from sandbox.webhook import Backoff
from sandbox.webhook import Deliverer
from sandbox.world import World

log = logging.getLogger(__name__)
STATE_FILE = "sandbox.pickle"
STATE_VERSION = 1


@dataclass
class Services:
    """What the Flask views need; kept in ``app.extensions["sandbox"]``."""

    world: World
    client: Client
    deliverer: Deliverer
    catalog: Catalog
    methods: dict[str, Method] = field(default_factory=dict)


class UserDirectory:
    """``srv.users``: create and look up the sandbox's people."""

    def __init__(self, world: World) -> None:
        self._world = world

    def create(
        self,
        first_name: str,
        *,
        language_code: str | None = "ko",
        last_name: str | None = None,
        username: str | None = None,
        role: str = "resident",
        phone_number: str | None = None,
        user_id: int | None = None,
    ) -> JSON:
        """Add a person and return their user dict (``id``, ``first_name``, ``role``...)."""
        fields: dict[str, object] = {
            "language_code": language_code,
            "last_name": last_name,
            "username": username,
            "role": role,
            "phone_number": phone_number,
        }
        if user_id is not None:
            fields["id"] = user_id
        return self._world.create_user(first_name, **fields).describe()

    def get(self, user_id: int) -> JSON:
        """Return the user dict of ``user_id`` (``KeyError`` if unknown)."""
        return self._world.user(user_id).describe()

    def all(self) -> list[JSON]:
        """Return every user, oldest first."""
        with self._world.lock:
            return [u.describe() for u in self._world.users.values()]


def create_app(services: Services) -> Flask:
    """Build the Flask app serving the Bot API and the web chat."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024  # Telegram's upload limit for bots
    app.extensions["sandbox"] = services
    app.register_blueprint(api_bp)
    app.register_blueprint(chat_bp)

    @app.get("/")
    def index() -> Response:
        return redirect("/sandbox")

    return app


class SandboxServer:
    """The sandbox Bot API plus web chat on ``host:port``, run in background threads."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        flood_limits: bool = False,
        data_dir: str | Path | None = None,
        *,
        catalog: Catalog | None = None,
        webhook_backoff: Backoff | None = None,
        personas: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.catalog = catalog or Catalog.load()
        self.world = World(
            flood=FloodControl(enabled=flood_limits),
            bot_name=self.catalog.text("ko", "sandbox.bot.name"),
        )
        self._restore()
        self.client = Client(self.world)
        self.users = UserDirectory(self.world)
        self.deliverer = Deliverer(self.world, webhook_backoff)
        services = Services(self.world, self.client, self.deliverer, self.catalog)
        services.methods = method_table(services)
        self.app = create_app(services)
        if personas and not self.world.users:
            seed_personas(self.world, self.catalog)
        self._server: BaseWSGIServer | None = None
        self._connections = ConnectionRegistry()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Start serving in a background thread; return self."""
        if self._server is not None:
            return self
        self._connections = ConnectionRegistry()
        self._server = make_server(
            self.host, self.port, self.app, threaded=True,
            request_handler=handler_for(self._connections),  # HTTP/1.1 keep-alive
        )  # fmt: skip
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()
        with self.world.lock:  # resume webhook delivery restored from data_dir
            for bot in self.world.bots.values():
                if bot.webhook is not None:
                    self.deliverer.ensure(bot)
        return self

    def stop(self) -> None:
        """Stop serving, end long polls and deliveries, save state when ``data_dir`` is set."""
        self.world.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._connections.close_all()  # kept-alive connections too: the API is gone
        if self._thread is not None:
            self._thread.join(5)
        self.deliverer.join()
        self._server = self._thread = None
        self._save()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return ``http://host:port`` (the web chat is at ``/sandbox``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """Return what python-telegram-bot's ``base_url`` takes (it appends the token)."""
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        """Return what python-telegram-bot's ``base_file_url`` takes."""
        return f"{self.url}/file/bot"

    # -- the person's side -------------------------------------------------------------------
    def send_text(self, user_id: int, text: str, bot_username: str | None = None) -> JSON:
        """Send a text (commands get ``bot_command`` entities); return the queued update."""
        return self.client.send_text(user_id, text, bot_username)

    def edit_text(self, user_id: int, message_id: int, text: str) -> JSON:
        """Edit the user's own text message; return the queued ``edited_message`` update."""
        return self.client.edit_text(user_id, message_id, text)

    def send_photo(self, user_id: int, jpeg_bytes: bytes, caption: str | None = None) -> JSON:
        """Send a photo with an optional caption."""
        return self.client.send_photo(user_id, jpeg_bytes, caption)

    def send_album(
        self,
        user_id: int,
        pictures: list[bytes],
        caption: str | None = None,
        *,
        as_files: bool = False,
    ) -> list[JSON]:
        """Send 2-10 pictures at once, as an album: one ``message`` update each, sharing a
        ``media_group_id``, the caption on the first (``as_files``: documents)."""
        return self.client.send_album(user_id, pictures, caption, as_files=as_files)

    def send_files(
        self, user_id: int, files: list[tuple[bytes, str, str]], caption: str | None = None
    ) -> list[JSON]:
        """Send 2-10 files (``(bytes, file name, MIME type)``) at once, as an album."""
        return self.client.send_files(user_id, files, caption)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
    ) -> JSON:
        """Send a file (a CSV, a PDF...) with its name and type."""
        return self.client.send_document(user_id, data, file_name, mime_type, caption)

    def send_contact(self, user_id: int, phone_number: str | None = None, **kw: Any) -> JSON:
        """Share the user's own contact (as a ``request_contact`` button does) or another."""
        return self.client.send_contact(user_id, phone_number, **kw)

    def create_group(
        self, user_id: int, title: str, members: list[int] | None = None, *,
        supergroup: bool = False,
    ) -> JSON:  # fmt: skip
        """Create a group (``-4...``; ``supergroup``: ``-100...``) of the user and
        ``members``; return its ``Chat``. The bot is not in it until added."""
        return self.client.create_group(user_id, title, members or (), supergroup=supergroup)

    def add_bot_to_group(self, user_id: int, group_id: int) -> list[JSON]:
        """Add the bot to the group as the member ``user_id``: ``my_chat_member`` and the
        ``new_chat_members`` message, as from Telegram; return the updates."""
        return self.client.add_bot_to_group(user_id, group_id)

    def send_group_text(
        self, user_id: int, group_id: int, text: str, reply_to: int | None = None
    ) -> JSON:
        """Write in a group; the bot gets what privacy mode lets through. Return the view."""
        return self.client.send_group_text(user_id, group_id, text, reply_to=reply_to)

    def join_group(self, user_id: int, group_id: int) -> JSON:
        """Join a group as ``user_id`` (the ``new_chat_members`` message); return its view."""
        return self.client.join_group(user_id, group_id)

    def groups(self, user_id: int) -> list[JSON]:
        """Return every group: ``{"chat", "member", "bot_member"}`` (``member``: the user's)."""
        return self.client.groups(user_id)

    def press(self, user_id: int, message_id: int, callback_data: str) -> JSON:
        """Tap an inline button; return the ``callback_query`` update."""
        return self.client.press(user_id, message_id, callback_data)

    def open_deep_link(self, user_id: int, link: str) -> JSON | None:
        """Open ``t.me/<bot>?start=<payload>`` as if the QR code was scanned."""
        return self.client.open_deep_link(user_id, link)

    def block_bot(self, user_id: int, blocked: bool = True) -> JSON:
        """Block (or unblock) the bot as this user."""
        return self.client.block_bot(user_id, blocked)

    def messages(self, chat_id: int | str, *, incoming: bool = False) -> list[JSON]:
        """Return what the bot sent to ``chat_id`` in order (with ``incoming``, user's too)."""
        return self.client.messages(chat_id, incoming=incoming)

    def wait_for(self, chat_id: int | str, predicate: Predicate, timeout: float = 5.0) -> JSON:
        """Wait for a bot message in ``chat_id`` matching ``predicate``; return it."""
        return self.client.wait_for(chat_id, predicate, timeout)

    def answered_callbacks(self, user_id: int) -> list[JSON]:
        """Return the user's callback queries the bot answered."""
        return self.client.answered_callbacks(user_id)

    def channel_posts(self, channel: int | str) -> list[JSON]:
        """Return the posts in a channel such as ``@gg_ledger``."""
        return self.client.channel_posts(channel)

    def personas(self) -> list[JSON]:
        """Return the web chat's personas (every user), with their roles."""
        return self.users.all()

    @property
    def bot_username(self) -> str:
        """Return the default bot's username (``ttabok_sandbox_bot``)."""
        return self.world.bot().username

    # -- flood control -----------------------------------------------------------------------
    def set_flood_limits(self, enabled: bool, limits: FloodLimits | None = None) -> None:
        """Switch Telegram's flood limits on or off (optionally with other rates)."""
        with self.world.lock:
            self.world.flood.enabled = enabled
            if limits is not None:
                self.world.flood.limits = limits

    def inject_429(self, count: int, retry_after: int) -> None:
        """Answer the next ``count`` sends with 429 ``retry_after``."""
        with self.world.lock:
            self.world.flood.inject_429(count, retry_after)

    def stats(self) -> dict[str, object]:
        """Return sends per chat with monotonic timestamps, totals and 429 count."""
        with self.world.lock:
            return self.world.flood.stats()

    # -- persistence -------------------------------------------------------------------------
    def _save(self) -> None:
        if self.data_dir is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        world = self.world
        with world.lock:
            state = {
                "version": STATE_VERSION,
                "bots": world.bots,
                "default": world.bot(),
                "users": world.users,
                "files": world.files,
                "groups": world.groups,
            }
            data = pickle.dumps(state)
        path = self.data_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(path)

    def _restore(self) -> None:
        """Load the state a previous run saved in ``data_dir`` (the sandbox's own file)."""
        path = self.data_dir / STATE_FILE if self.data_dir else None
        if path is None or not path.exists():
            return
        try:
            state = pickle.loads(path.read_bytes())  # noqa: S301 - written by _save above
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
            log.warning("sandbox_state_unreadable path=%s error=%s", path, err)
            return
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            return
        self.world.restore(state)
