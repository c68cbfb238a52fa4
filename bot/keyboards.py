"""Inline keyboards whose buttons carry opaque, server-checked tokens.

A button's ``callback_data`` is a 16-character token from ``ParticipationService.issue_buttons``
that names (action, args) for one person until it expires; the server looks it up on every
press (:mod:`bot.app`), so a forged, foreign or stale button does nothing but say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup

from bot.router import Ctx
from participation.domain.events import JSON

PREV, NEXT = "◀", "▶"


@dataclass(frozen=True, slots=True)
class Btn:
    """One inline button: a label and either an action with args, or a URL."""

    label: str
    action: str = ""
    args: dict[str, JSON] = field(default_factory=dict)
    url: str | None = None


Rows = Sequence[Sequence[Btn]]


async def inline(ctx: Ctx, rows: Rows) -> InlineKeyboardMarkup:
    """Issue a token for every action button (one service call) and build the keyboard."""
    svc, ttl, user_id = ctx.svc, ctx.services.button_ttl_s, ctx.user_id

    def issue() -> InlineKeyboardMarkup:
        wanted = [(b.action, dict(b.args)) for row in rows for b in row if b.url is None]
        return keyboard(rows, svc.issue_buttons(user_id, wanted, ttl_s=ttl))  # one transaction

    return await ctx.call(issue)


def keyboard(rows: Rows, tokens: Iterable[str]) -> InlineKeyboardMarkup:
    """Build the keyboard of ``rows`` with issued ``tokens``, one per action button, in order."""
    left = iter(tokens)
    out: list[list[InlineKeyboardButton]] = []
    for row in rows:
        built = [
            InlineKeyboardButton(b.label, url=b.url)
            if b.url is not None
            else InlineKeyboardButton(b.label, callback_data=next(left))
            for b in row
        ]
        if built:
            out.append(built)
    return InlineKeyboardMarkup(out)


def grid(buttons: Sequence[Btn], columns: int) -> list[list[Btn]]:
    """Lay ``buttons`` out ``columns`` a row."""
    return [list(buttons[i : i + columns]) for i in range(0, len(buttons), columns)]


def pager(page: int, pages: int, action: str, args: dict[str, JSON] | None = None) -> list[Btn]:
    """Return the ``◀ 1/12 ▶`` row (empty for one page); arrows go to ``action`` with ``page``.

    The middle button shows where you are and does nothing but refresh the page.
    """
    if pages <= 1:
        return []
    base = dict(args or {})
    prev_page = (page - 1) % pages
    next_page = (page + 1) % pages
    return [
        Btn(PREV, action, {**base, "page": prev_page}),
        Btn(f"{page + 1}/{pages}", action, {**base, "page": page}),
        Btn(NEXT, action, {**base, "page": next_page}),
    ]


def page_count(total: int, size: int) -> int:
    """Return how many pages of ``size`` hold ``total`` items (at least one)."""
    return max(1, -(-total // size))
