"""Repositories: SQL over the ``pt_`` tables, returning domain snapshots and read models.

Every function takes the caller's ``Connection`` so that a command's reads and writes share
the ledger's write transaction (see ``participation.domain.ports``).
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple

import sqlalchemy as sa

from participation.domain import errors as e
from participation.domain.events import JSON
from participation.domain.model import Enrollment
from participation.domain.model import Invite
from participation.domain.model import OnsiteSession
from participation.domain.model import PaperTally
from participation.domain.model import ProposalState
from participation.domain.model import RoundState
from participation.domain.round import RoundRules
from participation.domain.rules import review_ended_at
from participation.store import driver
from participation.store import tables as t
from participation.store.driver import sql
from participation.views import Conversation
from participation.views import ProposalCard
from participation.views import Resident
from participation.views import RoundView

Conn = sa.Connection


def _groups(raw: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(g) for g in (raw or []))


# --- rounds ------------------------------------------------------------------------------------
def round_state(conn: Conn, round_id: str) -> RoundState:
    """Return the round.  Raises RoundNotFound."""
    row = conn.execute(sa.select(t.rounds).where(t.rounds.c.round_id == round_id)).first()
    if row is None:
        raise e.RoundNotFound(round=round_id)
    return RoundState(
        round_id=row.round_id,
        phase=row.phase,
        rules=RoundRules.from_payload(row.rules),
        groups=_groups(row.groups),
        results_published=row.results is not None,
        phase_changed_at=row.phase_changed_at,
    )


def round_view(state: RoundState) -> RoundView:
    """Return the read model of a round."""
    return RoundView(
        round_id=state.round_id,
        title=state.rules.title,
        phase=state.phase,
        rules=state.rules,
        groups=state.groups,
        results_published=state.results_published,
        review_ended_at=review_ended_at(state),
    )


def round_ids(conn: Conn) -> list[str]:
    """Return every round id, newest first."""
    rows = conn.execute(sa.select(t.rounds.c.round_id).order_by(t.rounds.c.seq.desc()))
    return [r.round_id for r in rows]


def next_round_seq(conn: Conn) -> int:
    """Return the creation number of a new round."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.rounds)).scalar_one()) + 1


# --- residents ---------------------------------------------------------------------------------
PersonState = tuple[Resident | None, Conversation]


def resident(conn: Conn, user_id: int) -> Resident | None:
    """Return a person's registration and settings, or None."""
    row = conn.exec_driver_sql(sql(conn, driver.RESIDENT), (user_id,)).first()
    return None if row is None else _settings(user_id, row)


def _settings(user_id: int, row: Sequence[Any]) -> Resident | None:
    """A person's settings from the columns of ``driver.RESIDENT`` (None when ``locale`` is
    NULL: an outer join's miss)."""
    registered_at, consent_version, locale, region, notifications, subscribed, blocked = row
    if locale is None:
        return None
    return Resident(
        user_id=user_id,
        registered=registered_at is not None,
        consent_version=consent_version,
        locale=locale,
        region=region,
        notifications=bool(notifications),
        subscribed=bool(subscribed) and not blocked,
    )


def _person(user_id: int, row: Sequence[Any], codec: driver.Codec) -> PersonState:
    """:func:`person` from the columns of ``driver.PERSON``."""
    step, data, version = row[7:10]
    if version is None:
        conversation = Conversation(step="", data={}, version=0)
    else:
        conversation = Conversation(step=step, data=dict(codec.json_value(data)), version=version)
    return _settings(user_id, row[:7]), conversation


def _button(row: Sequence[Any], codec: driver.Codec) -> ButtonRow | None:
    """The columns ``token, user_id, action, args, expires_at, used_at`` of an outer-joined
    pt_button row (None: no such token)."""
    token, user_id, action, args, expires_at, used_at = row
    if token is None:
        return None
    return ButtonRow(user_id, action, codec.json_value(args), expires_at, used_at)


def person(conn: Conn, user_id: int) -> PersonState:
    """Return a person's settings (None if never seen) and conversation state, in one query."""
    row = conn.exec_driver_sql(sql(conn, driver.PERSON), (user_id,)).one()
    return _person(user_id, row, driver.codec(conn.dialect))


def person_and_button(
    conn: Conn, user_id: int, token: str
) -> tuple[Resident | None, Conversation, ButtonRow | None]:
    """Return :func:`person` and the stored row of button ``token`` (None), in one query."""
    found = conn.exec_driver_sql(sql(conn, driver.PERSON_AND_BUTTON), (user_id, token)).one()
    codec = driver.codec(conn.dialect)
    resident, conversation = _person(user_id, found, codec)
    return resident, conversation, _button(found[10:], codec)


def upsert_resident(conn: Conn, user_id: int, **values: object) -> None:
    """Create the settings row of a person if needed, then apply ``values``."""
    exists = conn.execute(
        sa.select(t.residents.c.user_id).where(t.residents.c.user_id == user_id)
    ).first()
    if exists is None:
        row: dict[str, object] = {
            "user_id": user_id,
            "locale": "ko",
            "notifications": True,
            "subscribed": True,
            "blocked": False,
        }
        row.update(values)
        conn.execute(sa.insert(t.residents).values(**row))
    elif values:
        conn.execute(
            sa.update(t.residents).where(t.residents.c.user_id == user_id).values(**values)
        )


def official_role(conn: Conn, user_id: int) -> str | None:
    """Return the official role of a person, or None."""
    return conn.execute(
        sa.select(t.officials.c.role).where(t.officials.c.user_id == user_id)
    ).scalar_one_or_none()


def require_official(conn: Conn, user_id: int, *, admin: bool = True) -> str:
    """Return the role.  Raises NotOfficial, or AdminOnly for a clerk where ``admin`` is
    needed."""
    role = official_role(conn, user_id)
    if role is None:
        raise e.NotOfficial()
    if admin and role != "admin":
        raise e.AdminOnly()
    return role


# --- proposals ---------------------------------------------------------------------------------
def _proposal_state(row: Any) -> ProposalState:
    return ProposalState(
        proposal_id=row.proposal_id,
        round_id=row.round_id,
        author_id=row.author_id,
        community=row.community,
        category=row.category,
        region=row.region,
        budget=row.budget,
        withdrawn=row.withdrawn,
        hidden=row.hidden,
        shortlisted=row.shortlisted,
        endorsements=row.endorsements,
    )


def proposal_state(conn: Conn, proposal_id: str) -> ProposalState:
    """Return a proposal.  Raises ProposalNotFound."""
    row = conn.execute(
        sa.select(t.proposals).where(t.proposals.c.proposal_id == proposal_id)
    ).first()
    if row is None:
        raise e.ProposalNotFound(proposal=proposal_id)
    return _proposal_state(row)


EndorseState = tuple[bool, ProposalState, RoundState, int | None]


def endorse_state(conn: Conn, user_id: int, proposal_id: str) -> EndorseState | None:
    """Return (the person is registered, the proposal, its round, since when the person
    endorses it or None) in one statement, or None when the proposal (or its round) is not
    found."""
    params = (user_id, user_id, proposal_id)
    row = conn.exec_driver_sql(sql(conn, driver.ENDORSE_STATE), params).first()
    return None if row is None else _endorse_state(row, driver.codec(conn.dialect))


def _endorse_state(row: Sequence[Any], codec: driver.Codec) -> EndorseState:
    """:func:`endorse_state` from the columns of ``driver.ENDORSE_STATE``."""
    registered, p, rnd = _proposal_round(row, codec)
    return registered, p, rnd, row[16]


def _proposal_round(
    row: Sequence[Any], codec: driver.Codec
) -> tuple[bool, ProposalState, RoundState]:
    """(registered, proposal, round) from the first 16 columns of a press's state read."""
    (pid, round_id, author_id, community, category, region, budget, withdrawn, hidden,
     shortlisted, endorsements, phase, rules, groups, published, registered) = row[:16]  # fmt: skip
    p = ProposalState(
        proposal_id=pid,
        round_id=round_id,
        author_id=author_id,
        community=community,
        category=category,
        region=region,
        budget=budget,
        withdrawn=bool(withdrawn),
        hidden=bool(hidden),
        shortlisted=bool(shortlisted),
        endorsements=endorsements,
    )
    rnd = RoundState(
        round_id=round_id,
        phase=phase,
        rules=_round_rules(rules),
        groups=_groups(codec.json_value(groups)),
        results_published=bool(published),
    )
    return bool(registered), p, rnd


@functools.lru_cache(maxsize=64)
def _round_rules(text: str) -> RoundRules:
    """Return a round's rules from their stored JSON text, parsed once per text: a press
    reads them every time, and they are frozen once the round opens (a pure function of
    the text, so the memo holds no state of its own)."""
    return RoundRules.from_payload(json.loads(text))


def proposal_states(conn: Conn, round_id: str, *, shortlisted: bool = False) -> list[ProposalState]:
    """Return the round's proposals (only shortlisted ones if asked), by number."""
    q = sa.select(t.proposals).where(t.proposals.c.round_id == round_id)
    if shortlisted:
        q = q.where(t.proposals.c.shortlisted.is_(True))
    return [_proposal_state(r) for r in conn.execute(q.order_by(t.proposals.c.number))]


def next_proposal_number(conn: Conn, round_id: str) -> int:
    """Return the number of the round's next proposal."""
    current = conn.execute(
        sa.select(sa.func.max(t.proposals.c.number)).where(t.proposals.c.round_id == round_id)
    ).scalar_one_or_none()
    return int(current or 0) + 1


def live_community_proposals(conn: Conn, round_id: str, community: str) -> int:
    """Return how many live proposals the community has in the round."""
    p = t.proposals.c
    q = sa.select(sa.func.count()).where(
        p.round_id == round_id, p.community == community, p.withdrawn.is_(False)
    )
    return int(conn.execute(q).scalar_one())


def _status(row: Any, phase: str, published: bool) -> str:
    if row.withdrawn:
        return "withdrawn"
    if published and row.selected is not None:
        return "selected" if row.selected else "not_selected"
    if phase in ("results", "closed") and row.shortlisted:
        return "counting"  # reviewed, results not published yet
    if phase in ("review", "results", "closed"):
        return "review" if row.shortlisted else "not_shortlisted"
    return "submitted"


def _card_select(proposals: sa.FromClause) -> sa.Select[Any]:
    """Return the card columns of the pt_proposal rows of ``proposals`` (a table or subquery):
    content, answer, the round's phase, whether results are out, and whether ``:viewer``
    endorses it (one statement; ``:viewer`` NULL matches nobody)."""
    p = proposals.c
    content = t.contents.alias("c")
    answer = t.contents.alias("a")
    en = t.endorsements.c
    endorsed = (
        sa.exists()
        .where(en.proposal_id == p.proposal_id, en.user_id == sa.bindparam("viewer"))
        .label("endorsed")
    )
    return (
        sa.select(
            proposals,
            content.c.data.label("content"),
            answer.c.data.label("answer_data"),
            t.rounds.c.phase,
            t.rounds.c.results_index.is_not(None).label("published"),  # set with the results
            endorsed,
        )
        .join(content, content.c.ref == p.content_ref)
        .outerjoin(answer, answer.c.ref == p.answer_ref)
        .join(t.rounds, t.rounds.c.round_id == p.round_id)
    )


_CARD = _card_select(t.proposals).where(t.proposals.c.proposal_id == sa.bindparam("pid"))


def _card(r: Any, viewer: int | None) -> ProposalCard:
    data = r.content or {}
    answer_text = (r.answer_data or {}).get("text")
    return ProposalCard(
        proposal_id=r.proposal_id,
        round_id=r.round_id,
        number=r.number,
        title=data.get("title"),
        body=data.get("body"),
        photo_file_id=data.get("photo"),
        photo_unique_id=data.get("photo_uid"),
        category=r.category,
        region=r.region,
        budget=r.budget,
        community=r.community,
        status=_status(r, r.phase, bool(r.published)),
        endorsements=r.endorsements,
        endorsed_by_viewer=bool(r.endorsed),
        is_author=viewer is not None and r.author_id == viewer,
        hidden=r.hidden,
        hide_reason=r.hide_reason,
        group=r.group_no,
        answer=answer_text,
        created_at=r.created_at,
    )


def cards(conn: Conn, query: sa.Select[Any], viewer: int | None) -> list[ProposalCard]:
    """Return proposal cards for ``query`` (a select of pt_proposal rows)."""
    rows = conn.execute(_card_select(query.subquery()), {"viewer": viewer})
    return [_card(r, viewer) for r in rows]


def card(conn: Conn, proposal_id: str, viewer: int | None) -> ProposalCard:
    """Return one card.  Raises ProposalNotFound."""
    row = conn.execute(_CARD, {"pid": proposal_id, "viewer": viewer}).first()
    if row is None:
        raise e.ProposalNotFound(proposal=proposal_id)
    return _card(row, viewer)


class _CardRow(NamedTuple):
    """The columns :func:`_card` reads, for a row that is not one of :data:`_CARD`."""

    proposal_id: str
    round_id: str
    number: int
    author_id: int
    community: str | None
    category: str
    region: str
    budget: int
    withdrawn: bool
    hidden: bool
    hide_reason: str | None
    shortlisted: bool
    group_no: int | None
    endorsements: int
    selected: bool | None
    created_at: int
    content: Any
    answer_data: Any
    phase: str
    published: bool
    endorsed: bool


# --- endorsement counts ------------------------------------------------------------------------
def add_endorsements(conn: Conn, proposal_id: str, delta: int) -> None:
    """Add ``delta`` to the proposal's endorsement count."""
    conn.exec_driver_sql(sql(conn, driver.ADD_ENDORSEMENTS), (delta, proposal_id))


@dataclass(frozen=True, slots=True)
class Counted:
    """The card columns an endorsement count returned, as the driver gave them (decoded by
    :meth:`card`, after the commit, off the ledger's writer)."""

    row: tuple[Any, ...]
    dialect: sa.Dialect

    def card(self, viewer: int, *, endorsed: bool) -> ProposalCard:
        """Return the card as ``viewer`` sees it (``endorsed``: whether the viewer endorses
        it, which the counted command decided): what :func:`card` would read."""
        (pid, rid, number, author, community, category, region, budget, withdrawn, hidden,
         reason, shortlisted, group, count, selected, created, content, answer, phase,
         published) = self.row  # fmt: skip
        json_value = driver.codec(self.dialect).json_value
        row = _CardRow(
            pid, rid, number, author, community, category, region, budget, bool(withdrawn),
            bool(hidden), reason, bool(shortlisted), group, count,
            None if selected is None else bool(selected), created, json_value(content),
            json_value(answer), phase, bool(published), endorsed,
        )  # fmt: skip
        return _card(row, viewer)


def add_endorsements_card(conn: Conn, proposal_id: str, delta: int) -> Counted | None:
    """:func:`add_endorsements`, returning the proposal's card columns as this transaction
    leaves them; None (nothing returned, the count added) where the database cannot return
    rows from an UPDATE (SQLite before 3.35): read the card after the commit."""
    if not conn.dialect.update_returning:
        add_endorsements(conn, proposal_id, delta)
        return None
    row = conn.exec_driver_sql(sql(conn, driver.ADD_ENDORSEMENTS_CARD), (delta, proposal_id))
    return Counted(tuple(row.one()), conn.dialect)


def audience(conn: Conn, proposal_id: str) -> list[int]:
    """Return the author and every endorser of a proposal (author first)."""
    author = conn.execute(
        sa.select(t.proposals.c.author_id).where(t.proposals.c.proposal_id == proposal_id)
    ).scalar_one()
    others = conn.execute(
        sa.select(t.endorsements.c.user_id)
        .where(t.endorsements.c.proposal_id == proposal_id)
        .order_by(t.endorsements.c.user_id)
    ).scalars()
    return [author, *[u for u in others if u != author]]


# --- buttons -----------------------------------------------------------------------------------
USED_BY = "_used_by"  # in a consumed button's args: the request that consumed it
BUTTON_KEEP_S = 86400  # how long an expired token is kept (so a late press says "expired")
BUTTON_SWEEP_EVERY_S = 600  # a process deletes long-expired tokens at most this often

_b = t.buttons.c


class ButtonRow(NamedTuple):
    """The stored fields of a token that a press is checked against."""

    user_id: int
    action: str
    args: dict[str, JSON]
    expires_at: int
    used_at: int | None


_SWEEP_BUTTONS = sa.delete(t.buttons).where(_b.expires_at < sa.bindparam("before"))


Recorded = tuple[int, str, str]  # a request's outcome: ledger index, leaf hash (hex), subject


def press_state(
    conn: Conn, user_id: int, proposal_id: str, token: str | None, request_id: str | None
) -> tuple[EndorseState | None, ButtonRow | None, Recorded | None]:
    """Return :func:`endorse_state`, the stored row of button ``token`` and the outcome
    recorded for ``request_id`` (each None if there is none), in one statement; all three
    None when the proposal (or its round) is not found."""
    params = (user_id, user_id, token, request_id, proposal_id)
    row = conn.exec_driver_sql(sql(conn, driver.PRESS_STATE), params).first()
    if row is None:
        return None, None, None
    codec = driver.codec(conn.dialect)
    index, leaf_hash, subject = row[23:26]
    recorded = None if index is None else (index, leaf_hash, subject)
    return _endorse_state(row, codec), _button(row[17:23], codec), recorded


class LikeState(NamedTuple):
    """What a like press reads before the writer (see ``driver.LIKE_STATE``)."""

    registered: bool
    proposal: ProposalState
    round: RoundState
    group_no: int | None  # the proposal's review group
    enrollment: Enrollment | None
    onsite: bool  # the person scored on site in the round
    liked: set[str]  # the proposals the person likes in the round


class _ReviewPress(NamedTuple):
    """The columns a like's and an on-site score's state reads share (up to the request's)."""

    registered: bool
    proposal: ProposalState
    round: RoundState
    group_no: int | None  # the proposal's review group
    enrollment: Enrollment | None
    other_channel: bool  # the person counts in the other channel (scored on site / likes)
    button: ButtonRow | None
    recorded: Recorded | None


def _review_press(
    conn: Conn, text: str, params: Sequence[Any]
) -> tuple[_ReviewPress, Sequence[Any]] | None:
    """Run a press's state read (``driver.LIKE_STATE`` or ``ONSITE_STATE``): its shared
    columns and all its rows (None: no such proposal)."""
    rows = conn.exec_driver_sql(sql(conn, text), params).all()
    if not rows:
        return None
    row = rows[0]
    codec = driver.codec(conn.dialect)
    registered, p, rnd = _proposal_round(row, codec)
    group_no, community, role, online_group, other = row[16:21]
    enrollment = None
    if role is not None:
        enrollment = Enrollment(
            round_id=p.round_id, community=community, role=role, online_group=online_group
        )
    index, leaf_hash, subject = row[27:30]
    recorded = None if index is None else (index, leaf_hash, subject)
    button = _button(row[21:27], codec)
    return _ReviewPress(
        registered, p, rnd, group_no, enrollment, bool(other), button, recorded
    ), rows


def like_state(
    conn: Conn, user_id: int, proposal_id: str, token: str | None, request_id: str | None
) -> tuple[LikeState | None, ButtonRow | None, Recorded | None]:
    """As :func:`press_state`, for a like: the :class:`LikeState`, the button's row and the
    request's recorded outcome in one statement (all three None: no such proposal)."""
    params = (user_id, user_id, user_id, user_id, token, request_id, proposal_id)
    read = _review_press(conn, driver.LIKE_STATE, params)
    if read is None:
        return None, None, None
    r, rows = read
    liked = {row[30] for row in rows if row[30] is not None}
    state = LikeState(
        r.registered, r.proposal, r.round, r.group_no, r.enrollment, r.other_channel, liked
    )
    return state, r.button, r.recorded


class OnsiteState(NamedTuple):
    """What an on-site score press reads before the writer (see ``driver.ONSITE_STATE``)."""

    proposal: ProposalState
    round: RoundState
    group_no: int | None  # the proposal's review group
    enrollment: Enrollment | None
    voter_group: int | None  # the review group of the person's community
    liked: bool  # the person likes a proposal of the round
    session: OnsiteSession | None  # the newest open session the person checked in to
    scores: dict[str, tuple[str, int]]  # the person's on-site scores: proposal -> session, score


def onsite_state(
    conn: Conn,
    user_id: int,
    proposal_id: str,
    token: str | None,
    request_id: str | None,
    now: int,
) -> tuple[OnsiteState | None, ButtonRow | None, Recorded | None]:
    """As :func:`like_state`, for an on-site score: the :class:`OnsiteState`, the button's row
    and the request's recorded outcome in one statement (all three None: no such proposal).
    Its session is the newest the person checked in to that is open at ``now``."""
    params = (user_id, user_id, False, user_id, user_id, now, user_id, token, request_id,
              proposal_id)  # fmt: skip
    read = _review_press(conn, driver.ONSITE_STATE, params)
    if read is None:
        return None, None, None
    r, rows = read
    p = r.proposal
    voter_group, sid, group, open_, closed_at = rows[0][33:38]
    session = None
    if sid is not None:
        session = OnsiteSession(session_id=sid, round_id=p.round_id, group=group,
                                open=bool(open_), closed_at=closed_at)  # fmt: skip
    scores = {row[30]: (row[31], int(row[32])) for row in rows if row[30] is not None}
    state = OnsiteState(
        p, r.round, r.group_no, r.enrollment, voter_group, r.other_channel, session, scores
    )
    return state, r.button, r.recorded


def liked(conn: Conn, round_id: str, user_id: int) -> set[str]:
    """Return the proposals the person likes in the round."""
    rows = conn.exec_driver_sql(sql(conn, driver.LIKED), (round_id, user_id))
    return {r[0] for r in rows}


def button_rows(
    user_id: int, buttons: Sequence[tuple[str, dict[str, JSON]]], expires_at: int
) -> list[dict[str, Any]]:
    """Return the rows of new tokens (96 random bits, 16 chars) for (action, args), in order."""
    return [
        {"token": secrets.token_urlsafe(12), "user_id": user_id, "action": action,
         "args": args, "expires_at": expires_at}
        for action, args in buttons
    ]  # fmt: skip


def insert_buttons(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    """Store issued tokens (one DBAPI executemany)."""
    if rows:
        json_param = driver.codec(conn.dialect).json_param
        params = [
            (r["token"], r["user_id"], r["action"], json_param(r["args"]), r["expires_at"])
            for r in rows
        ]
        conn.exec_driver_sql(sql(conn, driver.INSERT_BUTTON), params)


def sweep_buttons(conn: Conn, now: int) -> None:
    """Delete tokens that expired more than a day ago."""
    conn.execute(_SWEEP_BUTTONS, {"before": now - BUTTON_KEEP_S})


def button_row(conn: Conn, token: str) -> Any:
    """Return the stored row of a token (a :class:`ButtonRow`), or None."""
    row = conn.exec_driver_sql(sql(conn, driver.SELECT_BUTTON), (token,)).first()
    if row is None:
        return None
    user_id, action, args, expires_at, used_at = row
    return ButtonRow(
        user_id, action, driver.codec(conn.dialect).json_value(args), expires_at, used_at
    )


def check_button(
    row: Any, user_id: int, now: int, request_id: str | None
) -> tuple[dict[str, JSON], bool]:
    """Return (the button's args, whether ``request_id`` consumed it already).

    Raises:
        ButtonUnknown: no such token.  ButtonForeign: another person's button.
        ButtonExpired: past its time, or consumed by another request.
    """
    if row is None:
        raise e.ButtonUnknown()
    if row.user_id != user_id:
        raise e.ButtonForeign()
    args = dict(row.args)
    used_by = args.pop(USED_BY, None)
    replay = request_id is not None and used_by == request_id
    if (row.used_at is not None and not replay) or now >= row.expires_at:
        raise e.ButtonExpired()
    return args, replay


def mark_button_used(
    conn: Conn, token: str, args: dict[str, JSON], now: int, request_id: str | None
) -> None:
    """Mark a checked, unused button used (by ``request_id``).  Raises ButtonExpired if
    another request used it in between."""
    stored = args if request_id is None else {**args, USED_BY: request_id}
    params = (driver.codec(conn.dialect).json_param(stored), now, token)
    done = conn.exec_driver_sql(sql(conn, driver.CONSUME_BUTTON), params)
    if done.rowcount != 1:
        raise e.ButtonExpired()


def consume_button(conn: Conn, user_id: int, token: str, now: int, request_id: str | None) -> None:
    """Check and use a single-use button inside the caller's write transaction.

    A button this same request consumed already (a redelivered update) passes.
    Raises ButtonUnknown, ButtonForeign, ButtonExpired (as :func:`check_button`).
    """
    args, replay = check_button(button_row(conn, token), user_id, now, request_id)
    if not replay:
        mark_button_used(conn, token, args, now, request_id)


# --- content -----------------------------------------------------------------------------------
def content_data(conn: Conn, ref: str) -> dict[str, JSON] | None:
    """Return the personal content behind a reference (None once erased)."""
    row = conn.execute(sa.select(t.contents.c.data).where(t.contents.c.ref == ref)).first()
    return None if row is None else row.data


def notice_subjects(conn: Conn, proposal_ids: Collection[str]) -> dict[str, Any]:
    """Return, per proposal, what a notice about it may show: ``author_id``, ``hidden``,
    ``hide_reason``, ``data`` (its content; None once erased: the erasure sets it NULL,
    and a content row missing reads the same, its proposal's hiding still read) and
    ``round_title`` (its round's title, public; None without a round row), in one query by
    primary keys."""
    if not proposal_ids:
        return {}
    p, c, r = t.proposals.c, t.contents.c, t.rounds.c
    rows = conn.execute(
        sa.select(
            p.proposal_id,
            p.author_id,
            p.hidden,
            p.hide_reason,
            c.data,
            r.title.label("round_title"),
        )
        .select_from(
            t.proposals.outerjoin(t.contents, c.ref == p.content_ref).outerjoin(
                t.rounds, r.round_id == p.round_id
            )
        )
        .where(p.proposal_id.in_(sorted(set(proposal_ids))))
    ).all()
    return {row.proposal_id: row for row in rows}


def community_names(conn: Conn, round_id: str) -> dict[str, str]:
    """Return the round's communities as {code: name} (one query; "" for a name not stored)."""
    c, ct = t.communities.c, t.contents.c
    rows = conn.execute(
        sa.select(c.community, ct.data)
        .select_from(t.communities.outerjoin(t.contents, ct.ref == c.content_ref))
        .where(c.round_id == round_id)
    ).all()
    out: dict[str, str] = {}
    for code, data in rows:
        name = data.get("name") if isinstance(data, dict) else None
        out[code] = name if isinstance(name, str) else ""
    return out


# --- codes and sessions ------------------------------------------------------------------------
def invite(conn: Conn, code_hash: str) -> Invite | None:
    """Return the invite with this code hash, or None."""
    row = conn.execute(sa.select(t.invites).where(t.invites.c.code_hash == code_hash)).first()
    if row is None:
        return None
    return Invite(
        kind=row.kind,
        round_id=row.round_id,
        role=row.role,
        group=row.group_no,
        expires_at=row.expires_at,
        used=row.used_by is not None,
    )


def enrollment(conn: Conn, round_id: str, user_id: int) -> Enrollment | None:
    """Return a person's enrollment in a round, or None."""
    en = t.enrollments.c
    row = conn.execute(
        sa.select(t.enrollments).where(en.round_id == round_id, en.user_id == user_id)
    ).first()
    if row is None:
        return None
    return Enrollment(
        round_id=row.round_id, community=row.community, role=row.role, online_group=row.online_group
    )


def session(conn: Conn, session_id: str) -> tuple[OnsiteSession, bytes]:
    """Return an on-site session and its secret.  Raises SessionNotFound."""
    row = conn.execute(sa.select(t.sessions).where(t.sessions.c.session_id == session_id)).first()
    if row is None:
        raise e.SessionNotFound(session=session_id)
    return _session_of(row), bytes.fromhex(row.secret)


def _session_of(row: Any) -> OnsiteSession:
    return OnsiteSession(session_id=row.session_id, round_id=row.round_id, group=row.group_no,
                         open=row.open, closed_at=row.closed_at)  # fmt: skip


def newest_presence_first() -> tuple[sa.UnaryExpression[Any], ...]:
    """ORDER BY for a person's presences, the latest check-in first: by the second it was
    received, then by its ledger entry (two check-ins in the same second are in the ledger's
    order; NULL, a row from before migration 0009 whose receipt was erased, counts as older)."""
    pr = t.presences.c
    return (pr.at.desc(), sa.nulls_last(pr.ledger_index.desc()))


def present_session(conn: Conn, round_id: str, user_id: int, now: int) -> OnsiteSession | None:
    """Return the session of the round where the person checked in last (see
    :func:`newest_presence_first`) among those open at ``now`` (OnsiteSession.open_at), or
    None."""
    s, pr = t.sessions.c, t.presences.c
    row = conn.execute(
        sa.select(t.sessions)
        .join(t.presences, pr.session_id == s.session_id)
        .where(
            s.round_id == round_id,
            pr.user_id == user_id,
            sa.or_(s.open.is_(True), s.closed_at > now),
        )
        .order_by(*newest_presence_first())
    ).first()
    return None if row is None else _session_of(row)


def counted_channel(conn: Conn, round_id: str, user_id: int) -> str | None:
    """Return the review channel the person already counts in: "onsite", "online" or None.

    On site: an on-site score in the round. Online: a chosen group or a like in the round.
    """
    en = t.enrollments.c
    if exists(conn, t.onsite_scores, round_id=round_id, user_id=user_id):
        return "onsite"
    chosen = conn.execute(
        sa.select(en.online_group).where(en.round_id == round_id, en.user_id == user_id)
    ).scalar()
    if chosen is not None or exists(conn, t.likes, round_id=round_id, user_id=user_id):
        return "online"
    return None


def paper(conn: Conn, tally_id: str) -> PaperTally:
    """Return a paper tally.  Raises PaperTallyNotFound."""
    row = conn.execute(
        sa.select(t.paper_tallies).where(t.paper_tallies.c.tally_id == tally_id)
    ).first()
    if row is None:
        raise e.PaperTallyNotFound(tally=tally_id)
    return PaperTally(
        tally_id=row.tally_id,
        round_id=row.round_id,
        session_id=row.session_id,
        proposal_id=row.proposal_id,
        entered_by=row.entered_by,
        confirmed=row.confirmed_by is not None,
        superseded=row.superseded,
    )


def judge_group(conn: Conn, round_id: str, user_id: int) -> tuple[bool, int | None]:
    """Return (is a judge of the round, their group or None)."""
    j = t.judges.c
    row = conn.execute(
        sa.select(j.group_no).where(j.round_id == round_id, j.user_id == user_id)
    ).first()
    return (False, None) if row is None else (True, row.group_no)


def exists(conn: Conn, table: sa.Table, **where: object) -> bool:
    """Return whether ``table`` has a row matching every ``column == value``."""
    q = sa.select(sa.literal(1)).select_from(table)
    for name, value in where.items():
        q = q.where(table.c[name] == value)
    return conn.execute(q.limit(1)).first() is not None


def count(conn: Conn, table: sa.Table, **where: object) -> int:
    """Return the number of rows of ``table`` matching every ``column == value``."""
    q = sa.select(sa.func.count()).select_from(table)
    for name, value in where.items():
        q = q.where(table.c[name] == value)
    return int(conn.execute(q).scalar_one())


def ids_in(values: Sequence[str]) -> list[str]:
    """Return the values as a list (helper for ``in_`` filters)."""
    return list(values)
