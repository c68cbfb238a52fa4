"""Repositories: SQL over the ``pt_`` tables, returning domain snapshots and read models.

Every function takes the caller's ``Connection`` so that a command's reads and writes share
the ledger's write transaction (see ``participation.domain.ports``).
"""

from __future__ import annotations

import secrets
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
    )


def round_ids(conn: Conn) -> list[str]:
    """Return every round id, newest first."""
    rows = conn.execute(sa.select(t.rounds.c.round_id).order_by(t.rounds.c.seq.desc()))
    return [r.round_id for r in rows]


def next_round_seq(conn: Conn) -> int:
    """Return the creation number of a new round."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.rounds)).scalar_one()) + 1


# --- residents ---------------------------------------------------------------------------------
_r = t.residents.c
_SELECT_RESIDENT = sa.select(t.residents).where(_r.user_id == sa.bindparam("uid"))


def resident(conn: Conn, user_id: int) -> Resident | None:
    """Return a person's registration and settings, or None."""
    return _resident(conn.execute(_SELECT_RESIDENT, {"uid": user_id}).first())


def _resident(row: Any) -> Resident | None:
    if row is None or row.locale is None:  # ``locale`` is NULL only in an outer join's miss
        return None
    return Resident(
        user_id=row.user_id,
        registered=row.registered_at is not None,
        consent_version=row.consent_version,
        locale=row.locale,
        region=row.region,
        notifications=row.notifications,
        subscribed=row.subscribed and not row.blocked,
    )


def _conversation(row: Any) -> Conversation:
    if row.version is None:
        return Conversation(step="", data={}, version=0)
    return Conversation(step=row.step, data=dict(row.conv_data), version=row.version)


_c = t.conversations.c
_ME = sa.select(sa.cast(sa.bindparam("uid"), _r.user_id.type).label("uid")).subquery("me")
_PERSON = (
    sa.select(
        _ME.c.uid.label("user_id"),
        _r.registered_at,
        _r.consent_version,
        _r.locale,
        _r.region,
        _r.notifications,
        _r.subscribed,
        _r.blocked,
        _c.step,
        _c.data.label("conv_data"),
        _c.version,
    )
    .select_from(_ME)
    .outerjoin(t.residents, _r.user_id == _ME.c.uid)
    .outerjoin(t.conversations, _c.user_id == _ME.c.uid)
)
_PERSON_AND_BUTTON = _PERSON.add_columns(
    t.buttons.c.token,
    t.buttons.c.user_id.label("b_user_id"),
    t.buttons.c.action,
    t.buttons.c.args,
    t.buttons.c.expires_at,
    t.buttons.c.used_at,
).outerjoin(t.buttons, t.buttons.c.token == sa.bindparam("token"))


def person(conn: Conn, user_id: int) -> tuple[Resident | None, Conversation]:
    """Return a person's settings (None if never seen) and conversation state, in one query."""
    row = conn.execute(_PERSON, {"uid": user_id}).one()
    return _resident(row), _conversation(row)


def person_and_button(
    conn: Conn, user_id: int, token: str
) -> tuple[Resident | None, Conversation, Any]:
    """Return :func:`person` and the stored row of button ``token`` (None), in one query."""
    row = conn.execute(_PERSON_AND_BUTTON, {"uid": user_id, "token": token}).one()
    button = None
    if row.token is not None:
        button = ButtonRow(row.b_user_id, row.action, row.args, row.expires_at, row.used_at)
    return _resident(row), _conversation(row), button


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
    """Return the role.  Raises NotOfficial (also for a clerk where ``admin`` is needed)."""
    role = official_role(conn, user_id)
    if role is None or (admin and role != "admin"):
        raise e.NotOfficial()
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


_p, _rd, _en = t.proposals.c, t.rounds.c, t.endorsements.c
_ENDORSE_STATE = (
    sa.select(
        t.proposals,
        _rd.phase.label("r_phase"),
        _rd.rules.label("r_rules"),
        _rd.groups.label("r_groups"),
        _rd.results_index.is_not(None).label("r_published"),  # set with the results
        sa.select(_r.registered_at.is_not(None))
        .where(_r.user_id == sa.bindparam("uid"))
        .scalar_subquery()
        .label("registered"),
        sa.select(_en.created_at)
        .where(_en.proposal_id == _p.proposal_id, _en.user_id == sa.bindparam("uid"))
        .scalar_subquery()
        .label("endorsed_at"),
    )
    .join(t.rounds, _rd.round_id == _p.round_id)
    .where(_p.proposal_id == sa.bindparam("pid"))
)

EndorseState = tuple[bool, ProposalState, RoundState, int | None]


def endorse_state(conn: Conn, user_id: int, proposal_id: str) -> EndorseState | None:
    """Return (the person is registered, the proposal, its round, since when the person
    endorses it or None) in one statement, or None when the proposal (or its round) is not
    found."""
    return _endorse_state(
        conn.execute(_ENDORSE_STATE, {"uid": user_id, "pid": proposal_id}).first()
    )


def _endorse_state(row: Any) -> EndorseState | None:
    if row is None:
        return None
    rnd = RoundState(
        round_id=row.round_id,
        phase=row.r_phase,
        rules=RoundRules.from_payload(row.r_rules),
        groups=_groups(row.r_groups),
        results_published=bool(row.r_published),
    )
    return bool(row.registered), _proposal_state(row), rnd, row.endorsed_at


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


_SELECT_BUTTON = sa.select(t.buttons).where(_b.token == sa.bindparam("token"))
_CONSUME_BUTTON = (
    sa.update(t.buttons)
    .where(_b.token == sa.bindparam("b_token"), _b.used_at.is_(None))
    .values(
        used_at=sa.bindparam("b_used_at", type_=_b.used_at.type),
        args=sa.bindparam("b_args", type_=_b.args.type),
    )
)
_INSERT_BUTTONS = sa.insert(t.buttons)  # built once (executemany over the rows)
_SWEEP_BUTTONS = sa.delete(t.buttons).where(_b.expires_at < sa.bindparam("before"))
_ENDORSE_STATE_AND_BUTTON = _ENDORSE_STATE.add_columns(
    _b.token.label("b_token"), _b.user_id.label("b_user_id"), _b.action.label("b_action"),
    _b.args.label("b_args"), _b.expires_at.label("b_expires_at"), _b.used_at.label("b_used_at"),
).outerjoin(t.buttons, _b.token == sa.bindparam("token"))  # fmt: skip


def endorse_state_and_button(
    conn: Conn, user_id: int, proposal_id: str, token: str
) -> tuple[EndorseState | None, ButtonRow | None]:
    """Return :func:`endorse_state` and the stored row of button ``token`` (None), in one
    statement; both None when the proposal (or its round) is not found."""
    params = {"uid": user_id, "pid": proposal_id, "token": token}
    row = conn.execute(_ENDORSE_STATE_AND_BUTTON, params).first()
    if row is None or row.b_token is None:
        return _endorse_state(row), None
    button = ButtonRow(row.b_user_id, row.b_action, row.b_args, row.b_expires_at, row.b_used_at)
    return _endorse_state(row), button


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
    """Store issued tokens (one multi-row INSERT)."""
    if rows:
        conn.execute(_INSERT_BUTTONS, list(rows))


def sweep_buttons(conn: Conn, now: int) -> None:
    """Delete tokens that expired more than a day ago."""
    conn.execute(_SWEEP_BUTTONS, {"before": now - BUTTON_KEEP_S})


def button_row(conn: Conn, token: str) -> Any:
    """Return the stored row of a token, or None."""
    return conn.execute(_SELECT_BUTTON, {"token": token}).first()


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
    done = conn.execute(_CONSUME_BUTTON, {"b_token": token, "b_used_at": now, "b_args": stored})
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
    state = OnsiteSession(
        session_id=row.session_id, round_id=row.round_id, group=row.group_no, open=row.open
    )
    return state, bytes.fromhex(row.secret)


def present_session(conn: Conn, round_id: str, user_id: int) -> OnsiteSession | None:
    """Return the newest open session of the round where the person checked in, or None."""
    s, pr = t.sessions.c, t.presences.c
    row = conn.execute(
        sa.select(t.sessions)
        .join(t.presences, pr.session_id == s.session_id)
        .where(s.round_id == round_id, pr.user_id == user_id, s.open.is_(True))
        .order_by(pr.at.desc())
    ).first()
    if row is None:
        return None
    return OnsiteSession(
        session_id=row.session_id, round_id=row.round_id, group=row.group_no, open=row.open
    )


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
