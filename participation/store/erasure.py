"""Erasing a person: which tables name them, and how their rows change hands.

A person who erases their data (``Residents.erase_personal_data``) leaves no Telegram user id
in the database. What is theirs alone and has no use once they are gone is deleted
(:data:`DELETED`). What the counts and the one-per-person rules are made of (their
endorsements, likes, scores, presence, enrollment, roles, what they entered as an official) is
kept and re-keyed to their *tombstone* (:data:`PERSON_COLUMNS`): a negative id the service
derives from the user id with the pseudonym pepper (``Base.tombstone``), so it links back only
with the secret that already links the ledger's pseudonyms, and never equals a Telegram id
(those are positive).

Counts stay as they were, and the ledger's recount agrees with them. When the same person
comes back (registers, or redeems a code), :func:`unbury` gives the rows back to their user id,
so that they cannot endorse, like or score a second time what the ledger already counts under
their (unchanged) pseudonym. Proposal texts (``pt_content``) are erased by the caller, which
names their commitments in the ledger.

Erasing, and giving back, run inside the ledger's write transaction: no press anywhere commits
meanwhile, and on a review day the tokens, notices, likes and scores are big tables. So every
statement finds the person's rows through an index: the column's own (proposal authors,
endorsements, tokens, notices, receipts, enrollment codes, content), the primary key (residents,
conversations, officials), or a primary key that starts with the round or the on-site session,
searched for every round (session) named by a subquery (likes, on-site scores, enrollments,
judges, their scores and recusals; presence). Only invites, paper tallies and broadcasts, a few
hundred rows a round, are read whole. On the database of a big day (``bench/bench_erasure.py``:
1,000,000 tokens, 300,000 endorsements, 200,000 likes and notices) an erasure holds the writer
about as long as 4-8 endorsement presses do, where reading whole tables took 16-63 (figures in
``bench/README.md``). Registering does one primary-key lookup in ``pt_tombstone`` when there
is nothing to give back.
"""

from __future__ import annotations

import sqlalchemy as sa

from participation.store import tables as t

# The person's own state, of no use to anyone once they are gone.
DELETED: tuple[sa.Table, ...] = (
    t.residents,  # registration and settings
    t.conversations,  # the bot's step and draft
    t.buttons,  # their buttons' tokens
    t.outbox,  # notices to them (their delivery state included)
    t.receipts,  # their list of receipts (the ledger entries stay, under a pseudonym)
)

# Every other column holding a person's Telegram id: re-keyed to the tombstone, because a count,
# a one-per-person rule or a role check reads it.
PERSON_COLUMNS: tuple[sa.Column[int], ...] = (
    t.proposals.c.author_id,  # own proposals: not endorsable by their author, one per community
    t.endorsements.c.user_id,  # one endorsement per resident per proposal; the card's count
    t.likes.c.user_id,  # one like per proposal, the round's likes cap, the online channel
    t.onsite_scores.c.user_id,  # one on-site score per proposal, the on-site channel
    t.presences.c.user_id,  # who checked in (on-site scores need it; a return scanning
    # the same session again is the same check-in, answered from the row: Review._check_in)
    t.enrollments.c.user_id,  # the voter slot and the chosen online group
    t.enrollment_codes.c.user_id,  # which slot the code was redeemed for
    t.judges.c.user_id,  # judge of a round (their pseudonym column stays as it is)
    t.judge_scores.c.user_id,  # a judge's last scores
    t.recusals.c.user_id,  # a judge's recusals
    t.officials.c.user_id,  # an official's role
    t.invites.c.created_by,  # the official who invited
    t.invites.c.used_by,  # who redeemed an invite
    t.paper_tallies.c.entered_by,  # a paper tally is confirmed by another official
    t.paper_tallies.c.confirmed_by,
    t.broadcasts.c.created_by,  # the official who sent a broadcast
)

# Person columns that come second in their table's primary key, after the round or the on-site
# session: naming every round (session) in the statement lets it search that key, one probe per
# round, instead of reading the table. Rounds and sessions are never deleted and no row names one
# that does not exist, so the condition keeps every row of the person.
_ROUNDS = sa.select(t.rounds.c.round_id)
_AFTER_KEY: dict[str, sa.ColumnElement[bool]] = {
    table.name: table.c.round_id.in_(_ROUNDS)
    for table in (t.likes, t.onsite_scores, t.enrollments, t.judges, t.judge_scores, t.recusals)
}
_AFTER_KEY[t.presences.name] = t.presences.c.session_id.in_(sa.select(t.sessions.c.session_id))

_tomb = t.tombstones.c


def is_tombstone(user_id: int) -> bool:
    """Return whether ``user_id`` stands for a person who erased their data (no chat to tell:
    Telegram user ids are positive, tombstones negative)."""
    return user_id < 0


def has_chat(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The SQL twin of ``not is_tombstone(column)``: rows naming a person one can message."""
    return column > 0


def bury(conn: sa.Connection, user_id: int, tombstone: int, now: int) -> None:
    """Delete the person's own rows and re-key every other row naming them to ``tombstone``.

    Requires ``tombstone`` to be the person's (negative) tombstone. Run it in the write
    transaction of the erasure. ``pt_tombstone`` gets a row only when some row was re-keyed;
    a second erasure (without a return in between) finds nothing left to change.
    """
    for table in DELETED:
        conn.execute(sa.delete(table).where(table.c.user_id == user_id))
    if not _rekey(conn, user_id, tombstone):  # nothing to give back on a return
        return
    if conn.execute(sa.select(_tomb.tombstone).where(_tomb.tombstone == tombstone)).first():
        return
    conn.execute(sa.insert(t.tombstones).values(tombstone=tombstone, erased_at=now))


def unbury(conn: sa.Connection, user_id: int, tombstone: int) -> bool:
    """Give the rows of ``tombstone`` back to ``user_id``; return whether there were any.

    One primary-key lookup when the person never erased. Run it in the write transaction
    that first writes a row naming the person (registration, a redeemed code) and before it
    reads what they already did, so their earlier rows count against them again.
    """
    found = conn.execute(sa.select(_tomb.tombstone).where(_tomb.tombstone == tombstone)).first()
    if found is None:
        return False
    _rekey(conn, tombstone, user_id)
    conn.execute(sa.delete(t.tombstones).where(_tomb.tombstone == tombstone))
    return True


def _rekey(conn: sa.Connection, old: int, new: int) -> int:
    """Replace ``old`` by ``new`` in every person column; return how many rows changed."""
    changed = 0
    for column in PERSON_COLUMNS:
        where = column == old
        key = _AFTER_KEY.get(column.table.name)
        if key is not None:
            where = sa.and_(key, where)
        update = sa.update(column.table).where(where).values({column.name: new})
        changed += conn.execute(update).rowcount or 0
    return changed
