"""The residents' Telegram bot: ``build_application`` and what it needs (``BotServices``)."""

from bot.app import build_application
from bot.services import BotServices
from bot.services import MemoryRateLimiter
from bot.services import RateLimiter
from bot.services import Verdict

__all__ = ["BotServices", "MemoryRateLimiter", "RateLimiter", "Verdict", "build_application"]
