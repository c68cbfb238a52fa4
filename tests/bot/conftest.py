"""Fixtures of the bot's tests: the end-to-end world (sandbox + ledger + service + bot)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.support.e2e_bot import BotWorld


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    async with BotWorld(tmp_path) as w:
        yield w
