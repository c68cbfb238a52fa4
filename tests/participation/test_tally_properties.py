"""Properties: the tally does not depend on the order of independent entries; invariants hold.

Entries are independent when they come from different actors' streams: two judges' scores,
two raters' on-site scores, paper tallies of different sheets, online voters of different
communities. Within a stream the order is kept: a later score replaces an earlier one, a
confirmation follows its entry, and voters of one community are counted first-come (their
order decides who is within the community's quota), so one community is one stream.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from participation.domain import events as ev
from participation.domain.round import Weights
from participation.tally import tally
from tests.participation.tally_ledger import CRITERIA
from tests.participation.tally_ledger import LedgerBuilder
from tests.participation.tally_ledger import rules

Stream = list[tuple[ev.Event, str]]


@st.composite
def rounds(draw):
    """Return (rules, prefix builder, streams of independent events)."""
    n = draw(st.integers(2, 6), label="proposals")
    proposals = [f"r1-{i}" for i in range(1, n + 1)]
    groups = [proposals[: n // 2], proposals[n // 2 :]] if draw(st.booleans()) else []
    judges, onsite, online = draw(
        st.sampled_from([(50, 30, 20), (100, 0, 0), (34, 33, 33), (0, 0, 100), (20, 40, 40)])
    )
    selection = draw(st.sampled_from(["weighted", "channel_quotas"]))
    quotas = {c: draw(st.integers(0, 3)) for c in ("judges", "onsite", "online")}
    if selection == "channel_quotas" and not any(quotas.values()):
        quotas["online"] = 1
    round_rules = rules(
        weights=Weights(judges=judges, onsite=onsite, online=online),
        selection=selection,
        channel_quotas=quotas if selection == "channel_quotas" else {},
        select_count=draw(st.none() | st.integers(1, n)),
        eligibility="enrollment",
        voters_per_community=draw(st.integers(1, 3)),
        budget_cap=(cap := draw(st.integers(1, 12)) * 1_000_000),
        max_request=min(cap, 5_000_000),
    )
    b = LedgerBuilder()
    b.open(round_rules)
    for i, p in enumerate(proposals):
        b.submit(p, draw(st.integers(1, 5)) * 1_000_000, f"r:author{i}")
    for voter in range(draw(st.integers(0, 4))):
        b.endorse(draw(st.sampled_from(proposals)), f"r:endorser{voter}")
    b.advance("review", proposals, frm="endorsement")
    if groups:
        b.groups(*groups)
    streams: list[Stream] = []
    for j in range(draw(st.integers(0, 3), label="judges")):
        stream: Stream = []
        for _ in range(draw(st.integers(0, 5))):
            p = draw(st.sampled_from(proposals))
            if draw(st.integers(0, 5)) == 0:
                stream.append((ev.JudgeRecused(proposal=p), f"j:{j}"))
            else:
                scores = {c: draw(st.integers(1, 5)) for c in CRITERIA}
                stream.append((ev.JudgeScored(proposal=p, scores=scores), f"j:{j}"))
        streams.append(stream)
    for r in range(draw(st.integers(0, 4), label="raters")):
        streams.append(
            [
                (ev.OnsiteScored(session="s1", proposal=p, score=s), f"r:rater{r}")
                for p, s in draw(
                    st.lists(st.tuples(st.sampled_from(proposals), st.integers(1, 5)), max_size=4)
                )
            ]
        )
    for t in range(draw(st.integers(0, 2), label="paper sheets")):
        streams.append(paper_stream(draw, f"t{t}", draw(st.sampled_from(proposals))))
    for c in range(draw(st.integers(0, 3), label="communities")):
        stream = []
        for v in range(draw(st.integers(1, 4))):
            voter = f"r:c{c}v{v}"
            b.enroll(voter, f"c{c}")
            own = draw(st.sampled_from(groups)) if groups else proposals
            if groups:
                stream.append((ev.OnlineGroupChosen(group=groups.index(own) + 1), voter))
            for p in draw(st.lists(st.sampled_from(own), max_size=4, unique=True)):
                stream.append((ev.OnlineLiked(proposal=p), voter))
                if draw(st.integers(0, 4)) == 0:
                    stream.append((ev.OnlineUnliked(proposal=p), voter))
        streams.append(stream)
    return round_rules, b, streams


def paper_stream(draw, tally_id: str, proposal: str) -> Stream:
    ballots = draw(st.integers(0, 5))
    points = draw(st.integers(ballots, 5 * ballots))
    entered = ev.PaperEntered(
        tally=tally_id, session="s1", proposal=proposal, ballots=ballots, points=points,
        sheet_sha256="e" * 64, corrects=None,
    )  # fmt: skip
    stream: Stream = [(entered, "o:clerk1")]
    if draw(st.booleans()):
        stream.append((ev.PaperConfirmed(tally=tally_id), "o:clerk2"))
    if draw(st.booleans()):
        fixed = ev.PaperEntered(
            tally=tally_id + "b", session="s1", proposal=proposal, ballots=ballots,
            points=ballots * 5, sheet_sha256="f" * 64, corrects=tally_id,
        )  # fmt: skip
        stream += [(fixed, "o:clerk1"), (ev.PaperConfirmed(tally=tally_id + "b"), "o:clerk2")]
    return stream


def ledger(prefix: LedgerBuilder, streams: list[Stream], order: list[int]) -> list[dict]:
    """Return the prefix, then the streams' events interleaved in ``order`` (stream numbers)."""
    b = LedgerBuilder()
    b.leaves = [dict(leaf) for leaf in prefix.leaves]
    positions = [0] * len(streams)
    for s in order:
        event, actor = streams[s][positions[s]]
        positions[s] += 1
        b.add(event, actor)
    return b.leaves


@given(rounds(), st.data())
def test_results_do_not_depend_on_the_order_of_independent_entries(case, data):
    _rules, prefix, streams = case
    in_order = [s for s, stream in enumerate(streams) for _ in stream]
    shuffled = data.draw(st.permutations(in_order), label="interleaving")
    first = tally(ledger(prefix, streams, in_order))
    second = tally(ledger(prefix, streams, shuffled))
    assert second.to_payload() == first.to_payload()
    assert second.sha256() == first.sha256()


@given(rounds(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_the_order_entries_are_passed_in(case, rng):
    _rules, prefix, streams = case
    leaves = ledger(prefix, streams, [s for s, stream in enumerate(streams) for _ in stream])
    shuffled = list(leaves)
    rng.shuffle(shuffled)
    assert tally(shuffled).sha256() == tally(leaves).sha256()


@given(rounds())
def test_selection_respects_the_cap_the_count_and_the_rank_order(case):
    round_rules, prefix, streams = case
    results = tally(
        ledger(prefix, streams, [s for s, stream in enumerate(streams) for _ in stream])
    )
    assert results.selected_budget <= round_rules.budget_cap
    if round_rules.select_count is not None:
        assert len(results.selected) <= round_rules.select_count
    for row in results.rows:
        for value in (row.judges, row.onsite, row.online, row.combined):
            assert Fraction(0) <= value <= 100
        assert row.selected == (row.decision == "selected")
    keys = [(-r.combined, -r.judges, -r.endorsements, r.submitted_seq) for r in results.rows]
    assert keys == sorted(keys)
    assert [r.rank for r in results.rows] == list(range(1, len(results.rows) + 1))
    if round_rules.selection == "weighted":
        # nothing skipped for budget could have fit in what was left when its turn came
        left = round_rules.budget_cap
        for row in results.rows:
            if row.selected:
                left -= row.budget
            elif row.decision == "over_budget":
                assert row.budget > left
