"""The closed list of ledger event kinds and the body schema of each.

Every state change of the domain is exactly one of these events, written as one ledger entry:
``entry.kind`` is the event's ``kind`` and ``entry.body`` is ``event.to_payload()``. The bodies
are the contract the tally (``participation.tally``) and outside verifiers read, so a change of
shape is a new ``schema`` version, never an edit.

Conventions of every body:
- ``"v"`` is the schema version of the kind (currently 1 everywhere);
- only ``str | int | bool | None | list | dict`` values, ASCII ``snake_case`` keys, no floats:
  amounts are integer won, instants are UTC epoch seconds (``int``);
- no Telegram id, name, phone number or free text of a person: personal content (a proposal's
  title and body, a photo's file id, a community's name, an official's answer) stays beside the
  ledger and the body holds its salted SHA-256 commitment (``*_c`` fields, 64 hex chars);
- people are the entry's ``actor``: a per-round, per-role pseudonym ``r:``/``j:``/``o:`` +
  the first 32 hex chars of ``HMAC-SHA256(pepper, role || 0x00 || round || 0x00 || user_id)``;
  round-less events (officials, registration, erasure) have ``round: null`` and hash ``""``;
- proposals are named by their id ``"<round>-<n>"`` (n = 1, 2, … in order of submission);
  review groups by their number 1, 2, …; on-site sessions and paper tallies by short ids.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from dataclasses import fields
from typing import Any
from typing import ClassVar
from typing import TypeAlias
from typing import TypeVar
from typing import Union

JSON: TypeAlias = Union[str, int, bool, None, list["JSON"], dict[str, "JSON"]]  # noqa: UP007

GLOBAL_ROUND: None = None
"""The ``round`` field (JSON null) of entries of no round (officials, residents, erasure)."""

PHASES: tuple[str, ...] = ("draft", "submission", "endorsement", "review", "results", "closed")


class MalformedBody(ValueError):
    """An entry body does not match the schema of its kind (raised by :func:`parse`)."""


E = TypeVar("E", bound="Event")


class Event:
    """Base of every event: generic, schema-checked ``to_payload`` / ``from_payload``."""

    __slots__ = ()
    kind: ClassVar[str]
    schema: ClassVar[int] = 1

    def to_payload(self) -> dict[str, JSON]:
        """Return the entry body: ``{"v": schema, <field>: <value>, ...}`` (tuples as lists)."""
        body: dict[str, JSON] = {"v": self.schema}
        for f in fields(self):  # type: ignore[arg-type]
            body[f.name] = _to_json(getattr(self, f.name))
        return body

    @classmethod
    def from_payload(cls: type[E], body: dict[str, JSON]) -> E:
        """Rebuild the event from an entry body.

        Raises:
            MalformedBody: wrong version, missing or extra keys, or a value of the wrong type.
        """
        if body.get("v") != cls.schema:
            raise MalformedBody(f"{cls.kind}: unsupported version {body.get('v')!r}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        extra = set(body) - set(names) - {"v"}
        if extra:
            raise MalformedBody(f"{cls.kind}: unexpected keys {sorted(extra)}")
        values: dict[str, Any] = {}
        for name in names:
            if name not in body:
                raise MalformedBody(f"{cls.kind}: missing key {name!r}")
            values[name] = _from_json(hints[name], body[name], f"{cls.kind}.{name}")
        return cls(**values)


def _to_json(value: object) -> JSON:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"not a ledger value: {type(value).__name__}")


def _from_json(hint: Any, value: JSON, where: str) -> Any:
    """Check ``value`` against the annotation ``hint`` and convert lists to tuples."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _from_json(option, value, where)
            except MalformedBody:
                continue
        raise MalformedBody(f"{where}: {value!r} is none of {hint}")
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is tuple and isinstance(value, list):
        (item, _ellipsis) = typing.get_args(hint)
        return tuple(_from_json(item, v, where) for v in value)
    elif origin is dict and isinstance(value, dict):
        _key, item = typing.get_args(hint)
        return {k: _from_json(item, v, where) for k, v in value.items()}
    raise MalformedBody(f"{where}: {value!r} is not {hint}")


# --- officials and residents (round = GLOBAL_ROUND) ---------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficialGranted(Event):
    """A person became an official: the first one from the CLI, the others through an invite."""

    kind: ClassVar[str] = "official.granted"
    role: str  # "admin" (round administration, moderation, results) | "clerk" (paper tallies)
    via: str  # "cli" | "invite"


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficialInvited(Event):
    """An official issued a single-use invite for another official (the code never enters)."""

    kind: ClassVar[str] = "official.invited"
    role: str
    expires_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentRegistered(Event):
    """A resident consented to the privacy notice of ``consent_version`` and chose a city/county."""

    kind: ClassVar[str] = "resident.registered"
    region: str
    consent_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentErased(Event):
    """Personal content behind these commitments was deleted; the commitments stay valid."""

    kind: ClassVar[str] = "content.erased"
    commitments: tuple[str, ...]
    reason: str  # "owner_request" | "moderation"


# --- round lifecycle --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundCreated(Event):
    """An official created a round in the draft phase with a first configuration."""

    kind: ClassVar[str] = "round.created"
    rules: dict[str, JSON]  # RoundRules.to_payload(); see participation/domain/round.py


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundConfigured(Event):
    """The draft configuration was replaced (only possible before the round opens)."""

    kind: ClassVar[str] = "round.configured"
    rules: dict[str, JSON]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundOpened(Event):
    """The round opened for submissions; ``rules`` are final and bind the tally."""

    kind: ClassVar[str] = "round.opened"
    rules: dict[str, JSON]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundAdvanced(Event):
    """The round moved to the next phase.

    On ``endorsement -> review`` (or ``submission -> review`` when a round skips endorsement),
    ``shortlisted`` lists the proposals that reached the endorsement threshold, in id order;
    otherwise it is an empty list.
    """

    kind: ClassVar[str] = "round.advanced"
    from_phase: str
    to_phase: str
    shortlisted: tuple[str, ...]


# --- communities and enrollment codes ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunityAdded(Event):
    """A community (gongdongche) takes part in the round; its name is behind ``name_c``."""

    kind: ClassVar[str] = "community.added"
    community: str
    region: str
    name_c: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentIssued(Event):
    """An official issued ``count`` single-use enrollment codes for one community and role."""

    kind: ClassVar[str] = "enrollment.issued"
    community: str
    role: str  # "voter" | "representative"
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentRedeemed(Event):
    """The actor redeemed an enrollment code: one voter slot of ``community`` is now theirs."""

    kind: ClassVar[str] = "enrollment.redeemed"
    community: str
    role: str


# --- proposals and endorsements ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalSubmitted(Event):
    """The actor submitted a proposal; title, body and photo are behind ``content_c``."""

    kind: ClassVar[str] = "proposal.submitted"
    proposal: str
    category: str
    region: str
    budget: int  # requested, in won
    content_c: str
    has_photo: bool
    community: str | None  # the proposing community, in rounds with communities


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalEdited(Event):
    """The author changed the proposal before the submission deadline."""

    kind: ClassVar[str] = "proposal.edited"
    proposal: str
    category: str
    region: str
    budget: int
    content_c: str
    has_photo: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalWithdrawn(Event):
    """The author withdrew the proposal before the submission deadline."""

    kind: ClassVar[str] = "proposal.withdrawn"
    proposal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalEndorsed(Event):
    """The actor endorsed (gongam) the proposal."""

    kind: ClassVar[str] = "proposal.endorsed"
    proposal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EndorsementWithdrawn(Event):
    """The actor took back their endorsement of the proposal."""

    kind: ClassVar[str] = "proposal.unendorsed"
    proposal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalHidden(Event):
    """An official hid the proposal for ``reason`` (a code; see participation.reason.*).

    A hidden proposal is not shown, not endorsable, and not ranked nor selected by the tally.
    """

    kind: ClassVar[str] = "proposal.hidden"
    proposal: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalRestored(Event):
    """An official lifted the hiding of the proposal."""

    kind: ClassVar[str] = "proposal.restored"
    proposal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalAnswered(Event):
    """An official answered the proposal; the answer text is behind ``answer_c``."""

    kind: ClassVar[str] = "proposal.answered"
    proposal: str
    answer_c: str


# --- review: groups and judges ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewGrouped(Event):
    """The shortlisted proposals were split into review groups (jo): group n = groups[n-1]."""

    kind: ClassVar[str] = "review.grouped"
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeInvited(Event):
    """An official issued a single-use judge invite (for review group ``group``, or any)."""

    kind: ClassVar[str] = "judge.invited"
    group: int | None
    expires_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeJoined(Event):
    """The actor (``j:``) joined the panel through an invite, assigned to ``group`` (or none)."""

    kind: ClassVar[str] = "judge.joined"
    group: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeAssigned(Event):
    """An official assigned the judge (pseudonym ``judge``) to review group ``group``."""

    kind: ClassVar[str] = "judge.assigned"
    judge: str
    group: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeScored(Event):
    """The judge scored the proposal, each criterion 1..5; a later one replaces it."""

    kind: ClassVar[str] = "judge.scored"
    proposal: str
    scores: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeRecused(Event):
    """The judge declared a conflict of interest; their scores of the proposal never count."""

    kind: ClassVar[str] = "judge.recused"
    proposal: str


# --- on site ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteOpened(Event):
    """An official opened an on-site session (for review group ``group``, or the whole hall)."""

    kind: ClassVar[str] = "onsite.opened"
    session: str
    group: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteClosed(Event):
    """The on-site session ended; no more check-ins or on-site scores through it."""

    kind: ClassVar[str] = "onsite.closed"
    session: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteCheckedIn(Event):
    """The actor scanned a valid rotating code of the session: present in the hall."""

    kind: ClassVar[str] = "onsite.checked_in"
    session: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteScored(Event):
    """A present resident (or community representative) scored a proposal 1..5 on site."""

    kind: ClassVar[str] = "onsite.scored"
    session: str
    proposal: str
    score: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperEntered(Event):
    """An official entered a paper tally from the hall: ``ballots`` papers summing ``points``.

    ``sheet_sha256`` is the SHA-256 (hex) of the tally-sheet photo. A correction is a new
    entry naming the tally it replaces in ``corrects``. Counts only once confirmed.
    """

    kind: ClassVar[str] = "paper.entered"
    tally: str
    session: str
    proposal: str
    ballots: int
    points: int
    sheet_sha256: str
    corrects: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperConfirmed(Event):
    """A second official (not the one who entered it) confirmed the paper tally."""

    kind: ClassVar[str] = "paper.confirmed"
    tally: str


# --- online review -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OnlineGroupChosen(Event):
    """An online voter chose the one review group whose proposals they will like."""

    kind: ClassVar[str] = "online.group_chosen"
    group: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OnlineLiked(Event):
    """An online voter liked (joayo) the proposal (at most ``online_likes_cap`` at a time)."""

    kind: ClassVar[str] = "online.liked"
    proposal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OnlineUnliked(Event):
    """An online voter took back their like before the review deadline."""

    kind: ClassVar[str] = "online.unliked"
    proposal: str


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultsPublished(Event):
    """An official published the results computed by ``tally`` over entries ``[0, upto)``.

    ``results_sha256`` is the SHA-256 hex of the canonical JSON of the published Results,
    so anyone can recompute ``tally(export[:upto])`` and compare.
    """

    kind: ClassVar[str] = "results.published"
    tally_version: int
    upto: int
    results_sha256: str
    ranking: tuple[str, ...]
    selected: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastQueued(Event):
    """An official queued a message for ``recipients`` subscribers (of ``region``, or all).

    The text stays beside the ledger; ``text_c`` is its salted SHA-256 commitment.
    """

    kind: ClassVar[str] = "broadcast.queued"
    broadcast: int
    region: str | None
    recipients: int
    text_c: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        OfficialGranted,
        OfficialInvited,
        ResidentRegistered,
        ContentErased,
        RoundCreated,
        RoundConfigured,
        RoundOpened,
        RoundAdvanced,
        CommunityAdded,
        EnrollmentIssued,
        EnrollmentRedeemed,
        ProposalSubmitted,
        ProposalEdited,
        ProposalWithdrawn,
        ProposalEndorsed,
        EndorsementWithdrawn,
        ProposalHidden,
        ProposalRestored,
        ProposalAnswered,
        ReviewGrouped,
        JudgeInvited,
        JudgeJoined,
        JudgeAssigned,
        JudgeScored,
        JudgeRecused,
        OnsiteOpened,
        OnsiteClosed,
        OnsiteCheckedIn,
        OnsiteScored,
        PaperEntered,
        PaperConfirmed,
        OnlineGroupChosen,
        OnlineLiked,
        OnlineUnliked,
        ResultsPublished,
        BroadcastQueued,
    )
}

KINDS: frozenset[str] = frozenset(EVENT_TYPES)
"""The closed list of entry kinds; pass it to ``Ledger.open(..., kinds=KINDS)``."""


def parse(kind: str, body: dict[str, JSON]) -> Event:
    """Return the event of an entry's ``kind`` and ``body``.

    Raises:
        MalformedBody: unknown kind, or a body that does not match the kind's schema.
    """
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise MalformedBody(f"unknown kind {kind!r}")
    return cls.from_payload(body)
