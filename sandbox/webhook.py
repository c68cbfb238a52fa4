"""Webhook mode: setWebhook / deleteWebhook / getWebhookInfo and delivery with retries.

Spec: https://core.telegram.org/bots/api#setwebhook. After ``setWebhook`` each update is POSTed
as JSON to the URL, in order, with ``X-Telegram-Bot-Api-Secret-Token`` when a secret was set.
A non-2xx answer or a network error is recorded for ``getWebhookInfo`` and the same update is
retried with exponential backoff; ``getUpdates`` answers 409 while a webhook is set. As in
Telegram, a 2xx answer may carry one method call in its body, which the sandbox executes.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from sandbox.errors import ApiError
from sandbox.errors import bad_request
from sandbox.methods import METHODS
from sandbox.methods import Method
from sandbox.model import BotRec
from sandbox.model import WebhookConf
from sandbox.params import Params
from sandbox.world import World

SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts to deliver one update: first, doubling up to ``longest``."""

    first: float = 0.2
    longest: float = 15.0
    request_timeout: float = 10.0

    def delay(self, attempt: int) -> float:
        """Return the wait after failed ``attempt`` (1-based)."""
        return float(min(self.longest, self.first * 2 ** (attempt - 1)))


class Deliverer:
    """One delivery thread per bot with a webhook; threads end when the webhook goes."""

    def __init__(self, world: World, backoff: Backoff | None = None) -> None:
        self.world = world
        self.backoff = backoff or Backoff()
        self._threads: dict[int, threading.Thread] = {}

    def ensure(self, bot: BotRec) -> None:
        """Start the bot's delivery thread unless it runs. Requires the world lock."""
        thread = self._threads.get(bot.id)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(
            target=self._run, args=(bot,), name=f"sandbox-webhook-{bot.id}", daemon=True
        )
        self._threads[bot.id] = thread
        thread.start()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the delivery threads after ``World.stop()``."""
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def _run(self, bot: BotRec) -> None:
        world = self.world
        attempt = 0
        with httpx.Client(timeout=self.backoff.request_timeout) as http:
            while True:
                with world.changed:
                    while not world.stopping and bot.webhook is not None and not bot.updates:
                        world.changed.wait(1.0)
                    conf = bot.webhook
                    if world.stopping or conf is None:
                        return
                    update = bot.updates[0]
                error, reply = _post(http, conf, update)
                with world.changed:
                    if error is None:
                        attempt = 0
                        if bot.updates and bot.updates[0] is update:
                            bot.updates.popleft()
                        world.touch()
                    else:
                        attempt += 1
                        conf.last_error_date = int(time.time())
                        conf.last_error_message = error
                        world.touch()
                        world.changed.wait_for(
                            lambda c=conf: world.stopping or bot.webhook is not c,  # type: ignore[misc]
                            timeout=self.backoff.delay(attempt),
                        )
                if reply is not None:
                    self._execute(bot, reply)

    def _execute(self, bot: BotRec, reply: dict[str, object]) -> None:
        """Run the method a webhook answered with, as Telegram does; errors are dropped."""
        method = METHODS.get(str(reply.get("method", "")).lower())
        if method is None:
            return
        values = {k: v for k, v in reply.items() if k != "method"}
        try:
            method(self.world, bot, Params(values))
        except ApiError as err:
            log.info("webhook_reply_refused: %s", err.description)


def _post(
    http: httpx.Client, conf: WebhookConf, update: dict[str, object]
) -> tuple[str | None, dict[str, object] | None]:
    """POST one update; return (error text or None, method call in the reply or None)."""
    headers = {"Content-Type": "application/json"}
    if conf.secret_token:
        headers[SECRET_HEADER] = conf.secret_token
    try:
        response = http.post(conf.url, content=json.dumps(update), headers=headers)
    except httpx.TimeoutException:
        return "Read timeout expired", None
    except httpx.HTTPError as err:
        return f"Connection failed: {type(err).__name__}", None
    if not 200 <= response.status_code < 300:
        return (
            f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}",
            None,
        )
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    return None, body if isinstance(body, dict) and "method" in body else None


def set_webhook(deliverer: Deliverer) -> Method:
    """Return the setWebhook method bound to ``deliverer``."""

    def method(world: World, bot: BotRec, p: Params) -> object:
        url = p.text("url") or ""
        secret = p.text("secret_token")
        if secret is not None and not SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = p.integer("max_connections") or 40
        allowed = p.structure("allowed_updates", error="can't parse allowed updates JSON object")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        with world.lock:
            if p.flag("drop_pending_updates"):
                bot.updates.clear()
            if isinstance(allowed, list):
                bot.allowed_updates = [str(a) for a in allowed] or None
            if not url:
                bot.webhook = None
            else:
                bot.webhook = WebhookConf(url, secret, min(max(max_connections, 1), 100))
                deliverer.ensure(bot)
            world.touch()
        return True

    return method


def delete_webhook(world: World, bot: BotRec, p: Params) -> object:
    """deleteWebhook; pending updates stay for getUpdates unless dropped."""
    with world.lock:
        bot.webhook = None
        if p.flag("drop_pending_updates"):
            bot.updates.clear()
        world.touch()
    return True


def get_webhook_info(world: World, bot: BotRec, p: Params) -> object:
    """getWebhookInfo."""
    with world.lock:
        conf = bot.webhook
        info: dict[str, object] = {
            "url": conf.url if conf else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if conf is not None:
            info["max_connections"] = conf.max_connections
            info["ip_address"] = "127.0.0.1"
            if conf.last_error_date is not None:
                info["last_error_date"] = conf.last_error_date
                info["last_error_message"] = conf.last_error_message
            if bot.allowed_updates:
                info["allowed_updates"] = list(bot.allowed_updates)
        return info
