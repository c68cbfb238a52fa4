"""Plain driver SQL of the hot path: what every endorsement press runs, built once.

The statements are written with ``?`` marks and sent with ``conn.exec_driver_sql(sql(conn,
TEXT), params)``: no statement construction, cache key or compilation per call (see
:func:`ledger.store.driver_sql`, which rewrites the marks for PostgreSQL's ``%s``). The
values that SQLAlchemy's column types would convert are converted by :func:`codec`, with
those very types, so a row reads and writes as through the Core constructs; integers,
strings and ``None`` pass through as they are, booleans are ``bool()``-ed by the caller
(SQLite returns 0/1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import sqlalchemy as sa

from ledger.store import driver_sql as sql
from participation.store import tables as t

__all__ = ["Codec", "codec", "sql"]


class Codec(NamedTuple):
    """How one dialect's driver takes and returns the values of a JSON column."""

    json_param: Callable[[Any], Any]  # a Python value -> the parameter the driver takes
    json_value: Callable[[Any], Any]  # what the driver returns (NULL: None) -> a Python value


def _same(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=8)
def codec(dialect: sa.Dialect) -> Codec:
    """Return the conversions SQLAlchemy's ``JSON`` type makes on ``dialect`` (on SQLite
    ``json.dumps`` / ``json.loads``; psycopg takes a ``Json`` wrapper and decodes itself)."""
    json_type = t.buttons.c.args.type.dialect_impl(dialect)
    bind = json_type.bind_processor(dialect) or _same
    result = json_type.result_processor(dialect, None) or _same  # None passes as None
    return Codec(json_param=bind, json_value=result)


# --- who sent an update (every update) ----------------------------------------------------------
# The person's settings (``locale`` NULL: never seen) and stored step; the button variant also
# the pressed token's row (``token`` NULL: unknown). Parameters: user id[, token].
_SETTINGS_COLUMNS = (
    "r.registered_at, r.consent_version, r.locale, r.region, r.notifications, r.subscribed,"
    " r.blocked"
)
RESIDENT = f"SELECT {_SETTINGS_COLUMNS} FROM pt_resident AS r WHERE r.user_id = ?"
_PERSON_COLUMNS = _SETTINGS_COLUMNS + ", c.step, c.data, c.version"
_PERSON_FROM = (
    " FROM (SELECT CAST(? AS BIGINT) AS uid) AS me"
    " LEFT OUTER JOIN pt_resident AS r ON r.user_id = me.uid"
    " LEFT OUTER JOIN pt_conversation AS c ON c.user_id = me.uid"
)
_BUTTON_COLUMNS = "b.token, b.user_id, b.action, b.args, b.expires_at, b.used_at"
PERSON = "SELECT " + _PERSON_COLUMNS + _PERSON_FROM
PERSON_AND_BUTTON = (
    f"SELECT {_PERSON_COLUMNS}, {_BUTTON_COLUMNS}{_PERSON_FROM}"
    " LEFT OUTER JOIN pt_button AS b ON b.token = ?"
)

# --- an endorsement press, read before the writer -------------------------------------------------
# The proposal (the columns of ProposalState), its round, whether the person is registered and
# since when they endorse it (NULL: not); for a press also the pressed token's row and the
# outcome recorded for the request (NULL: none). The rules come as their JSON text (PostgreSQL
# keeps a json value's text as written), which ``repo`` parses once per text.
# Parameters: user id, user id[, token, request id], proposal id.
_PROPOSAL_STATE_COLUMNS = (
    "p.proposal_id, p.round_id, p.author_id, p.community, p.category, p.region, p.budget,"
    " p.withdrawn, p.hidden, p.shortlisted, p.endorsements,"
    " d.phase, CAST(d.rules AS TEXT), d.groups, d.results_index IS NOT NULL,"
    " (SELECT registered_at IS NOT NULL FROM pt_resident WHERE user_id = ?)"
)
_ENDORSE_STATE_COLUMNS = _PROPOSAL_STATE_COLUMNS + (
    ", (SELECT created_at FROM pt_endorsement AS e"
    " WHERE e.proposal_id = p.proposal_id AND e.user_id = ?)"
)
_ENDORSE_STATE_FROM = " FROM pt_proposal AS p JOIN pt_round AS d ON d.round_id = p.round_id"
ENDORSE_STATE = (
    "SELECT " + _ENDORSE_STATE_COLUMNS + _ENDORSE_STATE_FROM + " WHERE p.proposal_id = ?"
)
PRESS_STATE = (
    f"SELECT {_ENDORSE_STATE_COLUMNS}, {_BUTTON_COLUMNS}, q.ledger_index, q.leaf_hash, q.subject"
    f"{_ENDORSE_STATE_FROM} LEFT OUTER JOIN pt_button AS b ON b.token = ?"
    " LEFT OUTER JOIN pt_request AS q ON q.request_id = ? WHERE p.proposal_id = ?"
)

# --- an online like press, read before the writer -------------------------------------------------
# The proposal and its round and registration as for an endorsement, the proposal's review group,
# the person's enrollment in the round (NULL: none), whether they scored on site in it, the
# pressed token's row, the request's recorded outcome, and a proposal the person likes in the
# round: one row per like (at most the round's cap), one with NULL when there is none.
# Parameters: user id, user id, user id, user id, token, request id, proposal id. LIKED: the
# proposals the person likes in a round.
LIKE_STATE = (
    f"SELECT {_PROPOSAL_STATE_COLUMNS}, p.group_no, n.community, n.role, n.online_group,"
    " EXISTS (SELECT 1 FROM pt_onsite_score AS o WHERE o.round_id = p.round_id"
    " AND o.user_id = ?),"
    f" {_BUTTON_COLUMNS}, q.ledger_index, q.leaf_hash, q.subject, l.proposal_id"
    f"{_ENDORSE_STATE_FROM}"
    " LEFT OUTER JOIN pt_enrollment AS n ON n.round_id = p.round_id AND n.user_id = ?"
    " LEFT OUTER JOIN pt_like AS l ON l.round_id = p.round_id AND l.user_id = ?"
    " LEFT OUTER JOIN pt_button AS b ON b.token = ?"
    " LEFT OUTER JOIN pt_request AS q ON q.request_id = ? WHERE p.proposal_id = ?"
)
LIKED = "SELECT proposal_id FROM pt_like WHERE round_id = ? AND user_id = ?"

# --- an online like press, in the writer ----------------------------------------------------------
# As the endorsement's claims: the like's re-checks, under the lock, everything decide_like read
# that can change: registration, the proposal's flags and review group (groups are formed once,
# in the review phase), the round's phase, no on-site score, the person's enrollment (community,
# role, chosen group; -1: none chosen) or its absence, and the person's likes: exactly the ones
# read (their number was under the cap, this one not among them), so that the ballot read with
# them is the one the transaction leaves; taking a like back re-checks the phase and the likes.
# Parameters: round id, user id, proposal id, user id, proposal id, withdrawn, hidden,
# shortlisted, group no (0: none), round id, phase, round id, user id, then :func:`same_likes`'s,
# request id[, round id, user id, community, role, chosen group | , round id, user id].
_LIKE_CLAIM = (
    "INSERT INTO pt_like (round_id, user_id, proposal_id) SELECT ?, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM pt_resident WHERE user_id = ? AND registered_at IS NOT NULL)"
    " AND EXISTS (SELECT 1 FROM pt_proposal WHERE proposal_id = ? AND withdrawn = ?"
    " AND hidden = ? AND shortlisted = ? AND COALESCE(group_no, 0) = ?)"
    " AND EXISTS (SELECT 1 FROM pt_round WHERE round_id = ? AND phase = ?)"
    " AND NOT EXISTS (SELECT 1 FROM pt_onsite_score WHERE round_id = ? AND user_id = ?)"
)
_NEW_REQUEST = " AND NOT EXISTS (SELECT 1 FROM pt_request WHERE request_id = ?)"
_ENROLLED = (
    " AND EXISTS (SELECT 1 FROM pt_enrollment WHERE round_id = ? AND user_id = ?"
    " AND community = ? AND role = ? AND COALESCE(online_group, -1) = ?)"
)
_UNENROLLED = " AND NOT EXISTS (SELECT 1 FROM pt_enrollment WHERE round_id = ? AND user_id = ?)"
# Parameters: round id, user id, proposal id, round id, phase, then same_likes's, request id.
_UNLIKE_CLAIM = (
    "DELETE FROM pt_like WHERE round_id = ? AND user_id = ? AND proposal_id = ?"
    " AND EXISTS (SELECT 1 FROM pt_round WHERE round_id = ? AND phase = ?)"
)


def same_likes(likes: int) -> str:
    """The condition that a person's likes in a round are exactly ``likes`` given ones.
    Parameters: round id, user id, ``likes``[, round id, user id, the proposal ids, ``likes``]
    (none of the second part when ``likes`` is 0)."""
    text = " AND (SELECT COUNT(*) FROM pt_like WHERE round_id = ? AND user_id = ?) = ?"
    if likes:
        marks = ", ".join("?" * likes)
        text += (
            " AND (SELECT COUNT(*) FROM pt_like WHERE round_id = ? AND user_id = ?"
            f" AND proposal_id IN ({marks})) = ?"
        )
    return text


@functools.lru_cache(maxsize=128)
def like_claim(likes: int, enrolled: bool) -> str:
    """The claim of a like by a person with ``likes`` likes (enrolled in the round or not)."""
    return _LIKE_CLAIM + same_likes(likes) + _NEW_REQUEST + (_ENROLLED if enrolled else _UNENROLLED)


@functools.lru_cache(maxsize=128)
def unlike_claim(likes: int) -> str:
    """The claim of taking a like back by a person with ``likes`` likes (this one among them)."""
    return _UNLIKE_CLAIM + same_likes(likes) + _NEW_REQUEST


INSERT_LIKE = "INSERT INTO pt_like (round_id, user_id, proposal_id) VALUES (?, ?, ?)"
DELETE_LIKE = "DELETE FROM pt_like WHERE round_id = ? AND user_id = ? AND proposal_id = ?"

# --- an on-site score press, read before the writer ----------------------------------------------
# The proposal and its round as for an endorsement, the proposal's review group, the person's
# enrollment (NULL: none) and their community's review group (the group of its first proposal
# not withdrawn), whether they like a proposal of the round, the open session of the round they
# checked in to last (repo.newest_presence_first; NULL: none) with whether it is still open and
# when it closed, the pressed token's row, the request's recorded outcome, and a score the person
# gave on site in the round: one row per score, one with NULL when there is none.
# "Open": open at the press's moment (a session closed after it still counts; see
# OnsiteSession.open_at). The columns up to the request's are LIKE_STATE's (whether they like one
# in place of whether they scored on site). Parameters: user id, user id, False, user id, user
# id, now, user id, token, request id, proposal id.
_PRESENT = (
    "(SELECT ps.session_id FROM pt_onsite_session AS ps JOIN pt_presence AS pr"
    " ON pr.session_id = ps.session_id WHERE ps.round_id = {round} AND pr.user_id = ?"
    " AND (ps.open OR ps.closed_at > ?)"
    " ORDER BY pr.at DESC, pr.ledger_index DESC NULLS LAST LIMIT 1)"
)
ONSITE_STATE = (
    f"SELECT {_PROPOSAL_STATE_COLUMNS}, p.group_no, n.community, n.role, n.online_group,"
    " EXISTS (SELECT 1 FROM pt_like AS k WHERE k.round_id = p.round_id AND k.user_id = ?),"
    f" {_BUTTON_COLUMNS}, q.ledger_index, q.leaf_hash, q.subject,"
    " o.proposal_id, o.session_id, o.score,"
    " (SELECT v.group_no FROM pt_proposal AS v WHERE v.round_id = p.round_id"
    " AND v.community = n.community AND v.withdrawn = ? LIMIT 1),"
    f" s.session_id, s.group_no, s.open, s.closed_at{_ENDORSE_STATE_FROM}"
    " LEFT OUTER JOIN pt_enrollment AS n ON n.round_id = p.round_id AND n.user_id = ?"
    " LEFT OUTER JOIN pt_onsite_session AS s ON s.session_id = "
    + _PRESENT.format(round="p.round_id")
    + " LEFT OUTER JOIN pt_onsite_score AS o ON o.round_id = p.round_id AND o.user_id = ?"
    " LEFT OUTER JOIN pt_button AS b ON b.token = ?"
    " LEFT OUTER JOIN pt_request AS q ON q.request_id = ? WHERE p.proposal_id = ?"
)

# --- an on-site score press, in the writer --------------------------------------------------------
# As the like's claims: an on-site score re-checks, under the lock, everything
# decide_onsite_score and the one-channel check read that can change: the proposal's flags and
# review group (groups are formed once, in the review phase, and then give every shortlisted
# proposal its group: the voter's community's group cannot change unnoticed either), the round's
# phase, the newest open session the person checked in to (still open, still theirs), no like
# and the person's enrollment as read (no online group chosen) or its absence, and the person's
# score of the proposal: none (a new score) or exactly the one read (a changed score).
# Parameters: proposal id, withdrawn, hidden, shortlisted, group no (0: none), round id, phase,
# round id, user id, now, session id, round id, user id.
_ONSITE_CHECKS = (
    " AND EXISTS (SELECT 1 FROM pt_proposal WHERE proposal_id = ? AND withdrawn = ?"
    " AND hidden = ? AND shortlisted = ? AND COALESCE(group_no, 0) = ?)"
    " AND EXISTS (SELECT 1 FROM pt_round WHERE round_id = ? AND phase = ?)"
    f" AND {_PRESENT.format(round='?')} = ?"
    " AND NOT EXISTS (SELECT 1 FROM pt_like WHERE round_id = ? AND user_id = ?)"
)
# Parameters: round id, user id, proposal id, session id, score, round id, user id, proposal
# id, then _ONSITE_CHECKS's, request id[, round id, user id, community, role, -1 | , round id,
# user id].
_ONSITE_SCORE_CLAIM = (
    "INSERT INTO pt_onsite_score (round_id, user_id, proposal_id, session_id, score)"
    " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM pt_onsite_score"
    " WHERE round_id = ? AND user_id = ? AND proposal_id = ?)"
)
# Parameters: session id, score, round id, user id, proposal id, the session id and score read,
# then as _ONSITE_SCORE_CLAIM's from _ONSITE_CHECKS's on.
_ONSITE_RESCORE_CLAIM = (
    "UPDATE pt_onsite_score SET session_id = ?, score = ?"
    " WHERE round_id = ? AND user_id = ? AND proposal_id = ? AND session_id = ? AND score = ?"
)


@functools.lru_cache(maxsize=8)
def onsite_score_claim(scored: bool, enrolled: bool) -> str:
    """The claim of an on-site score (``scored``: changing the one read), by a person enrolled
    in the round or not."""
    head = _ONSITE_RESCORE_CLAIM if scored else _ONSITE_SCORE_CLAIM
    return head + _ONSITE_CHECKS + _NEW_REQUEST + (_ENROLLED if enrolled else _UNENROLLED)


# Parameters: session id, score, round id, user id, proposal id.
SET_ONSITE_SCORE = (
    "UPDATE pt_onsite_score SET session_id = ?, score = ?"
    " WHERE round_id = ? AND user_id = ? AND proposal_id = ?"
)
DELETE_ONSITE_SCORE = (
    "DELETE FROM pt_onsite_score WHERE round_id = ? AND user_id = ? AND proposal_id = ?"
)

# --- an endorsement press, in the writer ----------------------------------------------------------
# The writer's part of an endorsement decided before it (see Base._run): each claim re-checks,
# under the lock, everything the rule read that can change (registration, the proposal's
# withdrawn/hidden flags, the round's phase; its rules are frozen once open; the author cannot
# change), and nothing is written when something did. An undo (DELETE_ENDORSEMENT after the
# endorsement's claim, INSERT_ENDORSEMENT after the withdrawal's) restores the row when the
# button was used up in between. Decided under the lock, the plans write the same two.
ENDORSE_CLAIM = (
    "INSERT INTO pt_endorsement (proposal_id, user_id, round_id, created_at) SELECT ?, ?, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM pt_resident WHERE user_id = ? AND registered_at IS NOT NULL)"
    " AND EXISTS (SELECT 1 FROM pt_proposal WHERE proposal_id = ? AND withdrawn = ?"
    " AND hidden = ?) AND EXISTS (SELECT 1 FROM pt_round WHERE round_id = ? AND phase = ?)"
    " AND NOT EXISTS (SELECT 1 FROM pt_endorsement WHERE proposal_id = ? AND user_id = ?)"
    " AND NOT EXISTS (SELECT 1 FROM pt_request WHERE request_id = ?)"
)
WITHDRAW_CLAIM = (
    "DELETE FROM pt_endorsement WHERE proposal_id = ? AND user_id = ? AND created_at = ?"
    " AND EXISTS (SELECT 1 FROM pt_round WHERE round_id = ? AND phase = ?)"
    " AND NOT EXISTS (SELECT 1 FROM pt_request WHERE request_id = ?)"
)
INSERT_ENDORSEMENT = (
    "INSERT INTO pt_endorsement (proposal_id, user_id, round_id, created_at) VALUES (?, ?, ?, ?)"
)
DELETE_ENDORSEMENT = "DELETE FROM pt_endorsement WHERE proposal_id = ? AND user_id = ?"

# --- endorsement count ----------------------------------------------------------------------------
ADD_ENDORSEMENTS = "UPDATE pt_proposal SET endorsements = endorsements + ? WHERE proposal_id = ?"
# The same, returning the card's columns as the transaction leaves them: the proposal row, its
# texts, its round's phase and whether results are out (what ``repo.card`` reads; in order).
ADD_ENDORSEMENTS_CARD = ADD_ENDORSEMENTS + (
    " RETURNING proposal_id, round_id, number, author_id, community, category, region, budget,"
    " withdrawn, hidden, hide_reason, shortlisted, group_no, endorsements, selected,"
    " created_at,"
    " (SELECT data FROM pt_content WHERE pt_content.ref = pt_proposal.content_ref),"
    " (SELECT data FROM pt_content WHERE pt_content.ref = pt_proposal.answer_ref),"
    " (SELECT phase FROM pt_round WHERE pt_round.round_id = pt_proposal.round_id),"
    " (SELECT results_index IS NOT NULL FROM pt_round"
    " WHERE pt_round.round_id = pt_proposal.round_id)"
)

# --- buttons (single-use tokens) ------------------------------------------------------------------
SELECT_BUTTON = "SELECT user_id, action, args, expires_at, used_at FROM pt_button WHERE token = ?"
# Use a checked button up; no row changed: another request used it first. Parameters: args
# (JSON), used_at, token.
CONSUME_BUTTON = "UPDATE pt_button SET args = ?, used_at = ? WHERE token = ? AND used_at IS NULL"
INSERT_BUTTON = (
    "INSERT INTO pt_button (token, user_id, action, args, expires_at) VALUES (?, ?, ?, ?, ?)"
)
