"""gateway.wiring: what the runtime hands the bot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.router import SERVICES_KEY
from gateway.settings import Settings
from gateway.wiring import Runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings.from_env({"VAR_DIR": str(tmp_path), "PUBLIC_CHANNEL": "-1001234567890"}))
    yield rt
    rt.close()


def test_the_bot_knows_the_public_chat_so_as_never_to_leave_it(runtime: Runtime) -> None:
    """The bot leaves any group it is added to; PUBLIC_CHANNEL may be a supergroup where it
    posts the digests, so the bot is told which chat that is."""
    app = runtime.bot_application("http://127.0.0.1:1/bot", "http://127.0.0.1:1/file/bot", "b")
    services = app.bot_data[SERVICES_KEY]
    assert services.public_chat == "-1001234567890"
    assert services.is_public_chat(-1001234567890, None)
    assert not services.is_public_chat(-1009999999999, "gg_ledger")
