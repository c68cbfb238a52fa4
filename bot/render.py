"""Texts of cards, lists and receipts, from the catalogs (no Hangul here: see bot.po)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.router import Ctx
from i18n.format import format_amount
from i18n.format import format_datetime
from participation.domain.events import JSON
from participation.views import ProposalCard
from participation.views import ReceiptView

CAPTION_MAX = 1024  # Telegram's limit for a photo caption
TEXT_MAX = 4096
LIST_TITLE_MAX = 40


def amount(ctx: Ctx, won: int) -> str:
    """Return ``1,500,000`` + the Korean won unit (Korean) / ``₩1,500,000`` (English)."""
    return format_amount(won, ctx.locale)


def when(ctx: Ctx, epoch: int) -> str:
    """Return a KST date and time."""
    return format_datetime(epoch, ctx.locale)


def category_name(ctx: Ctx, code: str) -> str:
    return ctx.t(f"participation.category.{code}")


def region_name(ctx: Ctx, code: str) -> str:
    return ctx.t(f"participation.region.{code}")


def title_of(ctx: Ctx, card: ProposalCard) -> str:
    """Return the title, or a placeholder once its author erased it."""
    return card.title if card.title is not None else ctx.t("bot.card.erased")


def status_of(ctx: Ctx, card: ProposalCard) -> str:
    """Return the card's status in words (hidden wins: it explains why it is not listed)."""
    if card.hidden:
        reason = card.hide_reason or ""
        return ctx.t("bot.card.hidden", reason=ctx.t(f"participation.reason.{reason}"))
    return ctx.t(f"participation.status.{card.status}")


def short(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def card_text(ctx: Ctx, card: ProposalCard, *, limit: int = TEXT_MAX) -> str:
    """Return a proposal card: title, field, place, budget, status, endorsement count and the body.

    The body is cut to fit ``limit`` (1,024 for a photo caption).
    """
    head = ctx.t(
        "bot.card.head",
        number=card.number,
        title=title_of(ctx, card),
        category=category_name(ctx, card.category),
        region=region_name(ctx, card.region),
        budget=amount(ctx, card.budget),
        status=status_of(ctx, card),
        endorsements=card.endorsements,
    )
    parts = [head]
    if card.answer:
        parts.append(ctx.t("bot.card.answer", answer=card.answer))
    body = card.body if card.body is not None else ""
    room = limit - sum(len(p) + 2 for p in parts) - 2
    if body and room > 20:
        parts.insert(1, short(body, room))
    return "\n\n".join(parts)


def preview_text(ctx: Ctx, draft: Mapping[str, JSON], region: str) -> str:
    """Return the preview of a draft before it is submitted (or, for an edit of a submitted
    proposal, before the changes are saved)."""
    budget = draft.get("budget")
    editing = "editing" in draft
    return ctx.t(
        "bot.submit.edit_preview" if editing else "bot.submit.preview",
        number=draft.get("number") or "",
        title=str(draft.get("title") or ""),
        body=str(draft.get("body") or ""),
        category=category_name(ctx, str(draft.get("category") or "")),
        region=region_name(ctx, region),
        budget=amount(ctx, budget if isinstance(budget, int) else 0),
        photo=ctx.t("bot.submit.photo_yes" if draft.get("photo") else "bot.submit.photo_no"),
    )


def list_line(ctx: Ctx, position: int, card: ProposalCard) -> str:
    """Return one line of a proposal list."""
    return ctx.t(
        "bot.browse.line",
        position=position,
        title=short(title_of(ctx, card), LIST_TITLE_MAX),
        endorsements=card.endorsements,
        budget=amount(ctx, card.budget),
        region=region_name(ctx, card.region),
    )


def kind_name(ctx: Ctx, kind: str) -> str:
    """Return what a ledger entry kind means to a person (``proposal.endorsed`` -> endorsement)."""
    key = "bot.kind." + kind.replace(".", "_")
    text = ctx.t(key)
    return kind if text == key else text


def receipt_text(ctx: Ctx, receipt: ReceiptView, block: int | None) -> str:
    """Return one receipt: what, when, the ledger index, the leaf hash and its block."""
    sealed = (
        ctx.t("bot.receipts.block", block=block)
        if block is not None
        else ctx.t("bot.receipts.unsealed")
    )
    return ctx.t(
        "bot.receipts.item",
        kind=kind_name(ctx, receipt.kind),
        subject=receipt.subject,
        when=when(ctx, receipt.created_at),
        index=receipt.index,
        leaf=receipt.leaf_hash,
        sealed=sealed,
    )
