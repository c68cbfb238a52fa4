"""A local stand-in for the Telegram Bot API plus a web chat (``/sandbox``).

The real bot runs unchanged against it (python-telegram-bot's ``base_url``), with no token and
no network. Stands alone: imports nothing of ours except ``i18n`` for its page texts.
"""

from sandbox.server import SandboxServer

__all__ = ["SandboxServer"]
