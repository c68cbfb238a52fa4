"""Texts of cards, lists and receipts, from the catalogs (no Hangul here: see bot.po)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup

from bot.router import Ctx
from i18n.format import format_amount
from i18n.format import format_datetime
from participation.domain.events import JSON
from participation.views import ProposalCard
from participation.views import ReceiptView

CAPTION_MAX = 1024  # Telegram's limit for a photo caption (a proposal's body may hold 1,500)
TEXT_MAX = 4096
LIST_TITLE_MAX = 40
ELLIPSIS = "…"
ZWJ = "\u200d"


def amount(ctx: Ctx, won: int) -> str:
    """Return ``1,500,000`` + the Korean won unit (Korean) / ``₩1,500,000`` (English)."""
    return format_amount(won, ctx.locale)


def when(ctx: Ctx, epoch: int) -> str:
    """Return a KST date and time."""
    return format_datetime(epoch, ctx.locale)


def past_review_end(ctx: Ctx, review_ends: int | None) -> bool:
    """Whether the review's deadline has passed on the bot's clock: a ballot or card shown
    now offers nothing to press (a press would be received after the deadline), though the
    action that drew it may have been received before it and count."""
    return review_ends is not None and ctx.services.clock().timestamp() >= review_ends


def review_over_text(ctx: Ctx, ended: int | None) -> str:
    """Return that the review is over and nothing more can be scored or liked: when it ended
    (KST, as every date in the reader's language), where that is known."""
    if ended is None:
        return ctx.t("bot.onsite.review_over")
    return ctx.t("participation.error.review_over", ended=format_datetime(ended, ctx.locale))


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
    """Return ``text``, or its start with "…" in at most ``limit`` characters.

    The cut falls at a line break in the last quarter of the room, else at a space in its last
    half (Korean puts spaces between words), so no word is cut in two; a text with neither (a
    long link) is cut between two grapheme clusters, never inside one (a Hangul syllable written
    in conjoining jamo, an accent, an emoji with its skin tone or ZWJ sequence, a flag).
    """
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    room = limit - 1  # for the ellipsis
    line = text.rfind("\n", 0, room + 1)
    if line >= room - room // 4 and text[:line].strip():
        return text[:line].rstrip() + ELLIPSIS
    space = max(text.rfind(c, 0, room + 1) for c in (" ", "\t", "\u3000"))
    if space >= room - room // 2 and text[:space].strip():
        return text[:space].rstrip() + ELLIPSIS
    cut = room
    while cut > 0 and not grapheme_boundary(text, cut):
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


def grapheme_boundary(text: str, i: int) -> bool:
    """Return whether ``text[:i]`` ends between two grapheme clusters (a conservative subset of
    UAX #29: it may say no at a real boundary, never yes inside a cluster)."""
    if i <= 0 or i >= len(text):
        return True
    before, at = text[i - 1], text[i]
    if before == "\r" and at == "\n":  # GB3
        return False
    if before == ZWJ or _extends(at):  # GB9, GB9a, GB11
        return False
    if _jamo(at) in ("V", "T"):  # GB7, GB8: a vowel or final jamo joins what precedes it
        return False
    if _jamo(before) == "L" and (_jamo(at) == "L" or 0xAC00 <= ord(at) <= 0xD7A3):  # GB6
        return False
    if _regional(before) and _regional(at):  # GB12, GB13: flags are pairs
        run = 0
        while i - 1 - run >= 0 and _regional(text[i - 1 - run]):
            run += 1
        return run % 2 == 0
    return True


def _extends(c: str) -> bool:
    """Marks, ZWJ, variation selectors, emoji modifiers and tags: never the start of a cluster."""
    cp = ord(c)
    return (
        unicodedata.category(c) in ("Mn", "Me", "Mc")
        or c == ZWJ
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
    )


def _jamo(c: str) -> str:
    """Return the Hangul conjoining jamo type of ``c`` (L, V, T) or ""."""
    cp = ord(c)
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    return ""


def _regional(c: str) -> bool:
    return 0x1F1E6 <= ord(c) <= 0x1F1FF


def fair_shares(room: int, lengths: list[int]) -> list[int]:
    """Split ``room`` characters between texts of ``lengths``: a short one keeps all of itself,
    the long ones share what is left evenly."""
    shares = [0] * len(lengths)
    left = max(0, room)
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for k, i in enumerate(order):
        shares[i] = min(lengths[i], left // (len(lengths) - k))
        left -= shares[i]
    return shares


@dataclass(frozen=True, slots=True)
class Captioned:
    """A text to show under a photo: its caption and, when the caption could not hold it all,
    the whole text, sent as a message of its own right after the photo."""

    caption: str
    whole: str | None = None


async def send_captioned(
    ctx: Ctx, shown: Captioned, markup: InlineKeyboardMarkup | None, photo: str
) -> None:
    """Send ``photo`` with its caption and buttons, then the whole text when it was cut."""
    await ctx.send(shown.caption, markup, photo=photo)
    if shown.whole is not None:
        await ctx.send(shown.whole)


def card_text(ctx: Ctx, card: ProposalCard, *, limit: int = TEXT_MAX) -> str:
    """Return a proposal card: title, field, place, budget, status, endorsement count, the body
    and the official's answer.

    When it does not fit ``limit``, the body and the answer are shortened (:func:`short`), each
    keeping its share of the room (:func:`fair_shares`).
    """
    return _card(ctx, card, limit, notice=False)[0]


def photo_card(ctx: Ctx, card: ProposalCard) -> Captioned:
    """Return the caption of a card with a photo and, when the caption is cut (it ends with a
    line saying so), the whole title, body and answer to send after the photo."""
    caption, cut = _card(ctx, card, CAPTION_MAX, notice=True)
    if not cut:
        return Captioned(caption)
    whole = ctx.t(
        "bot.card.whole", number=card.number, title=title_of(ctx, card), body=card.body or ""
    )
    if card.answer:
        whole += "\n\n" + ctx.t("bot.card.answer", answer=card.answer)
    return Captioned(caption, short(whole, TEXT_MAX))


def _card(ctx: Ctx, card: ProposalCard, limit: int, *, notice: bool) -> tuple[str, bool]:
    """Return the card's text in ``limit`` characters and whether anything had to be cut."""
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
    body, answer = card.body or "", card.answer or ""
    parts = [head]
    if body:
        parts.append(body)
    if answer:
        parts.append(ctx.t("bot.card.answer", answer=answer))
    text = "\n\n".join(parts)
    if len(text) <= limit:
        return text, False
    tail = [ctx.t("bot.caption.continued")] if notice else []
    fixed = [head, *tail]
    label = len(ctx.t("bot.card.answer", answer="")) if answer else 0
    seps = 2 * (len(fixed) + bool(answer))  # "\n\n" before the body, the answer and the tail
    room = limit - sum(map(len, fixed)) - label - seps
    body_room, answer_room = fair_shares(room, [len(body), len(answer)])
    parts = [head]
    if body and body_room > 20:
        parts.append(short(body, body_room))
    if answer and answer_room > 20:
        parts.append(ctx.t("bot.card.answer", answer=short(answer, answer_room)))
    return "\n\n".join(parts + tail), True


def preview_text(
    ctx: Ctx, draft: Mapping[str, JSON], region: str, *, body: str | None = None
) -> str:
    """Return the preview of a draft before it is submitted (or, for an edit of a submitted
    proposal, before the changes are saved); ``body`` in place of the draft's, when given."""
    budget = draft.get("budget")
    editing = "editing" in draft
    return ctx.t(
        "bot.submit.edit_preview" if editing else "bot.submit.preview",
        number=draft.get("number") or "",
        title=str(draft.get("title") or ""),
        body=str(draft.get("body") or "") if body is None else body,
        category=category_name(ctx, str(draft.get("category") or "")),
        region=region_name(ctx, region),
        budget=amount(ctx, budget if isinstance(budget, int) else 0),
        photo=ctx.t("bot.submit.photo_yes" if draft.get("photo") else "bot.submit.photo_no"),
    )


def photo_preview(ctx: Ctx, draft: Mapping[str, JSON], region: str) -> Captioned:
    """Return the preview of a draft with a photo as a caption and, when the body had to be cut
    for it, the whole title and body to send after the photo."""
    text = preview_text(ctx, draft, region)
    if len(text) <= CAPTION_MAX:
        return Captioned(text)
    body = str(draft.get("body") or "")
    notice = ctx.t("bot.caption.continued")
    room = CAPTION_MAX - (len(text) - len(body)) - 2 - len(notice)
    caption = preview_text(ctx, draft, region, body=short(body, room)) + "\n\n" + notice
    whole = ctx.t("bot.submit.whole", title=str(draft.get("title") or ""), body=body)
    return Captioned(short(caption, CAPTION_MAX), short(whole, TEXT_MAX))


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
    """Return one receipt: what (and which proposal, by its number: the subject is otherwise an
    internal id), when, the ledger index, the leaf hash and its block."""
    sealed = (
        ctx.t("bot.receipts.block", block=block)
        if block is not None
        else ctx.t("bot.receipts.unsealed")
    )
    return ctx.t(
        "bot.receipts.item",
        kind=kind_name(ctx, receipt.kind),
        subject=f" #{receipt.proposal_number}" if receipt.proposal_number is not None else "",
        when=when(ctx, receipt.created_at),
        index=receipt.index,
        leaf=receipt.leaf_hash,
        sealed=sealed,
    )
