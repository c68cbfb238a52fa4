"""A proposal with a photo whose text is longer than a caption (1,024 characters; a body may
hold 1,500): the photo carries a caption cut at a word boundary that says so, and the whole
text follows as a message of its own, on the card and on the submission preview alike; the
공감 toggle redraws the caption in place and sends nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event

from bot.transport import AiohttpRequest
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import jpeg
from tests.support.e2e_bot import labels

pytestmark = pytest.mark.asyncio
TITLE = "마을 공동 텃밭 만들기"
SENTENCE = "빈 땅을 주민 모두가 함께 가꾸는 텃밭으로 바꾸고 수확한 채소는 경로당과 나눠요."
CAPTION_MAX = 1024  # what Telegram (and the sandbox) accept


def long_body(size: int = 1500) -> str:
    """Return a Korean body of exactly ``size`` characters, in paragraphs, with no end space."""
    text = ""
    while len(text) < size + 50:
        text += SENTENCE + ("\n\n" if len(text) % 7 == 0 else " ")
    text = text[:size].rstrip()
    return text + "요" * (size - len(text))


BODY = long_body()


@pytest_asyncio.fixture
async def author(world: BotWorld) -> int:
    uid = world.user("박서연")
    await world.register(uid, "연천군")
    return uid


@pytest_asyncio.fixture
async def reader(world: BotWorld) -> int:
    uid = world.user("독자")
    await world.register(uid, "성남시")
    return uid


def photo_id(world: BotWorld) -> str:
    """Return the file_id of a photo the sandbox keeps (as if a resident had sent it)."""
    return str(world.srv.world.store_photo(jpeg())[-1]["file_id"])


def propose(world: BotWorld, author: int, body: str, *, title: str = TITLE) -> str:
    card = world.svc.submit_proposal(
        author, ROUND, title=title, body=body, category="environment", region="yeoncheon",
        budget=1_500_000, photo_file_id=photo_id(world),
    )  # fmt: skip
    return card.proposal_id


async def open_card(world: BotWorld, uid: int, proposal_id: str) -> list[Msg]:
    """Open the card through its share link; return the messages the bot sent for it."""
    before = len(world.messages(uid))
    await world.deep_link(uid, f"https://t.me/{world.srv.bot_username}?start=p_{proposal_id}")
    return world.messages(uid)[before:]


def assert_cut_at_a_word(caption: str, body: str, notice: str) -> None:
    """The caption fits, ends with the notice, and its body is ``body``'s start up to a space
    or a line break, then "…"."""
    assert len(caption) <= CAPTION_MAX
    assert caption.endswith("\n\n" + notice)
    shown = caption[caption.index(body[:40]) : -len("\n\n" + notice)]  # after the head
    assert shown.endswith("…")
    start = shown[:-1]
    assert len(start) > 500 and body.startswith(start)
    assert body[len(start)].isspace() and not start[-1].isspace()


@contextmanager
def bot_api_calls() -> Iterator[list[str]]:
    """Record the Bot API methods the bot calls (getUpdates left out)."""
    calls: list[str] = []
    original = AiohttpRequest.do_request

    async def do_request(self: AiohttpRequest, url: str, *args: Any, **kwargs: Any) -> Any:
        method = url.rsplit("/", 1)[-1]
        if method != "getUpdates":
            calls.append(method)
        return await original(self, url, *args, **kwargs)

    AiohttpRequest.do_request = do_request  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        AiohttpRequest.do_request = original  # type: ignore[method-assign]


@contextmanager
def sql_statements(world: BotWorld) -> Iterator[list[str]]:
    """Record the SQL statements run on the service's database."""
    seen: list[str] = []
    engine = world.ledger.engine

    def on_execute(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


async def test_the_sandbox_refuses_a_caption_over_the_limit(world: BotWorld, reader: int) -> None:
    from telegram.error import BadRequest

    with pytest.raises(BadRequest, match="caption is too long"):
        await world.app.bot.send_photo(reader, photo_id(world), caption="가" * (CAPTION_MAX + 1))


async def test_a_long_card_sends_its_photo_then_the_whole_text(
    world: BotWorld, author: int, reader: int
) -> None:
    pid = propose(world, author, BODY)
    photo, whole = await open_card(world, reader, pid)
    notice = world.t("bot.caption.continued")
    assert photo["photo"] and "마을 공동 텃밭 만들기" in photo["caption"]
    assert_cut_at_a_word(photo["caption"], BODY, notice)
    assert world.t("bot.card.endorse", count=0) in labels(photo)  # the buttons stay on the photo
    assert not whole.get("photo") and not whole.get("reply_markup")
    assert whole["text"] == world.t("bot.card.whole", number=1, title=TITLE, body=BODY)


async def test_endorsing_a_long_card_edits_the_caption_and_sends_nothing_more(
    world: BotWorld, author: int, reader: int
) -> None:
    short_pid, long_pid = propose(world, author, "짧은 내용"), propose(world, author, BODY)
    [short_card] = await open_card(world, reader, short_pid)
    long_card, _ = await open_card(world, reader, long_pid)
    sent = len(world.messages(reader))
    label = world.t("bot.card.endorse", count=0)

    with bot_api_calls() as calls, sql_statements(world) as long_sql:
        await world.press(reader, long_card, label)
    assert calls == ["answerCallbackQuery", "editMessageCaption"]
    assert len(world.messages(reader)) == sent  # no second copy of the whole text
    redrawn = next(m for m in world.messages(reader) if m["message_id"] == long_card["message_id"])
    assert redrawn["edited"] and world.t("bot.card.unendorse", count=1) in labels(redrawn)
    assert "❤️ 공감 1" in redrawn["caption"]  # the head's count, redrawn
    assert_cut_at_a_word(redrawn["caption"], BODY, world.t("bot.caption.continued"))

    with sql_statements(world) as short_sql:
        await world.press(reader, short_card, label)
    assert long_sql and len(long_sql) == len(short_sql)  # the long text costs no query


async def test_a_short_card_with_a_photo_is_one_message(
    world: BotWorld, author: int, reader: int
) -> None:
    pid = propose(world, author, "짧은 내용이에요.")
    [card] = await open_card(world, reader, pid)
    assert card["photo"] and card["caption"].endswith("짧은 내용이에요.")
    assert world.t("bot.caption.continued") not in card["caption"]


async def test_a_body_that_just_fits_is_not_cut(world: BotWorld, author: int, reader: int) -> None:
    [card] = await open_card(world, reader, propose(world, author, "가"))
    room = CAPTION_MAX - len(card["caption"]) + 1  # the longest body the caption holds whole
    pid = propose(world, author, long_body(room), title=TITLE)
    [fits] = await open_card(world, reader, pid)
    assert len(fits["caption"]) == CAPTION_MAX and fits["caption"].endswith(long_body(room))
    photo, whole = await open_card(world, reader, propose(world, author, long_body(room + 1)))
    assert_cut_at_a_word(photo["caption"], long_body(room + 1), world.t("bot.caption.continued"))


async def test_the_preview_of_a_long_draft_with_a_photo_shows_the_whole_text(
    world: BotWorld, author: int
) -> None:
    await world.text(author, world.t("bot.menu.submit"))
    await world.text(author, TITLE)
    await world.text(author, BODY)
    await world.press(author, world.last(author), "환경·안전")
    await world.text(author, "150만")
    before = len(world.messages(author))
    await world.photo(author)
    photo, whole = world.messages(author)[before:]
    notice = world.t("bot.caption.continued")
    assert photo["photo"] and world.t("bot.submit.confirm") in labels(photo)
    assert_cut_at_a_word(photo["caption"], BODY, notice)
    assert photo["caption"].startswith(world.t("bot.submit.preview", title=TITLE, body="")[:12])
    assert whole["text"] == world.t("bot.submit.whole", title=TITLE, body=BODY)
    draft = world.svc.get_conversation(author).data["draft"]
    assert isinstance(draft, dict) and draft["body"] == BODY  # the draft keeps every word

    await world.press(author, photo, world.t("bot.submit.confirm"))
    [mine] = world.svc.my_proposals(author)
    assert world.svc.proposal(mine.proposal_id).body == BODY
    card, card_whole = world.messages(author)[-2:]  # the new card, the same way
    assert card["photo"] and card_whole["text"].endswith(BODY)


async def test_the_edit_preview_of_a_long_proposal_shows_the_whole_text(
    world: BotWorld, author: int
) -> None:
    propose(world, author, BODY)
    mine = await world.text(author, world.t("bot.menu.activity"))
    before = len(world.messages(author))
    await world.press(author, mine, world.t("bot.activity.edit", number=1))
    photo, whole = world.messages(author)[before:]
    assert photo["photo"] and world.t("bot.submit.save_edit") in labels(photo)
    assert_cut_at_a_word(photo["caption"], BODY, world.t("bot.caption.continued"))
    assert whole["text"] == world.t("bot.submit.whole", title=TITLE, body=BODY)


async def test_an_english_reader_gets_the_english_notice(world: BotWorld, author: int) -> None:
    alex = world.user("Alex", language_code="en")
    await world.register(alex, "Suwon-si", "en")
    photo, whole = await open_card(world, alex, propose(world, author, BODY))
    assert photo["caption"].endswith(world.t("bot.caption.continued", "en"))
    assert whole["text"].endswith(BODY)


async def test_a_long_answer_shares_the_caption_with_the_body(
    world: BotWorld, author: int, reader: int
) -> None:
    pid = propose(world, author, BODY)
    answer = long_body(1500).replace("텃밭", "답변")
    world.svc.answer_proposal(OFFICIAL, pid, answer)
    photo, whole = await open_card(world, reader, pid)
    caption = photo["caption"]
    assert len(caption) <= CAPTION_MAX and caption.endswith(world.t("bot.caption.continued"))
    body_start, answer_start = caption.index(BODY[:40]), caption.index(answer[:40])
    assert answer_start - body_start > 300  # the body keeps its share, the answer too
    assert whole["text"].endswith(world.t("bot.card.answer", answer=answer))
    assert BODY in whole["text"]


async def test_a_card_that_gained_a_photo_is_sent_anew_with_its_whole_text(
    world: BotWorld, author: int, reader: int
) -> None:
    card = world.svc.submit_proposal(
        author, ROUND, title=TITLE, body=BODY, category="environment", region="yeoncheon",
        budget=1_500_000,
    )  # fmt: skip
    [text_card] = await open_card(world, reader, card.proposal_id)
    assert not text_card.get("photo") and text_card["text"].endswith(BODY)  # text: no cut
    world.svc.edit_proposal(author, card.proposal_id, photo_file_id=photo_id(world))
    before = len(world.messages(reader))
    await world.press(reader, text_card, world.t("bot.card.endorse", count=0))
    photo, whole = world.messages(reader)[before:]  # a text cannot become a photo in place
    assert photo["photo"] and world.t("bot.card.unendorse", count=1) in labels(photo)
    assert_cut_at_a_word(photo["caption"], BODY, world.t("bot.caption.continued"))
    assert whole["text"] == world.t("bot.card.whole", number=1, title=TITLE, body=BODY)
