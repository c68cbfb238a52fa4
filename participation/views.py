"""Read models the service returns to the bot, the web layer and the CLI (plain dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from participation.domain.errors import ParticipationError
from participation.domain.events import JSON
from participation.domain.round import RoundRules


@dataclass(frozen=True, slots=True, kw_only=True)
class Resident:
    """A person's registration and settings (``registered`` False: settings only)."""

    user_id: int
    registered: bool
    consent_version: str | None
    locale: str
    region: str | None
    notifications: bool
    subscribed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundView:
    """A round: phase, deadlines (epoch seconds, shown in KST) and rules."""

    round_id: str
    title: str
    phase: str
    rules: RoundRules
    groups: tuple[tuple[str, ...], ...]
    results_published: bool
    # In the results phase, when the review ended (UTC epoch seconds; rules.review_ended_at)
    review_ended_at: int | None = None

    @property
    def deadline(self) -> int | None:
        """Return the end of the current phase (UTC epoch seconds), if it has one."""
        return self.rules.deadlines.of(self.phase)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalCard:
    """A proposal as shown to one viewer.

    ``status``: "submitted" (collecting endorsements), "withdrawn", "review" (shortlisted),
    "not_shortlisted", "counting" (reviewed, results not published yet), "selected",
    "not_selected". Title and body are None once erased.
    """

    proposal_id: str
    round_id: str
    number: int
    title: str | None
    body: str | None
    photo_file_id: str | None
    photo_unique_id: str | None  # Telegram's file_unique_id; None before it was kept, or erased
    category: str
    region: str
    budget: int
    community: str | None
    status: str
    endorsements: int
    endorsed_by_viewer: bool
    is_author: bool
    hidden: bool
    hide_reason: str | None
    group: int | None
    answer: str | None
    created_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Toggled:
    """An endorsement toggled: the card as the person sees it now, and the redrawn card's tokens."""

    card: ProposalCard
    tokens: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalPage:
    """One page of a proposal list."""

    items: list[ProposalCard]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptView:
    """A person's receipt: the ledger index and leaf hash of one of their actions."""

    index: int
    leaf_hash: str  # hex
    kind: str
    round_id: str
    subject: str
    created_at: int
    proposal_number: int | None = None  # when the subject is a proposal: its number in the round


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A person's conversation state with the bot (``version`` 0: none saved)."""

    step: str
    data: dict[str, JSON]
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """What an inline button means, looked up by its opaque token."""

    action: str
    args: dict[str, JSON]


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """Who sent an update, their stored step, and (for a press) what the button means.

    ``refusal`` is set instead of ``button`` when the pressed token is unknown, another
    person's, expired or used.
    """

    resident: Resident | None
    conversation: Conversation
    button: Button | None = None
    refusal: ParticipationError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """A notification to deliver: translate ``key`` with ``params`` in ``locale``.

    A notice about a proposal (``params["proposal"]``) gets its ``title`` when claimed, as
    :class:`NoticeTitle` has it for this person then; ``withheld`` says why it is "" instead.
    """

    id: int
    user_id: int
    locale: str
    key: str
    params: dict[str, JSON]
    broadcast_id: int | None
    withheld: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeTitle:
    """A proposal's title as a notice to one person may show it now.

    ``withheld`` is ``"hidden:<reason>"`` (hidden by moderation: from everyone but its author,
    who wrote it) or ``"erased"`` (its content erased at its author's request), as
    ``withheld_titles`` names them, and ``title`` is then ""; else None and the title.
    ``round`` is the title of the proposal's round (public; "" when none is stored), which a
    withheld notice names beside the proposal's number (``report.withheld_notice``).
    """

    title: str
    withheld: str | None
    round: str = ""


def withheld_as(
    *, hidden: bool, hide_reason: str | None, erased: bool, author: bool = False
) -> str | None:
    """Return why a proposal's title is withheld from a reader, or None when it may be shown.

    The one rule of the results, the openings, the channel posts (``report.shown_titles``)
    and the private notices (``NoticeTitle``): hidden by moderation wins over erased, so a
    proposal both hidden and erased reads ``"hidden:<reason>"`` everywhere; ``"erased"`` for
    content erased at its author's request. ``author``: the reader wrote it and may read
    their hidden title, or is told ``"erased"`` when its content is gone.
    """
    if hidden and not author:
        return f"hidden:{hide_reason or ''}"
    if erased:
        return "erased"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeTask:
    """One proposal a judge should score, with their current scores."""

    card: ProposalCard
    scores: dict[str, int] | None
    recused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeProgress:
    """How far one judge (by pseudonym) is: scored + recused out of expected."""

    judge: str
    group: int | None
    scored: int  # of the proposals the judge has now (their group's)
    recused: int  # likewise
    expected: int
    joined_at: int = 0  # epoch seconds
    scored_groups: dict[int, int] = field(default_factory=dict)  # review group (0: none) -> scores


@dataclass(frozen=True, slots=True, kw_only=True)
class Redeemed:
    """The outcome of :meth:`ParticipationService.redeem_code`.

    ``kind``: "official" | "judge" | "enrollment" | "onsite"; ``detail`` holds e.g. the
    role, the group, the community or the session.
    """

    kind: str
    round_id: str
    detail: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """Where an action sits in the ledger: entry ``index`` and its RFC 6962 leaf hash."""

    index: int
    leaf_hash: bytes
