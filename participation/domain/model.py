"""The state the rules decide on: small immutable snapshots the store loads for one command."""

from __future__ import annotations

from dataclasses import dataclass

from participation.domain.round import RoundRules


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundState:
    """A round as the rules see it."""

    round_id: str
    phase: str
    rules: RoundRules
    groups: tuple[tuple[str, ...], ...] = ()  # review groups; () until formed
    results_published: bool = False
    phase_changed_at: int | None = None  # when it entered its phase (None: not read)

    def group_of(self, proposal_id: str) -> int | None:
        """Return the review group (1-based) holding the proposal, or None."""
        for number, members in enumerate(self.groups, start=1):
            if proposal_id in members:
                return number
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalState:
    """A proposal as the rules see it (``author_id`` never leaves the projection)."""

    proposal_id: str
    round_id: str
    author_id: int
    community: str | None
    category: str
    region: str
    budget: int
    withdrawn: bool = False
    hidden: bool = False
    shortlisted: bool = False
    endorsements: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    """A single-use invite (official or judge); only the code's hash is stored."""

    kind: str  # "official" | "judge"
    round_id: str  # "" for official invites
    role: str
    group: int | None
    expires_at: int
    used: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    """A person's voter slot in a round (from an enrollment code), with the online group."""

    round_id: str
    community: str
    role: str  # "voter" | "representative"
    online_group: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteSession:
    """An on-site session whose rotating code marks people present.

    ``closed_at``: the moment it was closed (None: open, or closed before that was kept). An
    action received before that moment still goes through it (see :meth:`open_at`).
    """

    session_id: str
    round_id: str
    group: int | None
    open: bool
    closed_at: int | None = None

    def open_at(self, now: int) -> bool:
        """Return whether the session takes check-ins and scores judged at ``now``."""
        return self.open or (self.closed_at is not None and now < self.closed_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperTally:
    """A paper tally entered by one official, counted once another confirms it."""

    tally_id: str
    round_id: str
    session_id: str
    proposal_id: str
    entered_by: int
    confirmed: bool
    superseded: bool
