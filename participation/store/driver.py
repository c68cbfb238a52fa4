"""Plain driver SQL of the hot path: what every 공감 press runs, built once.

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
