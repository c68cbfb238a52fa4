"""The openings of a round's published results: the salts and contents behind the titles.

See :mod:`participation.opening` for the document and what an outsider checks. What is
opened: the proposals the published results list as ranked or ``not_shortlisted`` (public in
the bot), read now, so that content erased or a proposal hidden after the publication is
withheld from then on, never opened. Nothing else of the content store is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from typing import Protocol
from typing import cast

import sqlalchemy as sa

from participation.app.base import Base
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.opening import CONTENT_KINDS
from participation.opening import Opening
from participation.opening import Openings
from participation.opening import Withheld
from participation.opening import commitment
from participation.opening import covered
from participation.results import Results
from participation.store import tables as t
from participation.views import withheld_as


class _Entries(Protocol):
    def entries(self, start: int, end: int) -> list[bytes]: ...

    def size(self) -> int: ...


class OpeningsView(Base):
    """Publishing the openings of published results."""

    def openings(self, round_id: str) -> dict[str, JSON] | None:
        """Return the openings document of the round's published results, None before they are
        published (see :mod:`participation.opening`).

        An opening is given only when it is borne out by the ledger: the author's latest
        receipt of a content entry names an entry of this proposal whose ``content_c`` the
        stored salt and content recompute. A proposal whose opening is not (a bug) is left
        out, and an outsider's check reports it as missing.

        Raises:
            RoundNotFound: no such round.
        """
        r = t.rounds.c
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(r.results, r.results_index).where(r.round_id == round_id)
            ).first()
            if row is None:
                raise e.RoundNotFound(round=round_id)
            if row.results is None or row.results_index is None:
                return None
            proposals = covered(Results.from_payload(row.results))
            stored = _stored(conn, proposals)
            latest = _latest_entries(conn, stored.values(), proposals)
        opened, withheld = [], []
        for proposal in proposals:
            found = stored.get(proposal)
            if found is None:
                continue
            if found.data is None:
                withheld.append(Withheld(proposal=proposal, content_c=found.commitment,
                                         reason="erased"))  # fmt: skip
            elif found.hidden:
                withheld.append(Withheld(proposal=proposal, content_c=found.commitment,
                                         reason="hidden"))  # fmt: skip
            elif not found.withdrawn and proposal in latest:
                opening = self._borne_out(round_id, proposal, latest[proposal], found)
                if opening is not None:
                    opened.append(opening)
        # Read after the state: every withholding above is recorded within the first `size`.
        size = cast(_Entries, self._ledger).size()
        doc = Openings(round=round_id, results_index=row.results_index, size=size,
                       openings=tuple(opened), withheld=tuple(withheld))  # fmt: skip
        return doc.to_payload()

    def withheld_titles(self, round_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Return, per round of ``round_ids``, the proposals whose title is withheld now:
        ``"hidden:<reason>"`` (hidden, whatever its content) or ``"erased"`` (its content
        erased: ``erased_at`` set, as the erasure does with the data), as
        ``report.shown_titles`` shows them; a round with none is left out. One query,
        through the proposals' index on the round: what the gateway's clock compares on
        every tick to know that posts showing a round's titles need an edit. Proposals the
        results leave out (hidden before the review) are named too: they never change what
        is shown."""
        if not round_ids:
            return {}
        p, c = t.proposals.c, t.contents.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(p.round_id, p.proposal_id, p.hidden, p.hide_reason, c.erased_at)
                .join(t.contents, c.ref == p.content_ref)
                .where(p.round_id.in_(list(round_ids)), sa.or_(p.hidden, c.erased_at.is_not(None)))
            ).all()
        out: dict[str, dict[str, str]] = {}
        for row in rows:
            erased = row.erased_at is not None
            why = withheld_as(hidden=bool(row.hidden), hide_reason=row.hide_reason, erased=erased)
            out.setdefault(row.round_id, {})[row.proposal_id] = str(why)
        return out

    def _borne_out(self, round_id: str, proposal: str, index: int, found: Any) -> Opening | None:
        """Return the opening of entry ``index`` when that entry is this proposal's content
        entry and the stored salt and content recompute its ``content_c``; else None."""
        leaves = cast(_Entries, self._ledger).entries(index, index + 1)
        if not leaves or found.salt is None:
            return None
        entry = json.loads(leaves[0])["entry"]
        body, salt = entry["body"], bytes.fromhex(found.salt)
        if (
            entry["kind"] not in CONTENT_KINDS
            or entry["round"] != round_id
            or body.get("proposal") != proposal
            or not body.get("content_c") == found.commitment == commitment(salt, found.data)
        ):
            return None
        return Opening(proposal=proposal, index=index, kind=entry["kind"], salt=salt,
                       content=found.data)  # fmt: skip


def _stored(conn: sa.Connection, proposals: Sequence[str]) -> dict[str, Any]:
    """Return, per proposal, its author, state and current content (one query)."""
    p, c = t.proposals.c, t.contents.c
    rows = conn.execute(
        sa.select(p.proposal_id, p.author_id, p.hidden, p.withdrawn, c.data, c.salt, c.commitment)
        .join(t.contents, c.ref == p.content_ref)
        .where(p.proposal_id.in_(list(proposals)))
    ).all()
    return {row.proposal_id: row for row in rows}


def _latest_entries(conn: sa.Connection, stored: Any, proposals: Sequence[str]) -> dict[str, int]:
    """Return, per proposal, the ledger index of its latest content entry, from its author's
    receipts (one query, through the receipts' index on the person)."""
    rc = t.receipts.c
    authors = sorted({row.author_id for row in stored})
    rows = conn.execute(
        sa.select(rc.subject, sa.func.max(rc.ledger_index))
        .where(rc.user_id.in_(authors), rc.kind.in_(CONTENT_KINDS), rc.subject.in_(proposals))
        .group_by(rc.subject)
    ).all()
    return {subject: int(index) for subject, index in rows}
