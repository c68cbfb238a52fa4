"""Build a round's ledger entries by hand, for the tally tests (no database, no signatures)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from participation.domain import events as ev
from participation.domain.round import Deadlines
from participation.domain.round import RoundRules

DEADLINES = Deadlines(
    submission_ends=1_486_000_000, endorsement_ends=1_487_000_000, review_ends=1_487_900_000
)
CRITERIA = ("necessity", "feasibility", "publicness", "impact")


def rules(**changes: Any) -> RoundRules:
    """Return small-round rules: 50/30/20, four criteria, 10,000,000원 cap."""
    base = RoundRules(
        title="test round", deadlines=DEADLINES, budget_cap=10_000_000, max_request=10_000_000
    )
    return base.with_changes(**changes) if changes else base


class LedgerBuilder:
    """Appends events as ledger leaves ``{"entry": {...}, "key", "sig"}`` with seq 0, 1, ..."""

    def __init__(self, round_id: str = "r1") -> None:
        self.round = round_id
        self.leaves: list[dict[str, Any]] = []

    def add(self, event: ev.Event, actor: str = "o:admin", round_id: str | None = None) -> int:
        seq = len(self.leaves)
        entry = {
            "v": 1,
            "seq": seq,
            "ts": f"2017-02-23T05:{seq // 60 % 60:02d}:{seq % 60:02d}.000Z",
            "kind": event.kind,
            "actor": actor,
            "round": self.round if round_id is None else round_id,
            "body": event.to_payload(),
            "prev": "00" * 32,
        }
        self.leaves.append({"entry": entry, "key": "test", "sig": "AA=="})
        return seq

    def lines(self) -> list[bytes]:
        """Return the leaves as export lines (compact, sorted JSON bytes)."""
        return [
            json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            for leaf in self.leaves
        ]

    # round lifecycle
    def open(self, round_rules: RoundRules) -> None:
        self.add(ev.RoundCreated(rules=round_rules.to_payload()))
        self.add(ev.RoundOpened(rules=round_rules.to_payload()))

    def advance(self, to_phase: str, shortlisted: Sequence[str] = (), frm: str = "") -> None:
        self.add(
            ev.RoundAdvanced(from_phase=frm, to_phase=to_phase, shortlisted=tuple(shortlisted))
        )

    def groups(self, *groups: Sequence[str]) -> None:
        self.add(ev.ReviewGrouped(groups=tuple(tuple(g) for g in groups)))

    # proposals
    def submit(
        self, proposal: str, budget: int, author: str, *, community: str | None = None
    ) -> None:
        self.add(
            ev.ProposalSubmitted(
                proposal=proposal,
                category="community",
                region="suwon",
                budget=budget,
                content_c="c" * 64,
                has_photo=False,
                community=community,
            ),
            author,
        )

    def edit(self, proposal: str, budget: int, author: str) -> None:
        self.add(
            ev.ProposalEdited(
                proposal=proposal,
                category="culture",
                region="yongin",
                budget=budget,
                content_c="d" * 64,
                has_photo=False,
            ),
            author,
        )

    def withdraw(self, proposal: str, author: str) -> None:
        self.add(ev.ProposalWithdrawn(proposal=proposal), author)

    def hide(self, proposal: str) -> None:
        self.add(ev.ProposalHidden(proposal=proposal, reason="spam"))

    def restore(self, proposal: str) -> None:
        self.add(ev.ProposalRestored(proposal=proposal))

    def endorse(self, proposal: str, actor: str) -> None:
        self.add(ev.ProposalEndorsed(proposal=proposal), actor)

    def unendorse(self, proposal: str, actor: str) -> None:
        self.add(ev.EndorsementWithdrawn(proposal=proposal), actor)

    # judges
    def judge(self, judge: str, proposal: str, scores: Sequence[int] | int) -> None:
        values = [scores] * len(CRITERIA) if isinstance(scores, int) else list(scores)
        self.add(
            ev.JudgeScored(proposal=proposal, scores=dict(zip(CRITERIA, values, strict=True))),
            judge,
        )

    def recuse(self, judge: str, proposal: str) -> None:
        self.add(ev.JudgeRecused(proposal=proposal), judge)

    # on site
    def onsite(self, actor: str, proposal: str, score: int, session: str = "s1") -> None:
        self.add(ev.OnsiteScored(session=session, proposal=proposal, score=score), actor)

    def paper(
        self,
        tally: str,
        proposal: str,
        ballots: int,
        points: int,
        *,
        confirm: bool = True,
        corrects: str | None = None,
    ) -> None:
        self.add(
            ev.PaperEntered(
                tally=tally,
                session="s1",
                proposal=proposal,
                ballots=ballots,
                points=points,
                sheet_sha256="e" * 64,
                corrects=corrects,
            ),
            "o:clerk1",
        )
        if confirm:
            self.add(ev.PaperConfirmed(tally=tally), "o:clerk2")

    # online
    def enroll(self, actor: str, community: str, role: str = "voter") -> None:
        self.add(ev.EnrollmentRedeemed(community=community, role=role), actor)

    def choose(self, actor: str, group: int) -> None:
        self.add(ev.OnlineGroupChosen(group=group), actor)

    def like(self, actor: str, proposal: str) -> None:
        self.add(ev.OnlineLiked(proposal=proposal), actor)

    def unlike(self, actor: str, proposal: str) -> None:
        self.add(ev.OnlineUnliked(proposal=proposal), actor)


def entry_of(leaf: Mapping[str, Any]) -> dict[str, Any]:
    return dict(leaf["entry"])
