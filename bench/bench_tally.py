"""Tally of a round the size of the 2017 review, from export lines.

815 proposals in 68 review groups, 2 judges per group, each community's representative scoring
the other proposals of its group, 9 online voters per community (7,335) each liking up to 6
proposals of one group, 68 paper tallies. Prints the entry count and the time to parse and
tally, and the ratio to a baseline of json.loads over the same lines (the floor of any recount).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from participation.domain import events as ev  # noqa: E402
from participation.domain.round import Deadlines  # noqa: E402
from participation.domain.round import ttabok_2017  # noqa: E402
from participation.tally import tally  # noqa: E402

COMMUNITIES = 815
GROUP_SIZE = 12


def build(seed: int = 2017) -> list[bytes]:
    """Return the export lines of a synthetic 2017-sized round."""
    rng = random.Random(seed)
    rules = ttabok_2017(
        title="2017 review",
        deadlines=Deadlines(
            submission_ends=1_486_000_000, endorsement_ends=1_487_000_000, review_ends=1_487_840_000
        ),
    )
    lines: list[bytes] = []

    def add(event: ev.Event, actor: str) -> None:
        entry = {
            "v": 1, "seq": len(lines), "ts": "2017-02-23T05:00:00.000Z", "kind": event.kind,
            "actor": actor, "round": "gg2017", "body": event.to_payload(), "prev": "00" * 32,
        }  # fmt: skip
        leaf = {"entry": entry, "key": "k", "sig": "AA=="}
        lines.append(json.dumps(leaf, sort_keys=True, separators=(",", ":")).encode())

    add(ev.RoundOpened(rules=rules.to_payload()), "o:admin")
    proposals = [f"gg2017-{n}" for n in range(1, COMMUNITIES + 1)]
    for n, p in enumerate(proposals):
        add(ev.ProposalSubmitted(proposal=p, category="community", region="suwon",
                                 budget=rng.randrange(3, 11) * 1_000_000, content_c="c" * 64,
                                 has_photo=False, community=f"c{n}"), f"r:rep{n}")  # fmt: skip
    add(ev.RoundAdvanced(from_phase="endorsement", to_phase="review",
                         shortlisted=tuple(proposals)), "o:admin")  # fmt: skip
    groups = [tuple(proposals[i : i + GROUP_SIZE]) for i in range(0, COMMUNITIES, GROUP_SIZE)]
    add(ev.ReviewGrouped(groups=tuple(groups)), "o:admin")
    for n in range(COMMUNITIES):
        for v in range(9):
            add(ev.EnrollmentRedeemed(community=f"c{n}", role="voter"), f"r:c{n}v{v}")
    for g, members in enumerate(groups, start=1):
        for j in range(2):
            for p in members:
                scores = {c: rng.randint(1, 5) for c in rules.criteria}
                add(ev.JudgeScored(proposal=p, scores=scores), f"j:g{g}j{j}")
        for rep in members:
            n = proposals.index(rep)
            for p in members:
                if p != rep:
                    add(ev.OnsiteScored(session=f"s{g}", proposal=p, score=rng.randint(1, 5)),
                        f"r:rep{n}")  # fmt: skip
        p = members[0]
        add(ev.PaperEntered(tally=f"t{g}", session=f"s{g}", proposal=p, ballots=10, points=35,
                            sheet_sha256="e" * 64, corrects=None), "o:clerk1")  # fmt: skip
        add(ev.PaperConfirmed(tally=f"t{g}"), "o:clerk2")
    for n in range(COMMUNITIES):
        for v in range(9):
            voter = f"r:c{n}v{v}"
            g = rng.randrange(len(groups))
            add(ev.OnlineGroupChosen(group=g + 1), voter)
            choices = [p for p in groups[g] if p != proposals[n]]
            for p in rng.sample(choices, min(6, len(choices))):
                add(ev.OnlineLiked(proposal=p), voter)
    return lines


def main() -> None:
    lines = build()
    start = time.perf_counter()
    for line in lines:
        json.loads(line)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    results = tally(lines)
    took = time.perf_counter() - start
    print(f"entries: {len(lines)}; selected: {len(results.selected)} "
          f"({results.selected_budget:,} KRW of {results.rules.budget_cap:,})")  # fmt: skip
    print(f"json.loads baseline: {baseline:.2f} s; tally: {took:.2f} s; "
          f"ratio {took / baseline:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
