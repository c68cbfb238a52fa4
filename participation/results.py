"""What a tally returns or raises: :class:`Results` (one :class:`Row` per ranked proposal) and
the :class:`TallyError` tree.

The results payload (:meth:`Results.to_payload`) is what ``results.published`` hashes and what
is published; :meth:`Results.from_payload` rebuilds the results from it exactly (fractions, not
the shown decimals), so reports need no ledger. ``participation.tally`` computes the results
and re-exports every name here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import rfc8785

from participation.domain import events as ev
from participation.domain.round import RoundRules

RESULTS_SCHEMA = 1


class TallyError(Exception):
    """The entries cannot be tallied. Carries a catalog key (``report.po``) and parameters."""

    key = "report.error.tally"

    def __init__(self, **params: str | int) -> None:
        super().__init__(f"{self.key} {params}" if params else self.key)
        self.params: dict[str, str | int] = dict(params)


class UnsupportedTallyVersion(TallyError):
    """The round's rules name a tally version this code does not implement."""

    key = "report.error.tally_version"


class RoundUnknown(TallyError):
    """No opened round of that id (or, with no id given, not exactly one opened round)."""

    key = "report.error.round_unknown"


class NoRoundOpened(RoundUnknown):
    """No round id was given and the entries open no round at all."""

    key = "report.error.no_round"


class RoundNotChosen(RoundUnknown):
    """No round id was given and the entries open several rounds (``opened``; ``example``,
    to show the option that picks one, is the newest with published results, else the newest)."""

    key = "report.error.round_not_chosen"


class MalformedEntry(TallyError):
    """An entry is not JSON of the ledger shape, or its body breaks its kind's schema."""

    key = "report.error.malformed_entry"


def shown(value: Fraction) -> str:
    """Return ``value`` rounded half up to 2 decimals: ``Fraction(200, 3)`` -> ``"66.67"``."""
    hundredths = (value * 100 + Fraction(1, 2)).__floor__()
    sign = "-" if hundredths < 0 else ""
    whole, cents = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{cents:02d}"


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One ranked proposal: every component, its basis, and the selection decision."""

    rank: int
    proposal: str
    category: str
    region: str
    community: str | None
    group: int | None
    budget: int
    endorsements: int
    submitted_seq: int
    judges: Fraction
    judges_counted: int  # judges whose scores count
    judges_recused: int
    onsite: Fraction
    onsite_scores: int  # on-site scores through the bot
    paper_ballots: int  # confirmed paper ballots
    online: Fraction
    online_likes: int
    online_voters: int
    combined: Fraction
    selected: bool
    decision: str  # selected | over_budget | count_full | quota_full | no_votes
    channel: str | None  # how it was selected: "combined" | "judges" | "onsite" | "online"

    @property
    def number(self) -> int | None:
        """Return the proposal's number in its round, the n of its id ``"<round>-<n>"``: what
        residents know it by ("#3" on every card and receipt); None for an id of another shape.

        Read from the id, not stored: the payload (and so the published digest) stays as
        it was, and a row rebuilt from a published payload has its number too.
        """
        _head, dash, tail = self.proposal.rpartition("-")
        return int(tail) if dash and tail.isascii() and tail.isdigit() else None

    def component(self, channel: str) -> Fraction:
        """Return the component of ``channel`` ("judges", "onsite", "online" or "combined")."""
        value: Fraction = getattr(self, channel)
        return value

    def to_payload(self) -> dict[str, ev.JSON]:
        """Return the row as JSON values (fractions as exact ``"n/d"`` text plus 2 decimals)."""
        return {
            "rank": self.rank,
            "proposal": self.proposal,
            "category": self.category,
            "region": self.region,
            "community": self.community,
            "group": self.group,
            "budget": self.budget,
            "endorsements": self.endorsements,
            "submitted_seq": self.submitted_seq,
            "judges": _component(self.judges, counted=self.judges_counted),
            "judges_recused": self.judges_recused,
            "onsite": _component(self.onsite, scores=self.onsite_scores),
            "paper_ballots": self.paper_ballots,
            "online": _component(self.online, likes=self.online_likes),
            "online_voters": self.online_voters,
            "combined": _component(self.combined),
            "selected": self.selected,
            "decision": self.decision,
            "channel": self.channel,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Row:
        """Rebuild a row from :meth:`to_payload` (exact fractions, not the shown decimals)."""
        return cls(
            rank=payload["rank"],
            proposal=payload["proposal"],
            category=payload["category"],
            region=payload["region"],
            community=payload["community"],
            group=payload["group"],
            budget=payload["budget"],
            endorsements=payload["endorsements"],
            submitted_seq=payload["submitted_seq"],
            judges=Fraction(payload["judges"]["exact"]),
            judges_counted=payload["judges"]["counted"],
            judges_recused=payload["judges_recused"],
            onsite=Fraction(payload["onsite"]["exact"]),
            onsite_scores=payload["onsite"]["scores"],
            paper_ballots=payload["paper_ballots"],
            online=Fraction(payload["online"]["exact"]),
            online_likes=payload["online"]["likes"],
            online_voters=payload["online_voters"],
            combined=Fraction(payload["combined"]["exact"]),
            selected=payload["selected"],
            decision=payload["decision"],
            channel=payload["channel"],
        )


def _component(value: Fraction, **basis: int) -> dict[str, ev.JSON]:
    out: dict[str, ev.JSON] = {"exact": _fraction_text(value), "shown": shown(value)}
    out.update(basis)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Results:
    """The outcome of a round: the ranking with every component, and what was selected."""

    round: str
    upto: int
    rules: RoundRules
    rows: tuple[Row, ...]
    excluded: dict[str, str]  # proposal -> "withdrawn" | "hidden" | "not_shortlisted"
    online_voters_counted: int
    online_voters_over_quota: int

    @property
    def selected(self) -> tuple[str, ...]:
        """Return the selected proposals, in rank order."""
        return tuple(row.proposal for row in self.rows if row.selected)

    @property
    def ranking(self) -> tuple[str, ...]:
        """Return every ranked proposal, best first."""
        return tuple(row.proposal for row in self.rows)

    @property
    def selected_budget(self) -> int:
        """Return the sum of the selected proposals' budgets, in won."""
        return sum(row.budget for row in self.rows if row.selected)

    def row(self, proposal: str) -> Row:
        """Return the row of ``proposal``.

        Raises:
            KeyError: the proposal is not ranked.
        """
        for row in self.rows:
            if row.proposal == proposal:
                return row
        raise KeyError(proposal)

    def to_payload(self) -> dict[str, ev.JSON]:
        """Return the results as JSON values: what is published and hashed.

        Self-contained: it holds the round's full rules, so :meth:`from_payload` rebuilds the
        results (for reports) from a stored payload without the ledger.
        """
        return {
            "v": RESULTS_SCHEMA,
            "tally_version": self.rules.tally_version,
            "round": self.round,
            "upto": self.upto,
            "rules": self.rules.to_payload(),
            "selected_budget": self.selected_budget,
            "ranking": list(self.ranking),
            "selected": list(self.selected),
            "rows": [row.to_payload() for row in self.rows],
            "excluded": dict(sorted(self.excluded.items())),
            "online_voters_counted": self.online_voters_counted,
            "online_voters_over_quota": self.online_voters_over_quota,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Results:
        """Rebuild results from :meth:`to_payload` (e.g. the published ones, for a report).

        Raises:
            MalformedEntry: not a results payload of this schema.
        """
        try:
            if payload["v"] != RESULTS_SCHEMA:
                raise ValueError(f"results schema {payload['v']!r}")
            results = cls(
                round=payload["round"],
                upto=payload["upto"],
                rules=RoundRules.from_payload(payload["rules"]),
                rows=tuple(Row.from_payload(row) for row in payload["rows"]),
                excluded=dict(payload["excluded"]),
                online_voters_counted=payload["online_voters_counted"],
                online_voters_over_quota=payload["online_voters_over_quota"],
            )
        except (KeyError, TypeError, ValueError, ev.MalformedBody) as err:
            raise MalformedEntry(seq="?", reason=f"results payload: {err}") from err
        if results.to_payload() != payload:
            raise MalformedEntry(seq="?", reason="results payload is not as tally writes it")
        return results

    def canonical(self) -> bytes:
        """Return the RFC 8785 canonical JSON of :meth:`to_payload`."""
        return bytes(rfc8785.dumps(self.to_payload()))

    def sha256(self) -> str:
        """Return the SHA-256 (hex) of :meth:`canonical`: ``results.published``'s digest."""
        return hashlib.sha256(self.canonical()).hexdigest()
