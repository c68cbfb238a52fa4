"""Officials add communities through the bot: one by name and region (then its enrollment
sheet), a double tap that adds once, names refused politely, many from a CSV file (all or
none, problems by line number, caps), English, and residents refused."""

from __future__ import annotations

import copy
import json

import pytest

from participation.domain import community as cm
from tests.support.e2e_bot import OFFICIAL
from tests.support.e2e_bot import ROUND
from tests.support.e2e_bot import BotWorld
from tests.support.e2e_bot import Msg
from tests.support.e2e_bot import labels
from tests.support.e2e_bot import text_of
from tests.support.review_day import current
from tests.support.review_day import official
from tests.support.review_day import resident

pytestmark = pytest.mark.asyncio


def added_entries(world: BotWorld) -> list[dict[str, object]]:
    """Return the bodies of the ledger's community.added entries."""
    entries = [json.loads(x)["entry"] for x in world.ledger.entries(0, world.ledger.size())]
    return [x["body"] for x in entries if x["kind"] == "community.added"]


async def enrollment(world: BotWorld, uid: int, locale: str = "ko") -> Msg:
    """Open /admin → registration codes; return the enrollment screen."""
    menu = await world.text(uid, "/admin")
    await world.press(uid, menu, world.t("bot.admin.menu.enrollment", locale))
    return current(world, uid, menu)


async def to_confirmation(world: BotWorld, uid: int, name: str, region: str) -> Msg:
    """➕ → the name → the region (turning pages as needed); return the confirmation."""
    await world.press(uid, await enrollment(world, uid), world.t("bot.admin.community.add_button"))
    picker = await world.text(uid, name)
    while region not in labels(picker):
        picker = await world.press(uid, picker, "▶")
    return await world.press(uid, picker, region)


async def send_file(
    world: BotWorld, uid: int, data: bytes, name: str = "list.csv", mime: str = "text/csv"
) -> Msg:
    world.srv.send_document(uid, data, name, mime)
    await world.drain()
    return world.last(uid)


async def test_one_community_by_name_and_region_then_its_sheet(world: BotWorld) -> None:
    boss = await official(world)
    listing = await enrollment(world, boss)
    assert world.t("bot.admin.enroll_none") in text_of(listing)
    asked = await world.press(boss, listing, world.t("bot.admin.community.add_button"))
    assert text_of(asked) == world.t("bot.admin.community.ask_name", max=cm.NAME_MAX)
    assert text_of(await world.photo(boss)) == world.t("bot.admin.community.need_text")
    too_long = "가" * (cm.NAME_MAX + 1)
    assert text_of(await world.text(boss, too_long)) == world.t(
        "participation.error.community_name_invalid", max=cm.NAME_MAX
    )
    picker = await world.text(boss, "  햇살   마을 ")
    assert text_of(picker) == world.t("bot.admin.community.ask_region", name="햇살 마을")
    assert "연천군" not in labels(picker)  # the second page of the round's 31
    picker = await world.press(boss, picker, "▶")
    confirm = await world.press(boss, picker, "연천군")
    assert text_of(confirm) == world.t(
        "bot.admin.community.confirm", name="햇살 마을", region="연천군"
    )
    assert added_entries(world) == []

    await world.press(boss, confirm, world.t("bot.admin.community.add_yes"))
    listing = current(world, boss, confirm)
    line = world.t("bot.admin.enroll_line", name="햇살 마을", region="연천군", issued=0, redeemed=0)
    assert line in text_of(listing)
    [body] = added_entries(world)
    assert (body["community"], body["region"]) == ("c001", "yeoncheon")
    assert world.svc.get_conversation(boss).step == ""

    pick = await world.press(boss, listing, "햇살 마을")
    await world.press(boss, pick, world.t("bot.admin.enroll_sheet.voter"))
    sheet = world.last(boss)
    assert sheet["document_bytes"][:5] == b"%PDF-"
    assert sheet["document"]["file_name"] == "enrollment-c001-voter.pdf"
    assert world.svc.communities(ROUND)[0].issued == 10


async def test_a_name_the_round_has_is_refused_and_cancel_adds_nothing(world: BotWorld) -> None:
    world.svc.add_community(OFFICIAL, ROUND, region="suwon", name="달빛마을")
    boss = await official(world)
    listing = await enrollment(world, boss)
    await world.press(boss, listing, world.t("bot.admin.community.add_button"))
    said = await world.text(boss, "달빛 마을")
    assert text_of(said) == world.t("participation.error.community_name_taken", name="달빛 마을")
    picker = await world.text(boss, "별빛마을")
    assert text_of(await world.text(boss, "수원시")) == world.t("bot.admin.community.use_buttons")
    await world.press(boss, picker, world.t("bot.admin.cancel"))
    back = current(world, boss, picker)
    assert world.t("bot.admin.enroll_head", communities=1, issued=0, redeemed=0) in text_of(back)
    assert world.t("bot.admin.community.cancelled") in [
        a.get("text") for a in world.srv.answered_callbacks(boss)
    ]
    assert world.svc.get_conversation(boss).step == ""
    assert len(world.svc.communities(ROUND)) == 1 and len(added_entries(world)) == 1


async def test_a_double_tap_or_a_redelivery_on_add_adds_once(world: BotWorld) -> None:
    boss = await official(world)
    confirm = await to_confirmation(world, boss, "햇살마을", "수원시")
    data = world.data_of(confirm, world.t("bot.admin.community.add_yes"))
    tap = world.srv.press(boss, confirm["message_id"], data)
    world.srv.press(boss, confirm["message_id"], data)  # tapped again before the redraw
    await world.drain()
    await world.feed(tap)  # the runtime hands the first tap to a second worker
    assert len(added_entries(world)) == 1 and len(world.svc.communities(ROUND)) == 1
    answers = [a.get("text") for a in world.srv.answered_callbacks(boss)]
    assert world.t("bot.admin.community.added", name="햇살마을") in answers
    assert world.t("bot.button.expired") in answers

    # the region picker of a flow that has ended is refused politely, as elsewhere
    listing = await enrollment(world, boss)
    await world.press(boss, listing, world.t("bot.admin.community.add_button"))
    picker = await world.text(boss, "달빛마을")
    stale_data = world.data_of(picker, "수원시")
    cancel = world.srv.press(boss, picker["message_id"], world.data_of(picker, "취소"))
    await world.drain()
    stale = copy.deepcopy(cancel)
    stale["update_id"] += 1000
    stale["callback_query"]["data"] = stale_data
    await world.feed(stale)
    assert text_of(world.last(boss)) == world.t("participation.error.button_expired")
    assert len(world.svc.communities(ROUND)) == 1 and world.svc.get_conversation(boss).step == ""


async def test_many_from_a_csv_with_bom_and_korean_region_names(world: BotWorld) -> None:
    boss = await official(world)
    world.svc.add_community(OFFICIAL, ROUND, region="suwon", name="먼저 온 마을")
    listing = await enrollment(world, boss)
    asked = await world.press(boss, listing, world.t("bot.admin.community.bulk_button"))
    assert text_of(asked) == world.t("bot.admin.community.bulk_ask", max=cm.BULK_MAX, kb=200)
    assert text_of(await world.text(boss, "햇살마을,수원시")) == world.t(
        "bot.admin.community.bulk_need_file"
    )
    lines = [
        "햇살마을,수원시",
        "",
        "달빛마을, 연천군 ",
        '"별, 빛 마을",yeoncheon',
        "Sunny Town,Suwon-si",
    ]
    csv = "\r\n".join(lines) + "\r\n"  # Excel's "CSV UTF-8": a BOM, CRLF, quotes
    await send_file(world, boss, ("\ufeff" + csv).encode())
    messages = world.messages(boss)
    assert text_of(messages[-2]) == world.t("bot.admin.community.bulk_added", count=4)
    assert world.t("bot.admin.enroll_head", communities=5, issued=0, redeemed=0) in text_of(
        messages[-1]
    )
    found = [(c.community, c.name, c.region) for c in world.svc.communities(ROUND)]
    assert found == [
        ("c001", "먼저 온 마을", "suwon"),
        ("c002", "햇살마을", "suwon"),
        ("c003", "달빛마을", "yeoncheon"),
        ("c004", "별, 빛 마을", "yeoncheon"),
        ("c005", "Sunny Town", "suwon"),
    ]
    assert len(added_entries(world)) == 5
    assert world.svc.get_conversation(boss).step == ""


async def test_a_spreadsheet_export_with_a_header_tabs_and_short_region_names(
    world: BotWorld,
) -> None:
    boss = await official(world)
    asked = await enrollment(world, boss)
    await world.press(boss, asked, world.t("bot.admin.community.bulk_button"))
    # copied out of a spreadsheet: a header line, tabs, region names without their ending
    sheet = "공동체 이름\t시·군\n햇살마을\t수원\n달빛마을\t연천\nSunny Town\tSuwon\n"
    await send_file(world, boss, sheet.encode(), "list.tsv", "text/tab-separated-values")
    assert text_of(world.messages(boss)[-2]) == world.t("bot.admin.community.bulk_added", count=3)
    found = [(c.name, c.region) for c in world.svc.communities(ROUND)]
    assert found == [("햇살마을", "suwon"), ("달빛마을", "yeoncheon"), ("Sunny Town", "suwon")]

    # a header is only a first line whose region column is a header word; elsewhere such a
    # line is a community with an unknown region, reported by its line, and nothing is added
    await world.press(
        boss, await enrollment(world, boss), world.t("bot.admin.community.bulk_button")
    )
    report = await send_file(world, boss, "별빛마을,수원시\n이름,지역\n".encode())
    assert text_of(report).split("\n") == [
        world.t("bot.admin.community.bulk_problems", count=1),
        world.t("bot.admin.community.problem.region_unknown", line=2, region="지역"),
    ]
    assert len(world.svc.communities(ROUND)) == 3


async def test_a_file_with_bad_lines_is_reported_by_line_and_adds_nothing(
    world: BotWorld,
) -> None:
    boss = await official(world)
    world.svc.add_community(OFFICIAL, ROUND, region="suwon", name="먼저 온 마을")
    await world.press(
        boss, await enrollment(world, boss), world.t("bot.admin.community.bulk_button")
    )
    lines = [
        "햇살마을,수원시",  # 1 fine
        "이름만 있는 줄",  # 2 one field
        "달빛마을,부산시",  # 3 no such region in the round
        "햇살 마을,연천군",  # 4 the name of line 1 again
        "먼저온마을,수원시",  # 5 the round has it
        "가" * (cm.NAME_MAX + 1) + ",수원시",  # 6 too long
    ]
    report = await send_file(world, boss, "\n".join(lines).encode(), "list.txt", "text/plain")
    expected = [
        world.t("bot.admin.community.bulk_problems", count=5),
        world.t("bot.admin.community.problem.format", line=2),
        world.t("bot.admin.community.problem.region_unknown", line=3, region="부산시"),
        world.t("bot.admin.community.problem.name_repeated", line=4, first=1, name="햇살 마을"),
        world.t("bot.admin.community.problem.name_taken", line=5, name="먼저온마을"),
        world.t("bot.admin.community.problem.name_too_long", line=6, max=cm.NAME_MAX),
    ]
    assert text_of(report).split("\n") == expected
    assert len(world.svc.communities(ROUND)) == 1 and len(added_entries(world)) == 1

    # still at the file step: the corrected file is added
    await send_file(world, boss, "햇살마을,수원시\n달빛마을,연천군\n".encode())
    assert len(world.svc.communities(ROUND)) == 3


@pytest.mark.parametrize(
    ("data", "name", "key", "params"),
    [
        ("".join(f"마을{n},수원시\n" for n in range(501)).encode(), "a.csv",
         "bot.admin.community.bulk_too_many", {"max": 500, "count": 501}),
        (b"x" * (200 * 1024 + 1), "a.csv", "bot.admin.community.bulk_too_big", {"kb": 200}),
        ("햇살마을,수원시".encode("cp949"), "a.csv", "bot.admin.community.bulk_not_utf8", {}),
        (b"PK\x03\x04", "a.xlsx", "bot.admin.community.bulk_wrong_type", {}),
        (b"\xef\xbb\xbf\n \n", "a.csv", "bot.admin.community.bulk_empty", {}),
    ],
)  # fmt: skip
async def test_a_file_over_the_caps_or_unreadable_is_refused(
    world: BotWorld, data: bytes, name: str, key: str, params: dict[str, object]
) -> None:
    boss = await official(world)
    await world.press(
        boss, await enrollment(world, boss), world.t("bot.admin.community.bulk_button")
    )
    said = await send_file(world, boss, data, name, "application/octet-stream")
    assert text_of(said) == world.t(key, **params)
    assert world.svc.communities(ROUND) == [] and added_entries(world) == []


async def test_english_official_adds_one_and_many(world: BotWorld) -> None:
    boss = world.user("Officer", language_code="en")
    await world.register(boss, "Suwon-si", "en")
    await world.deep_link(boss, world.services.deep_link(world.svc.invite_official(OFFICIAL)))
    listing = await enrollment(world, boss, "en")
    asked = await world.press(boss, listing, world.t("bot.admin.community.add_button", "en"))
    assert text_of(asked) == world.t("bot.admin.community.ask_name", "en", max=cm.NAME_MAX)
    picker = await world.text(boss, "Sunny Village")
    confirm = await world.press(boss, picker, "Suwon-si")
    assert text_of(confirm) == world.t(
        "bot.admin.community.confirm", "en", name="Sunny Village", region="Suwon-si"
    )
    await world.press(boss, confirm, world.t("bot.admin.community.add_yes", "en"))
    listing = current(world, boss, confirm)
    assert "Sunny Village (Suwon-si)" in text_of(listing)
    await world.press(boss, listing, world.t("bot.admin.community.bulk_button", "en"))
    report = await send_file(world, boss, b"Moon Village,Busan\n")
    assert world.t("bot.admin.community.bulk_problems", "en", count=1) in text_of(report)
    await send_file(world, boss, b"Moon Village,yeoncheon\n")
    assert text_of(world.messages(boss)[-2]) == world.t(
        "bot.admin.community.bulk_added", "en", count=1
    )


async def test_a_resident_cannot_use_the_officials_buttons(world: BotWorld) -> None:
    boss = await official(world)
    listing = await enrollment(world, boss)
    neighbour = resident(world, "이웃")
    mine = await world.text(neighbour, world.t("bot.menu.settings"))
    genuine = world.data_of(mine, world.t("bot.settings.change_region"))
    copied = world.data_of(listing, world.t("bot.admin.community.add_button"))
    own = [  # buttons the service issued to the resident: the role is checked on the server
        world.svc.issue_button(neighbour, "admin.community.new", {"r": ROUND}),
        world.svc.issue_button(neighbour, "admin.community.bulk", {"r": ROUND}),
        world.svc.issue_button(neighbour, "admin.community.add", {"r": ROUND}),
    ]
    for n, data in enumerate([copied, *own], start=1):
        tap = world.srv.press(neighbour, mine["message_id"], genuine)
        forged = copy.deepcopy(tap)  # their own tap in their own chat, carrying another token
        forged["update_id"] += 1000 * n
        forged["callback_query"]["data"] = data
        await world.feed(forged)
    answers = [a.get("text") for a in world.srv.answered_callbacks(neighbour)]
    assert answers.count(world.t("bot.button.expired")) == 1  # the copied one: not theirs
    refusals = [text_of(m) for m in world.messages(neighbour)][-3:]
    assert refusals == [world.t("participation.error.not_official")] * 3
    assert world.svc.get_conversation(neighbour).step == ""
    assert world.svc.communities(ROUND) == [] and added_entries(world) == []
    await world.press(boss, listing, world.t("bot.admin.community.add_button"))  # still works
    assert world.svc.get_conversation(boss).step == "admin.community.name"


async def test_two_files_sent_together_read_the_first_and_say_so(world: BotWorld) -> None:
    """Telegram's apps send two files picked together as an album. The first file was read
    and added, and the second got 'How can I help?' as if not understood; had the first
    needed corrections, the second was read as a new answer right after its report. Now
    the first is read, and one note says the other was not and how to send it."""
    boss = await official(world)
    listing = await enrollment(world, boss)
    await world.press(boss, listing, world.t("bot.admin.community.bulk_button"))
    before = len(world.messages(boss))
    files = [("햇살마을,수원시\n".encode(), "a.csv", "text/csv")]
    files.append(("달빛마을,연천군\n".encode(), "b.csv", "text/csv"))
    world.srv.send_files(boss, files)
    await world.drain()
    said = [text_of(m) for m in world.messages(boss)[before:]]
    assert said[0] == world.t("bot.admin.community.bulk_added", count=1)
    assert said[-1] == world.t("bot.admin.community.bulk_album")
    assert len(said) == 3  # added, the enrollment screen, the note
    assert [c.name for c in world.svc.communities(ROUND)] == ["햇살마을"]


@pytest.mark.parametrize(
    ("data", "name", "key", "params"),
    [
        (b"x" * (200 * 1024 + 1), "a.csv", "bot.admin.community.bulk_too_big", {"kb": 200}),
        ("햇살마을,수원시".encode("cp949"), "a.csv", "bot.admin.community.bulk_not_utf8", {}),
        (b"PK\x03\x04", "a.xlsx", "bot.admin.community.bulk_wrong_type", {}),
    ],
)  # fmt: skip
async def test_files_sent_together_whose_first_is_refused_are_not_said_to_be_read(
    world: BotWorld, data: bytes, name: str, key: str, params: dict[str, object]
) -> None:
    """Two files picked together, the first refused (too big, not UTF-8): the refusal was
    followed by 'Only the first of the files you sent together was read', which it was not
    (a first file of the wrong type: the second was dropped without a word). Now the others
    are told they were not read either, and to send one file at a time; the step stays, so
    the second file sent on its own is added."""
    boss = await official(world)
    listing = await enrollment(world, boss)
    await world.press(boss, listing, world.t("bot.admin.community.bulk_button"))
    before = len(world.messages(boss))
    good = "달빛마을,연천군\n".encode()
    files = [(data, name, "application/octet-stream"), (good, "b.csv", "text/csv")]
    world.srv.send_files(boss, files)
    await world.drain()
    said = [text_of(m) for m in world.messages(boss)[before:]]
    assert said == [world.t(key, **params), world.t("bot.admin.community.bulk_album_unread")]
    assert world.svc.communities(ROUND) == []
    assert world.svc.get_conversation(boss).step == "admin.community.bulk"
    await send_file(world, boss, good, "b.csv")
    assert [c.name for c in world.svc.communities(ROUND)] == ["달빛마을"]


async def test_an_album_at_the_name_step_is_asked_for_the_name_once(world: BotWorld) -> None:
    boss = await official(world)
    await world.press(
        boss, await enrollment(world, boss), world.t("bot.admin.community.add_button")
    )
    answer = await world.album(boss, 3, caption="햇살마을")
    assert [text_of(m) for m in answer] == [world.t("bot.admin.community.need_text")]
    assert world.svc.get_conversation(boss).step == "admin.community.name"
