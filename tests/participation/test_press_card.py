"""The card a 공감 press returns is the card :meth:`proposal` reads after it, on SQLite and
PostgreSQL: built from the columns the writer's count returns (no read after the commit),
read again only for a retried request."""

from __future__ import annotations

import pytest

from participation.service import ParticipationService
from participation.views import Toggled
from tests.participation.conftest import simple_rules
from tests.participation.conftest import statements
from tests.participation.test_decided_ahead import before_fast_write
from tests.participation.test_service_rules import ADMIN
from tests.participation.test_service_rules import AUTHOR
from tests.participation.test_service_rules import OTHER
from tests.participation.test_service_rules import THIRD
from tests.participation.test_service_rules import R
from tests.participation.test_service_rules import World

ISSUE = [("browse.endorse", {}), ("browse.share", {})]


@pytest.fixture
def world(any_db: ParticipationService) -> World:
    """A proposal by AUTHOR with a photo and an answer, endorsed by OTHER; THIRD registered."""
    svc = any_db
    svc.create_round(ADMIN, simple_rules(endorsement_threshold=1), round_id=R)
    svc.open_round(ADMIN, R)
    for uid in (AUTHOR, OTHER, THIRD):
        svc.register(uid, region="suwon", consent_version="v1")
    card = svc.submit_proposal(
        AUTHOR, R, title="제목", body="본문", category="community", region="suwon",
        budget=1_000_000, photo_file_id="photo-1",
    )  # fmt: skip
    svc.answer_proposal(ADMIN, card.proposal_id, "답변")
    svc.endorse(OTHER, card.proposal_id)
    return World(svc, svc._clock, card.proposal_id)  # type: ignore[attr-defined]


def press(w: World, user_id: int, request_id: str, *, button: str | None = None) -> Toggled:
    if button is None:
        button = w.svc.issue_button(user_id, "browse.endorse", {"proposal": w.pid})
    return w.svc.toggle_endorsement(
        user_id, w.pid, button=button, issue=ISSUE, request_id=request_id
    )


def statements_of(
    w: World, user_id: int, request_id: str, *, button: str | None = None
) -> tuple[Toggled, list[str]]:
    """:func:`press`, and the statements it ran."""
    with statements(w.svc) as seen:
        return press(w, user_id, request_id, button=button), seen


def test_the_card_of_a_press_is_the_card_read_after_it(world: World) -> None:
    for n, endorsed in enumerate([True, False, True]):
        token = world.svc.issue_button(THIRD, "browse.endorse", {"proposal": world.pid})
        done, seen = statements_of(world, THIRD, f"tg:{n}", button=token)
        assert done.card == world.svc.proposal(world.pid, viewer=THIRD)
        assert done.card.endorsed_by_viewer is endorsed
        assert done.card.endorsements == (2 if endorsed else 1)
        assert done.card.answer == "답변" and done.card.photo_file_id == "photo-1"
        assert done.card.title == "제목" and done.card.status == "submitted"
        assert isinstance(done.card.hidden, bool) and len(done.tokens) == 2
        writer = [s for s in seen if s.startswith("UPDATE pt_proposal")]
        assert len(writer) == 1 and "RETURNING" in writer[0]
        assert seen[-1].startswith("UPDATE ledger_logs")  # the writer's last: no read after


def test_a_retried_press_returns_the_card_as_it_is(world: World) -> None:
    token = world.svc.issue_button(THIRD, "browse.endorse", {"proposal": world.pid})
    first = press(world, THIRD, "tg:1", button=token)
    press(world, OTHER, "tg:2")  # OTHER takes theirs back meanwhile
    again = press(world, THIRD, "tg:1", button=token)  # the same update, delivered again
    assert again.card == world.svc.proposal(world.pid, viewer=THIRD)
    assert again.card.endorsed_by_viewer and again.card.endorsements == 1
    assert first.card.endorsements == 2 and again.tokens != first.tokens


def test_a_press_decided_again_under_the_lock_returns_the_card_then(world: World) -> None:
    """THIRD's endorsement is taken back and given again between the read that decided a
    withdrawal and its claim: the claim misses, the writer decides the withdrawal again."""
    world.svc.endorse(THIRD, world.pid)

    def meanwhile() -> None:
        world.clock.advance(seconds=5)
        world.svc.withdraw_endorsement(THIRD, world.pid)
        world.svc.endorse(THIRD, world.pid)

    before_fast_write(world, meanwhile)
    done = press(world, THIRD, "tg:3")
    assert done.card == world.svc.proposal(world.pid, viewer=THIRD)
    assert not done.card.endorsed_by_viewer and done.card.endorsements == 1


def test_a_withdrawal_shows_a_hiding_made_before_its_claim(world: World) -> None:
    """A withdrawal's claim does not look at the hidden flag: the card still shows it."""
    world.svc.endorse(THIRD, world.pid)
    before_fast_write(world, lambda: world.svc.hide_proposal(ADMIN, world.pid, "spam"))
    done = press(world, THIRD, "tg:4")
    fresh = world.svc.proposal(world.pid, viewer=THIRD)
    assert done.card == fresh and fresh.hidden and fresh.hide_reason == "spam"


def test_without_update_returning_the_card_is_read_after_the_commit(world: World) -> None:
    dialect = world.svc._engine.dialect  # type: ignore[attr-defined]
    saved = dialect.update_returning
    dialect.update_returning = False
    try:
        done, seen = statements_of(world, THIRD, "tg:5")
    finally:
        dialect.update_returning = saved
    assert not any("RETURNING" in s for s in seen)
    assert done.card == world.svc.proposal(world.pid, viewer=THIRD)
    assert done.card.endorsed_by_viewer and done.card.endorsements == 2


def test_an_update_is_opened_with_typed_values(world: World) -> None:
    """The driver SQL reads what the Core constructs read: booleans, JSON and the button."""
    svc = world.svc
    svc.update_settings(THIRD, notifications=False)
    data = {"draft": {"title": "제목", "n": [1, 2]}, "ok": True}
    svc.save_conversation(THIRD, "submit.body", data, 0)
    args = {"proposal": world.pid, "page": 2, "deep": {"x": None}}
    token = svc.issue_button(THIRD, "browse.endorse", args)
    opened = svc.open_update(THIRD, token=token, consume={"browse.endorse"}, request_id="tg:7")
    assert opened.resident == svc.resident(THIRD) and opened.resident is not None
    assert opened.resident.notifications is False and opened.resident.subscribed is True
    assert opened.resident.registered is True
    assert opened.conversation == svc.get_conversation(THIRD)
    assert opened.conversation.data == data and opened.conversation.version == 1
    assert opened.button is not None and opened.button.args == args
    assert opened.refusal is None
    again = svc.open_update(THIRD, token=token, consume={"browse.endorse"}, request_id="tg:7")
    assert again.button == opened.button  # used up by this request: it may read it again
    other = svc.open_update(THIRD, token=token, consume={"browse.endorse"}, request_id="tg:8")
    assert other.button is None and other.refusal is not None
    stranger = svc.open_update(99, token=token)
    assert stranger.resident is None and stranger.conversation.version == 0
