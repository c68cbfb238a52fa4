"""The WSGI app for gunicorn (`gateway.wsgi:app`): settings from the environment."""

from __future__ import annotations

import os

from gateway.logging import configure
from gateway.settings import Settings
from gateway.wiring import Runtime
from gateway.wiring import settle_heap
from webhook.app import create_app

_settings = Settings.from_env(os.environ)
configure(_settings.log_level)
runtime = Runtime(_settings)
app = create_app(runtime.webhook_deps())
settle_heap()  # each gunicorn worker imports this module: its start-up is done here
