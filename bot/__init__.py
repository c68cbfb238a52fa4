"""The residents' Telegram bot: ``build_application`` and what it needs (``BotServices``)."""

from bot.app import UPDATE_KINDS
from bot.app import build_application
from bot.app import tell_delayed
from bot.app import tell_not_handled
from bot.services import BotServices
from bot.services import MemoryRateLimiter
from bot.services import RateLimiter
from bot.services import Verdict

__all__ = [
    "UPDATE_KINDS",
    "BotServices",
    "MemoryRateLimiter",
    "RateLimiter",
    "Verdict",
    "build_application",
    "tell_delayed",
    "tell_not_handled",
]
