"""Propose: title → body → field → budget → optional photo → preview (Submit / Edit / Cancel).

The draft lives in the stored conversation (``data["draft"]``), so it survives a restart and
a switch to another worker. Every field is checked by the service as soon as it is typed
(``check_proposal_field``), so a mistake is explained at the step where it was made.

Editing a submitted proposal (Edit, from My activity) runs the same flow: the proposal is loaded
into the draft with ``draft["editing"] = proposal_id`` and the preview's buttons become
Save changes / Edit / Cancel editing. A new proposal's unfinished draft is kept aside
(``data["aside"]``) meanwhile and put back, with no step stored, when the edit is saved or
cancelled, so the Propose menu button picks it up where it was left.

The draft and the aside outlive any other flow started meanwhile (an official's notice, a
round...: ``Ctx.save`` carries them over, ``Ctx.clear`` keeps them); only this flow's own
endings (submitted, cancelled, an edit saved or cancelled) forget them, through
``Ctx.forget_draft``.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.keyboards import Btn
from bot.keyboards import grid
from bot.keyboards import inline
from bot.render import amount
from bot.render import category_name
from bot.render import photo_preview
from bot.render import preview_text
from bot.render import send_captioned
from bot.render import when
from bot.router import DRAFT_STEPS
from bot.router import Ctx
from bot.router import Incoming
from bot.router import Router
from bot.router import str_arg
from i18n.format import parse_amount
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.domain.round import BODY_MAX
from participation.domain.round import TITLE_MAX
from participation.views import RoundView

FIELDS = ("title", "body", "category", "budget", "photo")


def register(router: Router) -> None:
    """Register the submission screens."""
    router.menu("bot.menu.submit", order=10, continues=DRAFT_STEPS)(begin)
    router.command("propose", continues=DRAFT_STEPS)(lambda ctx, args: begin(ctx))
    router.step("submit.title")(title)
    router.step("submit.body")(body)
    router.step("submit.category")(typed_category)
    router.step("submit.budget")(budget)
    router.step("submit.photo")(photo)
    router.step("submit.preview")(typed_at_preview)
    router.action("submit.category", consume=True)(category)
    router.action("submit.skip_photo", consume=True)(skip_photo)
    router.action("submit.keep_photo", consume=True)(keep_photo)
    router.action("submit.confirm", consume=True)(confirm)
    router.action("submit.fix")(fix_menu)
    router.action("submit.fix_field", consume=True)(fix_field)
    router.action("submit.cancel", consume=True)(cancel)
    router.action("submit.edit")(edit)
    router.action("submit.save_edit", consume=True)(save_edit)
    router.action("submit.cancel_edit", consume=True)(cancel_edit)


def draft_of(ctx: Ctx) -> dict[str, JSON]:
    """Return a copy of the stored draft."""
    found = ctx.conversation.data.get("draft")
    return dict(found) if isinstance(found, dict) else {}


async def store(
    ctx: Ctx,
    step: str,
    draft: dict[str, JSON],
    *,
    fixing: bool = False,
    data: dict[str, JSON] | None = None,
) -> None:
    """Save the draft and the next step (into ``data``, else the stored conversation data)."""
    data = ctx.data if data is None else data
    data["draft"] = draft
    data["fixing"] = fixing
    await ctx.save(step, data)


async def open_round(ctx: Ctx) -> RoundView | None:
    """Return the round taking proposals, or explain why none is and return None."""
    rnd = await ctx.call(ctx.svc.current_round)
    if rnd is None:
        await ctx.reply("participation.error.no_current_round", await ctx.menu_markup())
        return None
    if rnd.phase != "submission":
        phase = ctx.t(f"participation.phase.{rnd.phase}")
        await ctx.reply("bot.submit.closed", await ctx.menu_markup(), phase=phase)
        return None
    return rnd


async def begin(ctx: Ctx) -> None:
    """Start a proposal, or pick up the draft where it was left."""
    rnd = await open_round(ctx)
    if rnd is None:
        return
    draft = draft_of(ctx)
    if "editing" in draft:  # save or cancel the edit first; the new draft waits aside
        await ctx.reply("bot.submit.editing_now", number=draft.get("number") or "")
        await preview(ctx, draft)
        return
    if draft.get("round") == rnd.round_id and draft.get("title"):
        await ctx.reply("bot.submit.resume")
        await ask(ctx, next_field(draft), draft)
        return
    deadline = rnd.deadline
    await ctx.reply(
        "bot.submit.intro", round=rnd.title, deadline=when(ctx, deadline) if deadline else "-"
    )
    await ask(ctx, "title", {"round": rnd.round_id})


def kept_note(ctx: Ctx) -> str | None:
    """Return what to tell someone who left the proposal flow: their unfinished proposal (or
    their edit of a submitted one) is kept and Propose continues it; None when there is none."""
    draft = draft_of(ctx)
    if "editing" in draft:
        return ctx.t("bot.submit.edit_kept", number=draft.get("number") or "")
    return ctx.t("bot.submit.draft_kept") if draft.get("title") else None


def next_field(draft: dict[str, JSON]) -> str:
    """Return the first field the draft still lacks ("preview" when complete)."""
    for name in FIELDS:
        if name not in draft:
            return name
    return "preview"


async def ask(ctx: Ctx, field: str, draft: dict[str, JSON], *, fixing: bool = False) -> None:
    """Store the step of ``field`` and ask for it."""
    if field == "preview":
        await preview(ctx, draft)
        return
    await store(ctx, f"submit.{field}", draft, fixing=fixing)
    if field == "title":
        await ctx.reply("bot.submit.ask_title", max=f"{TITLE_MAX:,}")
    elif field == "body":
        await ctx.reply("bot.submit.ask_body", max=f"{BODY_MAX:,}")
    elif field == "category":
        await ctx.send(ctx.t("bot.submit.ask_category"), await category_keyboard(ctx))
    elif field == "budget":
        rnd = await ctx.call(ctx.svc.round, str(draft.get("round") or ""))
        await ctx.reply("bot.submit.ask_budget", max=amount(ctx, rnd.rules.max_request))
    else:
        await ctx.send(ctx.t(photo_key(draft, "ask_photo")), await photo_buttons(ctx, draft))


async def category_keyboard(ctx: Ctx) -> InlineKeyboardMarkup:
    rnd = await ctx.call(ctx.svc.round, str(draft_of(ctx).get("round") or ""))
    buttons = [
        Btn(category_name(ctx, c), "submit.category", {"category": c}) for c in rnd.rules.categories
    ]
    return await inline(ctx, grid(buttons, 2))


async def advance(ctx: Ctx, draft: dict[str, JSON]) -> None:
    """After a field: back to the preview when fixing, else the next field."""
    fixing = bool(ctx.conversation.data.get("fixing"))
    await ask(ctx, "preview" if fixing else next_field(draft), draft)


async def text_field(ctx: Ctx, incoming: Incoming, field: str) -> None:
    """Take a text field: a photo or a sticker gets a correction, the service checks the text."""
    if incoming.text is None:
        await ctx.reply(f"bot.submit.need_text_{field}")
        return
    value = incoming.text.strip()
    draft = draft_of(ctx)
    try:
        await ctx.call(ctx.svc.check_proposal_field, str(draft.get("round")), field, value)
    except e.InvalidInput as err:
        await ctx.send(ctx.refusal(err) + "\n" + ctx.t("bot.submit.try_again"))
        if isinstance(err, e.TitleTooLong | e.BodyTooLong):
            await ctx.refused_long()
        return
    draft[field] = value
    await advance(ctx, draft)


async def title(ctx: Ctx, incoming: Incoming) -> None:
    """The title step."""
    await text_field(ctx, incoming, "title")


async def body(ctx: Ctx, incoming: Incoming) -> None:
    """The body step."""
    await text_field(ctx, incoming, "body")


async def typed_category(ctx: Ctx, incoming: Incoming) -> None:
    """Typed while the field buttons wait: point at them again."""
    await ctx.send(ctx.t("bot.submit.press_category"), await category_keyboard(ctx))


async def category(ctx: Ctx, args: dict[str, JSON]) -> None:
    """A field button."""
    if ctx.step != "submit.category":
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    draft = draft_of(ctx)
    draft["category"] = str_arg(args, "category")
    await ctx.call(
        ctx.svc.check_proposal_field, str(draft.get("round")), "category", draft["category"]
    )
    await ctx.show(
        ctx.t("bot.submit.category_chosen", category=category_name(ctx, str_arg(args, "category")))
    )
    await advance(ctx, draft)


async def budget(ctx: Ctx, incoming: Incoming) -> None:
    """The budget step: ``1,500,000`` or 150 in the Korean man unit (won optional) all work."""
    if incoming.text is None:
        await ctx.reply("bot.submit.need_text_budget")
        return
    try:
        won = parse_amount(incoming.text)
    except ValueError:
        await ctx.reply("bot.submit.budget_unreadable")
        return
    draft = draft_of(ctx)
    try:
        await ctx.call(ctx.svc.check_proposal_field, str(draft.get("round")), "budget", won)
    except e.InvalidInput as err:
        await ctx.send(ctx.refusal(err) + "\n" + ctx.t("bot.submit.try_again"))
        return
    draft["budget"] = won
    await ctx.reply("bot.submit.budget_read", budget=amount(ctx, won))
    await advance(ctx, draft)


async def photo(ctx: Ctx, incoming: Incoming) -> None:
    """The optional photo step.

    An album (several picked at once) reaches the step as its first item only: a photo is
    taken (and the others told so), anything else is no photo. An album led by a video or a
    file is then told that none of it was taken, in one answer: the photos after it are
    dropped (:meth:`Ctx.rest_of_album`), and the step cannot wait to see whether one comes.
    """
    if incoming.photo_file_id is None:
        # A picture sent "as a file" arrives as a document, which the card cannot show as a photo.
        sent = incoming.document
        key = "need_photo"
        if sent and sent.mime_type.startswith("image/"):
            key = "photo_as_file"
        elif incoming.album:
            key = "album_no_photo"
        draft = draft_of(ctx)
        await ctx.send(ctx.t(photo_key(draft, key)), await photo_buttons(ctx, draft))
        return
    draft = draft_of(ctx)
    draft["photo"] = incoming.photo_file_id
    draft["photo_uid"] = incoming.photo_unique_id  # the same picture sent again keeps it
    ctx.tell_album("bot.submit.album_first_photo")  # several sent at once: the first is kept
    await preview(ctx, draft)


def photo_key(draft: dict[str, JSON], key: str) -> str:
    """Return the photo step's text ``key``, in its own wording when the draft has a photo
    already (fixing the photo field, or editing a proposal that has one): there the choice
    is to keep that photo or remove it, not to go on without one."""
    return (
        f"bot.submit.{key}_change" if isinstance(draft.get("photo"), str) else f"bot.submit.{key}"
    )


async def photo_buttons(ctx: Ctx, draft: dict[str, JSON]) -> InlineKeyboardMarkup:
    """Return the photo step's buttons: 'Continue without a photo', or, when the draft has a
    photo already, 'Keep the current photo' and 'Remove the photo'."""
    if not isinstance(draft.get("photo"), str):
        return await inline(ctx, [[Btn(ctx.t("bot.submit.skip_photo"), "submit.skip_photo")]])
    keep = Btn(ctx.t("bot.submit.keep_photo"), "submit.keep_photo")
    remove = Btn(ctx.t("bot.submit.remove_photo"), "submit.skip_photo")
    return await inline(ctx, [[keep], [remove]])


async def keep_photo(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Keep the photo the draft has: back to the preview unchanged."""
    draft = draft_of(ctx)
    if ctx.step != "submit.photo" or not isinstance(draft.get("photo"), str):
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    await preview(ctx, draft)


async def skip_photo(ctx: Ctx, args: dict[str, JSON]) -> None:
    """No photo (or, when the draft had one, remove it)."""
    if ctx.step != "submit.photo":
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    draft = draft_of(ctx)
    draft["photo"] = None
    draft.pop("photo_uid", None)
    await preview(ctx, draft)


async def preview(ctx: Ctx, draft: dict[str, JSON], *, data: dict[str, JSON] | None = None) -> None:
    """Show the draft with Submit / Edit / Cancel (Save changes / Edit / Cancel editing)."""
    await store(ctx, "submit.preview", draft, data=data)
    editing = draft.get("editing")
    if isinstance(editing, str):
        confirm = Btn(ctx.t("bot.submit.save_edit"), "submit.save_edit", {"proposal": editing})
        cancel = Btn(ctx.t("bot.submit.cancel_edit"), "submit.cancel_edit", {"proposal": editing})
    else:
        confirm = Btn(ctx.t("bot.submit.confirm"), "submit.confirm")
        cancel = Btn(ctx.t("bot.submit.cancel"), "submit.cancel")
    markup = await inline(ctx, [[confirm], [Btn(ctx.t("bot.submit.fix"), "submit.fix"), cancel]])
    photo_id = draft.get("photo")
    region = region_of(ctx, draft)
    if isinstance(photo_id, str):  # a long body: a shortened caption, then the whole text
        await send_captioned(ctx, photo_preview(ctx, draft, region), markup, photo_id)
    else:
        await ctx.send(preview_text(ctx, draft, region), markup)


def photo_of(draft: dict[str, JSON]) -> tuple[str | None, str | None]:
    """Return the draft's photo: its file id and its file_unique_id (None when unknown: a
    proposal stored before unique ids were kept), or (None, None) when it has none."""
    photo, uid = draft.get("photo"), draft.get("photo_uid")
    if not isinstance(photo, str):
        return None, None
    return photo, uid if isinstance(uid, str) else None


def region_of(ctx: Ctx, draft: dict[str, JSON]) -> str:
    """Return the draft's city/county: an edit keeps the proposal's, a new one the person's."""
    kept = draft.get("region")
    if isinstance(kept, str) and kept:
        return kept
    return ctx.resident.region if ctx.resident and ctx.resident.region else ""


async def typed_at_preview(ctx: Ctx, incoming: Incoming) -> None:
    """Typed while the preview waits: show it again."""
    await ctx.reply("bot.submit.press_preview")
    await preview(ctx, draft_of(ctx))


async def fix_menu(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Edit: which field?"""
    if ctx.step != "submit.preview":
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    buttons = [
        Btn(ctx.t(f"bot.submit.field.{f}"), "submit.fix_field", {"field": f}) for f in FIELDS
    ]
    await ctx.send(ctx.t("bot.submit.fix_which"), await inline(ctx, grid(buttons, 3)))


async def fix_field(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Ask for one field again, then come back to the preview."""
    field = str_arg(args, "field")
    if ctx.step != "submit.preview" or field not in FIELDS:
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    await ask(ctx, field, draft_of(ctx), fixing=True)


async def cancel(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Cancel: forget the draft."""
    if "editing" in draft_of(ctx):  # an old preview's button: it would drop the edit too
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    await ctx.forget_draft()
    await ctx.drop_buttons()
    await ctx.reply("bot.submit.cancelled", await ctx.menu_markup())


async def confirm(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Submit: submit the draft (idempotent per update), then share link and receipt."""
    draft = draft_of(ctx)
    editing = "editing" in draft  # an old preview's button must not submit an edit as new
    if ctx.step != "submit.preview" or next_field(draft) != "preview" or editing:
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    region = region_of(ctx, draft)
    budget_won = draft.get("budget")
    photo_id, photo_uid = photo_of(draft)
    try:
        card = await ctx.call(
            ctx.svc.submit_proposal,
            ctx.user_id,
            str(draft.get("round")),
            title=str(draft.get("title")),
            body=str(draft.get("body")),
            category=str(draft.get("category")),
            region=region,
            budget=budget_won if isinstance(budget_won, int) else 0,
            photo_file_id=photo_id,
            photo_unique_id=photo_uid,
            request_id=ctx.request_id,
        )
    except e.PhaseClosed as err:  # submission closed while the draft was being written
        await ctx.forget_draft()
        await ctx.drop_buttons()
        phase = ctx.t(f"participation.phase.{err.params.get('phase')}")
        await ctx.reply("bot.submit.closed", await ctx.menu_markup(), phase=phase)
        return
    await ctx.forget_draft()
    await ctx.answer(ctx.t("bot.submit.done_toast"))
    await ctx.drop_buttons()
    link = ctx.services.deep_link(f"p_{card.proposal_id}")
    await ctx.reply("bot.submit.done", await ctx.menu_markup(), number=card.number, link=link)
    from bot.browse import show_card

    await show_card(ctx, card.proposal_id, fresh=True)


# --- editing a submitted proposal ------------------------------------------------------------
async def edit(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Edit (My activity): load my proposal into the draft and show its preview.

    The service says first whether it may still be changed (a stale press after the deadline
    or the withdrawal gets its polite refusal). A new proposal's draft is kept aside.
    """
    card = await ctx.call(ctx.svc.proposal_to_change, ctx.user_id, str_arg(args, "proposal"))
    data = ctx.data
    current = draft_of(ctx)
    if current and "editing" not in current:
        data["aside"] = current
    draft: dict[str, JSON] = {
        "round": card.round_id,
        "editing": card.proposal_id,
        "number": card.number,
        "region": card.region,
        "title": card.title or "",
        "body": card.body or "",
        "category": card.category,
        "budget": card.budget,
        "photo": card.photo_file_id,
        "photo_uid": card.photo_unique_id,
    }
    await preview(ctx, draft, data=data)


def editing_now(ctx: Ctx, args: dict[str, JSON]) -> bool:
    """Return whether the stored step is the preview of the edit this button belongs to."""
    proposal_id = str_arg(args, "proposal")
    draft = draft_of(ctx)
    return (
        ctx.step == "submit.preview"
        and bool(proposal_id)
        and draft.get("editing") == proposal_id
        and next_field(draft) == "preview"
    )


async def finish_edit(ctx: Ctx) -> bool:
    """End an edit: put the new proposal's draft kept aside back (True), else forget all."""
    aside = ctx.conversation.data.get("aside")
    if isinstance(aside, dict) and aside:
        await ctx.forget_draft(restore=aside)
        return True
    await ctx.forget_draft()
    return False


async def save_edit(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Save changes: edit the proposal (idempotent per update), then show its card.

    When nothing differs from the stored proposal the service writes nothing (no entry, no
    receipt); the person is told so and the edit ends as Cancel editing ends it."""
    if not editing_now(ctx, args):
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    draft = draft_of(ctx)
    budget_won = draft.get("budget")
    photo_id, photo_uid = photo_of(draft)
    try:
        card = await ctx.call(
            ctx.svc.edit_proposal,
            ctx.user_id,
            str_arg(args, "proposal"),
            title=str(draft.get("title")),
            body=str(draft.get("body")),
            category=str(draft.get("category")),
            budget=budget_won if isinstance(budget_won, int) else 0,
            photo_file_id=photo_id,
            photo_unique_id=photo_uid,
            remove_photo=photo_id is None,
            request_id=ctx.request_id,
        )
    except e.NothingChanged as err:  # nothing written: the edit ends as a cancel does
        kept = await finish_edit(ctx)
        await ctx.drop_buttons()
        text = ctx.refusal(err)
        if kept:
            text += "\n" + ctx.t("bot.submit.aside_kept")
        await ctx.send(text, await ctx.menu_markup())
        return
    kept = await finish_edit(ctx)
    await ctx.answer(ctx.t("bot.submit.edited_toast"))
    await ctx.drop_buttons()
    text = ctx.t("bot.submit.edited", number=card.number)
    if kept:
        text += "\n" + ctx.t("bot.submit.aside_kept")
    await ctx.send(text, await ctx.menu_markup())
    from bot.browse import show_card

    await show_card(ctx, card.proposal_id, fresh=True)


async def cancel_edit(ctx: Ctx, args: dict[str, JSON]) -> None:
    """Cancel editing: the proposal stays as it was; a new proposal's draft comes back."""
    proposal_id = str_arg(args, "proposal")
    if not proposal_id or draft_of(ctx).get("editing") != proposal_id:  # saved or replaced
        await ctx.answer(ctx.t("bot.button.expired"), alert=True)
        return
    kept = await finish_edit(ctx)
    await ctx.drop_buttons()
    text = ctx.t("bot.submit.edit_cancelled")
    if kept:
        text += "\n" + ctx.t("bot.submit.aside_kept")
    await ctx.send(text, await ctx.menu_markup())
