"""Openings of proposal content commitments: check the titles shown with published results.

A proposal's title, body and photo stay beside the ledger (personal content, erasable on a
person's request); its ``proposal.submitted`` and ``proposal.edited`` entries carry only
``content_c``, a salted commitment to that content::

    content_c = hex(SHA-256(salt || JSON(content)))

where ``salt`` is 16 random bytes and ``JSON`` is UTF-8 JSON with keys sorted, no spaces and
non-ASCII characters as themselves (Python's ``json.dumps(content, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)``). ``content`` is ``{"title", "body", "photo",
"photo_uid"}``: the texts as residents read them in the bot, and the photo as Telegram's
``file_id`` and ``file_unique_id``, names the bot alone can fetch the photo by (a file id works
only with this bot's token), never the picture itself. The commitment covers those names, so
they are published as they are: without them nobody could recompute it.

An *opening* is the salt and the content of the latest entry that set a proposal's content:
with it anyone recomputes ``content_c`` and compares it with that entry of the export.

The document (``GET /results/<round>/openings.json``), schema 1::

    {"v": 1, "round": R, "results_index": I,           # I: the round's results.published entry
     "size": N,                                         # the ledger's size when it was read
     "openings": [{"proposal", "index", "kind", "salt", "content"}, ...],
     "withheld": [{"proposal", "content_c", "reason"}, ...]}  # reason: "erased" | "hidden"

It covers the proposals the published results list as ranked or ``not_shortlisted`` (public
in the bot), each once: opened, or withheld because its content was erased (a
``content.erased`` entry names the commitment) or the proposal is hidden now (a
``proposal.hidden`` entry not restored). Withdrawn proposals and those the results exclude as
hidden are not covered. :func:`check_openings` checks every claim of the document against an
export: an opening recomputes to the ``content_c`` of the entry it names, that entry is the
proposal's latest content entry, a withholding is borne out by the ledger, and no listed
proposal is left out. The document is read live, and an export ends at the last sealed block:
a withholding recorded after the export's last entry (``size`` beyond it) cannot be borne out
yet, and is reported as such (``withheld_later``), not as a failure; the titles it withholds are
shown nowhere. This module is pure: no IO, no clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from participation.domain import events as ev
from participation.results import Results
from participation.results import TallyError

OPENINGS_SCHEMA = 1
CONTENT_KINDS = (ev.ProposalSubmitted.kind, ev.ProposalEdited.kind)
WITHHELD_REASONS = ("erased", "hidden")
_HEX = re.compile(r"^(?:[0-9a-f]{2}){1,64}$")

# What a check finds about one proposal: the two good outcomes, then the failures.
VERIFIED, WITHHELD, WITHHELD_LATER = "verified", "withheld", "withheld_later"
FAILURES = ("mismatch", "not_content_entry", "superseded", "missing", "unfounded", "unlisted")


class OpeningsMalformed(TallyError):
    """The openings document cannot be read or is not JSON of schema 1. ``why`` names what is
    wrong (a ``report.openings_why.<why>`` text, with ``params``): ``unreadable``,
    ``not_found``, ``not_text``, ``not_json`` (``line``, ``column``), ``schema``, ``field``
    (``field``: of the wrong type or missing), ``salt``, ``reason`` (``reason``), ``index``,
    ``twice`` (``proposals``)."""

    key = "report.error.openings_malformed"

    def __init__(self, why: str, **params: str | int) -> None:
        super().__init__(**params)
        self.why = why


def canonical(content: ev.JSON) -> bytes:
    """Return ``JSON(content)``: UTF-8, keys sorted, no spaces, non-ASCII as itself."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def commitment(salt: bytes, content: ev.JSON) -> str:
    """Return ``hex(SHA-256(salt || JSON(content)))``, the ``content_c`` of an entry."""
    return hashlib.sha256(salt + canonical(content)).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """The salt and content behind the ``content_c`` of ledger entry ``index``."""

    proposal: str
    index: int
    kind: str  # the entry's kind: proposal.submitted | proposal.edited
    salt: bytes
    content: dict[str, ev.JSON]

    @property
    def title(self) -> str:
        """Return the opened title ("" when the content has none)."""
        value = self.content.get("title")
        return value if isinstance(value, str) else ""

    def to_payload(self) -> dict[str, ev.JSON]:
        """Return the opening as it is published."""
        return {"proposal": self.proposal, "index": self.index, "kind": self.kind,
                "salt": self.salt.hex(), "content": self.content}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Withheld:
    """A proposal whose content is not opened: ``reason`` "erased" or "hidden";
    ``content_c``: the commitment of its latest content entry (public in the ledger)."""

    proposal: str
    content_c: str
    reason: str

    def to_payload(self) -> dict[str, ev.JSON]:
        """Return the withholding as it is published."""
        return {"proposal": self.proposal, "content_c": self.content_c, "reason": self.reason}


@dataclass(frozen=True, slots=True, kw_only=True)
class Openings:
    """The openings of one round's published results."""

    round: str
    results_index: int
    size: int  # the ledger's size when the document was read: its withholdings are before it
    openings: tuple[Opening, ...]
    withheld: tuple[Withheld, ...] = ()

    def to_payload(self) -> dict[str, ev.JSON]:
        """Return the document as it is published (schema 1)."""
        return {
            "v": OPENINGS_SCHEMA,
            "round": self.round,
            "results_index": self.results_index,
            "size": self.size,
            "openings": [o.to_payload() for o in self.openings],
            "withheld": [w.to_payload() for w in self.withheld],
        }


def covered(results: Results) -> list[str]:
    """Return the proposals an openings document covers: the ranked ones in rank order, then
    those the results exclude as ``not_shortlisted``, by id."""
    left_out = sorted(p for p, why in results.excluded.items() if why == "not_shortlisted")
    return [*results.ranking, *left_out]


def parse_openings(raw: bytes | str) -> Openings:
    """Return the openings document in ``raw``.

    Raises:
        OpeningsMalformed: not JSON, not schema 1, a field of the wrong type, a salt that is
            not hex, or a proposal named twice.
    """
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as err:
        raise OpeningsMalformed("not_json", line=err.lineno, column=err.colno) from err
    except ValueError as err:  # bytes that are not UTF-8/16/32 text
        raise OpeningsMalformed("not_text") from err
    if not isinstance(doc, dict) or doc.get("v") != OPENINGS_SCHEMA:
        raise OpeningsMalformed("schema", schema=OPENINGS_SCHEMA)
    found = Openings(
        round=_typed(doc, "round", str),
        results_index=_typed(doc, "results_index", int),
        size=_typed(doc, "size", int),
        openings=tuple(_opening(item) for item in _typed(doc, "openings", list)),
        withheld=tuple(_withheld(item) for item in _typed(doc, "withheld", list)),
    )
    named = [o.proposal for o in found.openings] + [w.proposal for w in found.withheld]
    twice = sorted({p for p in named if named.count(p) > 1})
    if twice:
        raise OpeningsMalformed("twice", proposals=", ".join(twice))
    return found


def _typed(obj: Any, name: str, kind: type) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise OpeningsMalformed("field", field=name)
    return value


def _opening(item: Any) -> Opening:
    salt = _typed(item, "salt", str)
    if not _HEX.match(salt):
        raise OpeningsMalformed("salt")
    return Opening(
        proposal=_typed(item, "proposal", str),
        index=_index(item),
        kind=_typed(item, "kind", str),
        salt=bytes.fromhex(salt),
        content=_typed(item, "content", dict),
    )


def _withheld(item: Any) -> Withheld:
    reason = _typed(item, "reason", str)
    if reason not in WITHHELD_REASONS:
        raise OpeningsMalformed("reason", reason=reason[:40])
    return Withheld(
        proposal=_typed(item, "proposal", str),
        content_c=_typed(item, "content_c", str),
        reason=reason,
    )


def _index(item: Any) -> int:
    index: int = _typed(item, "index", int)
    if index < 0:
        raise OpeningsMalformed("index")
    return index


# --- checking against an export --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What the check found about one proposal.

    ``code``: ``verified``, ``withheld`` or one of :data:`FAILURES`; ``index``: the ledger
    index it is about (the opened entry, else the proposal's latest content entry, -1 when the
    export has none); ``title``: the verified title; ``params``: what the message names.
    """

    proposal: str
    code: str
    index: int
    title: str | None = None
    params: dict[str, str | int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Return whether this finding is a failure."""
        return self.code in FAILURES


@dataclass(slots=True)
class _Ledger:
    """What the check reads from the export: per proposal of the round, its latest content
    entry and whether it is hidden; every entry by index; erased commitments."""

    by_index: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    latest: dict[str, int] = field(default_factory=dict)
    hidden_at: dict[str, int] = field(default_factory=dict)  # hidden now: the hiding entry
    erased_at: dict[str, int] = field(default_factory=dict)  # commitment -> content.erased


def _read(entries: Iterable[Mapping[str, Any]], round_id: str) -> _Ledger:
    seen = _Ledger()
    for entry in sorted(entries, key=lambda e: int(e["seq"])):
        seq, kind, body = int(entry["seq"]), entry["kind"], entry.get("body") or {}
        seen.by_index[seq] = entry
        if kind == ev.ContentErased.kind:
            for commit in body.get("commitments") or ():
                seen.erased_at.setdefault(str(commit), seq)
        elif entry.get("round") != round_id:
            continue
        elif kind in CONTENT_KINDS:
            seen.latest[str(body.get("proposal"))] = seq
        elif kind == ev.ProposalHidden.kind:
            seen.hidden_at[str(body.get("proposal"))] = seq
        elif kind == ev.ProposalRestored.kind:
            seen.hidden_at.pop(str(body.get("proposal")), None)
    return seen


def check_openings(
    entries: Iterable[Mapping[str, Any]], results: Results, doc: Openings
) -> list[Finding]:
    """Check ``doc`` against the export's ``entries`` (parsed entries, as
    ``participation.tally.read_entry`` returns them) and the recomputed ``results``.

    Returns one finding per covered proposal, in their order (:func:`covered`), then one per
    opening of a proposal the results do not list (a withholding of one is ignored). Requires
    ``doc.round == results.round``.
    """
    seen = _read(entries, results.round)
    have = max(seen.by_index, default=-1) + 1  # the export's size
    opened = {o.proposal: o for o in doc.openings}
    withheld = {w.proposal: w for w in doc.withheld}
    expected = covered(results)
    findings = []
    for proposal in expected:
        latest = seen.latest.get(proposal, -1)
        if proposal in opened:
            findings.append(_check_opening(seen, opened[proposal]))
        elif proposal in withheld:
            findings.append(_check_withheld(seen, withheld[proposal], latest, have, doc.size))
        else:
            findings.append(Finding(proposal=proposal, code="missing", index=latest))
    for other in opened.values():  # content published that the results do not list
        if other.proposal not in expected:
            findings.append(Finding(proposal=other.proposal, code="unlisted", index=other.index))
    return findings


def _check_opening(seen: _Ledger, o: Opening) -> Finding:
    entry = seen.by_index.get(o.index)
    body = (entry or {}).get("body") or {}
    if (
        entry is None
        or entry["kind"] != o.kind
        or o.kind not in CONTENT_KINDS
        or body.get("proposal") != o.proposal
    ):
        return Finding(proposal=o.proposal, code="not_content_entry", index=o.index)
    computed, committed = commitment(o.salt, o.content), str(body.get("content_c"))
    if computed != committed:
        params: dict[str, str | int] = {"computed": computed, "committed": committed}
        return Finding(proposal=o.proposal, code="mismatch", index=o.index, params=params)
    latest = seen.latest.get(o.proposal, o.index)
    if latest != o.index:
        return Finding(proposal=o.proposal, code="superseded", index=o.index,
                       params={"latest": latest})  # fmt: skip
    return Finding(proposal=o.proposal, code=VERIFIED, index=o.index, title=o.title)


def _check_withheld(seen: _Ledger, w: Withheld, latest: int, have: int, size: int) -> Finding:
    entry = seen.by_index.get(latest) or {}
    committed = str((entry.get("body") or {}).get("content_c"))
    if w.reason == "erased":
        at = seen.erased_at.get(committed)
    else:
        at = seen.hidden_at.get(w.proposal)
    if at is None and w.content_c == committed and have < size:  # recorded after the export
        return Finding(proposal=w.proposal, code=WITHHELD_LATER, index=latest,
                       params={"reason": w.reason, "have": have, "size": size})  # fmt: skip
    if at is None or w.content_c != committed:
        return Finding(proposal=w.proposal, code="unfounded", index=latest,
                       params={"reason": w.reason})  # fmt: skip
    return Finding(proposal=w.proposal, code=WITHHELD, index=latest,
                   params={"reason": w.reason, "at": at})  # fmt: skip
