"""Pure domain: event schemas, round rules, grouping, on-site codes, error catalog keys."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from i18n import Catalog
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain import rules
from participation.domain.model import Invite
from participation.domain.model import ProposalState
from participation.domain.model import RoundState
from participation.domain.regions import GYEONGGI
from participation.domain.round import Deadlines
from participation.domain.round import RoundRules

CATALOG = Catalog.load()
codes = st.text("abcdefghij_-0123456789", min_size=1, max_size=12)


@pytest.mark.parametrize("error", e.all_errors(), ids=lambda c: c.__name__)
def test_every_error_has_a_message_in_both_locales(error: type[e.ParticipationError]) -> None:
    assert CATALOG.has(error.key, "ko") and CATALOG.has(error.key, "en")


def test_error_keys_are_distinct() -> None:
    keys = [err.key for err in e.all_errors()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("region", GYEONGGI.regions, ids=lambda r: r.code)
def test_every_region_category_and_reason_is_named(region: object) -> None:
    assert CATALOG.has(region.name_key, "ko") and CATALOG.has(region.name_key, "en")  # type: ignore[attr-defined]


def test_gyeonggi_has_31_si_gun() -> None:
    assert len(GYEONGGI.regions) == 31
    assert [r.code for r in GYEONGGI.regions if r.kind == "gun"] == [
        "yeoncheon",
        "gapyeong",
        "yangpyeong",
    ]


def test_events_kinds_are_dotted_and_closed() -> None:
    assert len(ev.KINDS) == len(ev.EVENT_TYPES) == 36
    assert all(k.count(".") == 1 and k == k.lower() for k in ev.KINDS)
    with pytest.raises(ev.MalformedBody):
        ev.parse("proposal.liked", {"v": 1})


@given(
    proposal=codes,
    scores=st.dictionaries(codes, st.integers(1, 5), max_size=4),
    groups=st.lists(st.lists(codes, max_size=4).map(tuple), max_size=4).map(tuple),
    corrects=st.none() | codes,
)
def test_event_payloads_round_trip(
    proposal: str, scores: dict[str, int], groups: tuple[tuple[str, ...], ...], corrects: str | None
) -> None:
    for event in (
        ev.JudgeScored(proposal=proposal, scores=scores),
        ev.ReviewGrouped(groups=groups),
        ev.PaperEntered(
            tally="t",
            session="s",
            proposal=proposal,
            ballots=1,
            points=3,
            sheet_sha256="0" * 64,
            corrects=corrects,
        ),
    ):
        assert ev.parse(event.kind, event.to_payload()) == event


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "proposal": "p"},
        {"v": 1},
        {"v": 1, "proposal": 3},
        {"v": 1, "proposal": "p", "extra": 1},
    ],
)
def test_malformed_bodies_are_refused(body: dict[str, ev.JSON]) -> None:
    with pytest.raises(ev.MalformedBody):
        ev.parse("proposal.endorsed", body)


TOML = """
title = "2017 따복공동체 주민제안 공모사업"
budget_cap = 3_100_000_000
select_count = 450
selection = "channel_quotas"
eligibility = "enrollment"
peer_scoring = true
review_group_size = 12
[deadlines]
submission_ends = 2017-02-10T18:00:00+09:00
endorsement_ends = "2017-02-17T18:00:00+09:00"
review_ends = 1487840400
[weights]
judges = 50
onsite = 30
online = 20
[channel_quotas]
onsite = 250
online = 200
"""


def test_rules_load_from_toml_and_round_trip_through_the_ledger_payload() -> None:
    loaded = RoundRules.from_dict(tomllib.loads(TOML))
    assert loaded.channel_quotas == {"onsite": 250, "online": 200}
    assert loaded.deadlines.submission_ends == 1486717200
    assert RoundRules.from_payload(loaded.to_payload()) == loaded


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"weights": {"judges": 50, "onsite": 30, "online": 30}}, "sum to 100"),
        ({"selection": "lottery"}, "selection"),
        ({"eligibility": "open"}, "peer_scoring"),
        ({"budget_cap": 10}, "max_request"),
        ({"colour": 3}, "unknown options"),
        ({"deadlines": {"submission_ends": 3, "endorsement_ends": 2, "review_ends": 1}}, "order"),
        (
            {
                "deadlines": {
                    "submission_ends": "2017-02-10T18:00",
                    "endorsement_ends": 2,
                    "review_ends": 3,
                }
            },
            "offset",
        ),
    ],
)
def test_invalid_rules_name_the_problem(change: dict[str, object], problem: str) -> None:
    data = tomllib.loads(TOML) | change
    with pytest.raises(e.InvalidRules) as caught:
        RoundRules.from_dict(data)
    assert problem in str(caught.value.params["problems"])


def _proposal(n: int, category: str = "community") -> ProposalState:
    return ProposalState(
        proposal_id=f"r-{n}",
        round_id="r",
        author_id=n,
        community=None,
        category=category,
        region="suwon",
        budget=1,
    )


def test_815_proposals_make_68_groups_of_11_or_12_as_in_2017() -> None:
    groups = rules.split_groups([_proposal(n) for n in range(1, 816)], 12)
    assert len(groups) == 68
    assert {len(g) for g in groups} == {11, 12}
    assert sorted(p for g in groups for p in g) == sorted(f"r-{n}" for n in range(1, 816))


def test_onsite_code_rotates_every_30s_and_is_accepted_for_60s() -> None:
    secret = b"k" * 32
    code = rules.onsite_code(secret, "abc", 1_000_020)  # window starts at 1_000_020
    session, mac = rules.parse_onsite_code(code)
    assert session == "abc"
    assert rules.onsite_code(secret, "abc", 1_000_049) == code
    assert rules.onsite_code(secret, "abc", 1_000_050) != code
    rules.verify_onsite_code(secret, "abc", mac, 1_000_079)
    with pytest.raises(e.OnsiteCodeExpired):
        rules.verify_onsite_code(secret, "abc", mac, 1_000_080)
    with pytest.raises(e.CodeUnknown):
        rules.verify_onsite_code(b"x" * 32, "abc", mac, 1_000_021)


def test_a_code_is_checked_when_it_was_scanned_within_15_minutes_never_in_the_future() -> None:
    """A scan that waited (a busy hall's queue, an outage, a newcomer's registration) is
    checked at the moment Telegram stamped on it; never at a moment after now (a sender's
    clock ahead of ours), nor more than 15 minutes back."""
    now = 2_000_000
    assert rules.scan_time(now, None) == now
    assert rules.scan_time(now, now - 80) == now - 80
    assert rules.scan_time(now, now + 3_600) == now
    assert rules.scan_time(now, now - 16 * 60) == now - rules.ONSITE_SCAN_LATE_S == now - 900
    secret = b"k" * 32
    _, mac = rules.parse_onsite_code(rules.onsite_code(secret, "abc", now - 80))
    with pytest.raises(e.OnsiteCodeExpired):
        rules.verify_onsite_code(secret, "abc", mac, now)
    rules.verify_onsite_code(secret, "abc", mac, rules.scan_time(now, now - 80))


def test_refusals_after_a_deadline_carry_the_instant_for_the_reader_to_see_written() -> None:
    """The domain wrote deadlines into its refusals as '2017-02-23 18:00', a format no other
    screen uses ('2017년 2월 23일 (목) 오후 6:00'): they carry the epoch second, named in the
    error's ``moments``, and the adapters write it in the reader's language."""
    base = RoundRules(title="t", deadlines=Deadlines(submission_ends=1_000, endorsement_ends=2_000,
                                                     review_ends=3_000))  # fmt: skip
    review = RoundState(round_id="r", phase="review", rules=base)
    with pytest.raises(e.DeadlinePassed) as passed:
        rules.require_phase(review, ("review",), action="score", now=3_000, deadline=3_000)
    with pytest.raises(e.OpenedTooLate) as late:
        rules.decide_open(RoundState(round_id="r", phase="draft", rules=base), now=1_000)
    invite = Invite(kind="judge", round_id="r", role="judge", group=None, expires_at=500,
                    used=False)  # fmt: skip
    with pytest.raises(e.InviteExpired) as expired:
        rules.check_invite(invite, now=600)
    written = lambda at: f"<{at}>"  # noqa: E731
    assert passed.value.shown(written) == {"action": "score", "deadline": "<3000>"}
    assert late.value.shown(written) == {"deadline": "<1000>"}
    assert expired.value.shown(written) == {"expired_at": "<500>"}
    assert passed.value.params["deadline"] == 3_000  # the instant itself, as the ledger has it


@pytest.mark.parametrize(
    "error", [c for c in e.all_errors() if c.moments], ids=lambda c: c.__name__
)
def test_an_errors_moments_are_placeholders_of_its_message(
    error: type[e.ParticipationError],
) -> None:
    for locale in ("ko", "en"):
        for name in error.moments:
            assert f"%({name})s" in CATALOG.messages[locale][error.key]


@pytest.mark.parametrize(
    ("moved", "ended"),
    [(2_500, 2_500), (3_000, 3_000), (3_420, 3_000), (None, 3_000)],
    ids=["moved on early", "at the deadline", "after the deadline", "moment not read"],
)
def test_a_refusal_after_the_review_says_when_it_ended(moved: int | None, ended: int) -> None:
    """The review ended at its deadline, or when an official moved the round on before it;
    the clock's move after the deadline (it waits for what was received before) is not when
    it ended. The refusal carries that instant, as the deadline refusals do."""
    d = Deadlines(submission_ends=1_000, endorsement_ends=2_000, review_ends=3_000)
    rnd = RoundState(round_id="r", phase="results", rules=RoundRules(title="t", deadlines=d),
                     phase_changed_at=moved)  # fmt: skip
    assert rules.review_ended_at(rnd) == ended
    p = ProposalState(proposal_id="r-1", round_id="r", author_id=1, community=None,
                      category="culture", region="suwon", budget=1, shortlisted=True)  # fmt: skip
    with pytest.raises(e.ReviewOver) as over:
        rules.check_judging(rnd, p, judge_group=None, user_id=2, enrollment=None,
                            recused=False, now=3_600)  # fmt: skip
    assert over.value.shown(lambda at: f"<{at}>")["ended"] == f"<{ended}>"
    for phase in ("review", "closed"):
        other = RoundState(round_id="r", phase=phase, rules=rnd.rules, phase_changed_at=moved)
        assert rules.review_ended_at(other) is None


def test_an_action_is_judged_when_it_was_received_within_15_minutes_never_in_the_future() -> None:
    """An action that waited in the queue (a busy hall, an outage) is judged at the moment
    ingress received it; never after now (a clock ahead of ours), nor more than 15 min back."""
    now = 2_000_000
    assert rules.judged_at(now, None) == now
    assert rules.judged_at(now, now - 80) == now - 80
    assert rules.judged_at(now, now + 3_600) == now
    assert rules.judged_at(now, now - 16 * 60) == now - rules.RECEIVED_LATE_S == now - 900


def test_a_deadline_moves_the_round_once_nothing_received_before_it_waits() -> None:
    """The clock waits for the actions received before the deadline (they are judged at
    that moment, in the phase they were sent in), for at most 10 minutes."""
    d = Deadlines(submission_ends=1_000, endorsement_ends=2_000, review_ends=3_000)
    rnd = RoundState(round_id="r", phase="endorsement", rules=RoundRules(title="t", deadlines=d))
    assert rules.due_phase(rnd, 1_999) is None
    assert rules.due_phase(rnd, 2_000) == "review"
    assert rules.due_phase(rnd, 2_005, waiting_since=1_999) is None
    assert rules.due_phase(rnd, 2_005, waiting_since=2_000) == "review"  # sent too late anyway
    assert rules.due_phase(rnd, 2_005, waiting_since=None) == "review"
    assert rules.due_phase(rnd, 2_000 + 599, waiting_since=1_000) is None
    assert rules.due_phase(rnd, 2_000 + rules.ADVANCE_WAIT_S, waiting_since=1_000) == "review"
    assert rules.ADVANCE_WAIT_S == 600 < rules.RECEIVED_LATE_S
