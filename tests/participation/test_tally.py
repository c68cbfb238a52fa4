"""Hand-computed small rounds: every component, the combination, ties and selection."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from participation.domain import events as ev
from participation.tally import MalformedEntry
from participation.tally import RoundUnknown
from participation.tally import UnsupportedTallyVersion
from participation.tally import read_entry
from participation.tally import shown
from participation.tally import tally
from tests.participation.tally_ledger import LedgerBuilder
from tests.participation.tally_ledger import rules


def four_proposals(**rule_changes) -> LedgerBuilder:
    """The worked example of the module docstring of this file (numbers below)."""
    b = LedgerBuilder()
    b.open(rules(**rule_changes))
    b.submit("r1-1", 4_000_000, "r:a")  # A
    b.submit("r1-2", 5_000_000, "r:b")  # B
    b.submit("r1-3", 1_000_000, "r:c")  # C
    b.submit("r1-4", 2_000_000, "r:d")  # D
    b.submit("r1-5", 1_000_000, "r:e")  # withdrawn
    b.submit("r1-6", 1_000_000, "r:f")  # hidden
    b.submit("r1-7", 1_000_000, "r:g")  # not shortlisted
    b.withdraw("r1-5", "r:e")
    b.hide("r1-6")
    b.endorse("r1-1", "r:x")
    b.endorse("r1-2", "r:x")
    b.unendorse("r1-2", "r:x")
    b.advance("review", ["r1-1", "r1-2", "r1-3", "r1-4", "r1-6"], frm="endorsement")
    # judges: A 20 + 16 -> 36/40 = 90; B 12 + 14 (j3 recused after scoring 20) -> 26/40 = 65;
    # C 20 then replaced by 10 -> 10/20 = 50; D none -> 0
    b.judge("j:1", "r1-1", 5)
    b.judge("j:2", "r1-1", 4)
    b.judge("j:1", "r1-2", 3)
    b.judge("j:2", "r1-2", [5, 4, 3, 2])
    b.judge("j:3", "r1-2", 5)
    b.recuse("j:3", "r1-2")
    b.judge("j:1", "r1-3", 5)
    b.judge("j:1", "r1-3", [1, 2, 3, 4])
    # on site (scale 5): A (5 + 4 + paper 30) / (5 x 12) = 65; B 3/5 = 60 (paper unconfirmed);
    # C paper 10/25 corrected to 15/25 = 60; D 1 replaced by 5 -> 100
    b.onsite("r:p1", "r1-1", 5)
    b.onsite("r:p2", "r1-1", 4)
    b.paper("t1", "r1-1", ballots=10, points=30)
    b.onsite("r:p1", "r1-2", 3)
    b.paper("t2", "r1-2", ballots=4, points=20, confirm=False)
    b.paper("t3", "r1-3", ballots=5, points=10)
    b.paper("t4", "r1-3", ballots=5, points=15, corrects="t3")
    b.onsite("r:p1", "r1-4", 1)
    b.onsite("r:p1", "r1-4", 5)
    # online, no groups, 5 voters: A 3/5 = 60; B 1/5 = 20 (v1 took theirs back); C 0; D 5/5
    for v in ("r:v1", "r:v2", "r:v3"):
        b.like(v, "r1-1")
    b.like("r:v1", "r1-2")
    b.unlike("r:v1", "r1-2")
    b.like("r:v4", "r1-2")
    for v in ("r:v1", "r:v2", "r:v3", "r:v4", "r:v5"):
        b.like(v, "r1-4")
    return b


def test_components_are_computed_as_documented():
    results = tally(four_proposals().leaves)
    expected = {  # proposal: (J, O, N, C) with C = 0.5 J + 0.3 O + 0.2 N
        "r1-1": (90, 65, 60, Fraction(153, 2)),
        "r1-2": (65, 60, 20, Fraction(109, 2)),
        "r1-3": (50, 60, 0, 43),
        "r1-4": (0, 100, 100, 50),
    }
    for proposal, (j, o, n, c) in expected.items():
        row = results.row(proposal)
        assert (row.judges, row.onsite, row.online, row.combined) == (j, o, n, c), proposal


def test_component_bases_are_reported():
    results = tally(four_proposals().leaves)
    a, b = results.row("r1-1"), results.row("r1-2")
    assert (a.judges_counted, a.onsite_scores, a.paper_ballots) == (2, 2, 10)
    assert (b.judges_counted, b.judges_recused, b.paper_ballots) == (2, 1, 0)
    assert (a.online_likes, a.online_voters, b.online_likes) == (3, 5, 1)
    assert (a.endorsements, b.endorsements) == (1, 0)


def test_rank_order_and_budget_selection_skip_what_does_not_fit():
    results = tally(four_proposals().leaves)
    assert results.ranking == ("r1-1", "r1-2", "r1-4", "r1-3")
    # cap 10,000,000: A 4M, B 5M (1M left), D 2M does not fit and is skipped, C 1M fits
    assert results.selected == ("r1-1", "r1-2", "r1-3")
    assert results.row("r1-4").decision == "over_budget"
    assert results.row("r1-3").channel == "combined"
    assert results.selected_budget == 10_000_000


def test_withdrawn_hidden_and_unlisted_proposals_are_excluded_with_a_reason():
    results = tally(four_proposals().leaves)
    assert results.excluded == {"r1-5": "withdrawn", "r1-6": "hidden", "r1-7": "not_shortlisted"}


def test_select_count_stops_selection():
    results = tally(four_proposals(select_count=1).leaves)
    assert results.selected == ("r1-1",)
    assert {results.row(p).decision for p in ("r1-2", "r1-3", "r1-4")} == {"count_full"}


def test_channel_quotas_pick_by_each_channel_then_stop():
    results = tally(
        four_proposals(selection="channel_quotas", channel_quotas={"onsite": 1, "online": 1}).leaves
    )
    # on site: D (100) first; online: D is taken, A (60) next
    assert results.row("r1-4").channel == "onsite"
    assert results.row("r1-1").channel == "online"
    assert set(results.selected) == {"r1-1", "r1-4"}
    assert results.row("r1-2").decision == "quota_full"


def test_channel_quotas_skip_proposals_without_votes_in_the_channel():
    results = tally(four_proposals(selection="channel_quotas", channel_quotas={"online": 4}).leaves)
    # D 2M and A 4M; B (5M) no longer fits the 4M left; C has no like
    assert set(results.selected) == {"r1-4", "r1-1"}
    assert results.row("r1-2").decision == "over_budget"
    assert results.row("r1-3").decision == "no_votes"


def test_channel_quotas_then_select_count_fills_by_combined_rank():
    results = tally(
        four_proposals(
            selection="channel_quotas", channel_quotas={"judges": 1}, select_count=2
        ).leaves
    )
    assert results.row("r1-1").channel == "judges"
    assert results.row("r1-2").channel == "combined"
    assert results.row("r1-4").decision == "count_full"


def test_edit_changes_budget_and_restore_brings_a_proposal_back():
    b = four_proposals()
    b.edit("r1-1", 9_000_000, "r:a")
    b.restore("r1-6")
    results = tally(b.leaves)
    assert results.row("r1-1").budget == 9_000_000
    assert results.row("r1-1").category == "culture"
    assert "r1-6" in results.ranking
    assert results.selected[:2] == ("r1-1", "r1-3")  # 9M + 1M; B no longer fits


def tie_round() -> LedgerBuilder:
    b = LedgerBuilder()
    b.open(rules())
    for n in range(1, 5):
        b.submit(f"r1-{n}", 1_000_000, f"r:{n}")
    b.advance("review", ["r1-1", "r1-2", "r1-3", "r1-4"])
    return b


def test_ties_break_by_judges_then_endorsements_then_submission_order():
    b = tie_round()
    # equal C = 40: r1-1 J 80 O 0; r1-2 J 20 O 100 -> r1-1 first (higher J)
    b.judge("j:1", "r1-1", 4)
    b.judge("j:1", "r1-2", 1)
    b.onsite("r:p", "r1-2", 5)
    # r1-3 and r1-4: no votes at all; r1-4 has an endorsement -> before r1-3
    b.endorse("r1-4", "r:x")
    results = tally(b.leaves)
    assert results.row("r1-1").combined == results.row("r1-2").combined == 40
    assert results.ranking == ("r1-1", "r1-2", "r1-4", "r1-3")


def test_full_tie_breaks_by_earlier_submission():
    results = tally(tie_round().leaves)
    assert results.ranking == ("r1-1", "r1-2", "r1-3", "r1-4")


def test_review_groups_and_per_community_voter_quota():
    b = LedgerBuilder()
    b.open(rules(eligibility="enrollment", voters_per_community=2))
    for n in range(1, 5):
        b.submit(f"r1-{n}", 1_000_000, f"r:{n}")
    b.advance("review", ["r1-1", "r1-2", "r1-3", "r1-4"])
    b.groups(["r1-1", "r1-2"], ["r1-3", "r1-4"])
    for voter, community in (("r:v1", "c1"), ("r:v2", "c1"), ("r:v3", "c1"), ("r:v4", "c2")):
        b.enroll(voter, community)
    b.choose("r:v2", 1)  # c1's first two online voters are v2 and v1, in ledger order
    b.choose("r:v1", 1)
    b.choose("r:v3", 1)  # third of c1: over the quota, not counted
    b.choose("r:v4", 2)
    b.like("r:v1", "r1-1")
    b.like("r:v2", "r1-1")
    b.like("r:v2", "r1-2")
    b.like("r:v3", "r1-2")
    b.like("r:v4", "r1-3")
    results = tally(b.leaves)
    online = {p: (results.row(p).online, results.row(p).online_voters) for p in results.ranking}
    assert online == {"r1-1": (100, 2), "r1-2": (50, 2), "r1-3": (100, 1), "r1-4": (0, 1)}
    assert (results.online_voters_counted, results.online_voters_over_quota) == (3, 1)
    assert results.row("r1-3").group == 2


def test_before_review_every_proposal_over_the_threshold_is_ranked():
    b = LedgerBuilder()
    b.open(rules(endorsement_threshold=1))
    b.submit("r1-1", 1_000_000, "r:1")
    b.submit("r1-2", 1_000_000, "r:2")
    b.endorse("r1-2", "r:x")
    results = tally(b.leaves)
    assert results.ranking == ("r1-2",)
    assert results.excluded == {"r1-1": "not_shortlisted"}


def test_other_rounds_and_entries_after_upto_are_ignored():
    b = four_proposals()
    upto = len(b.leaves)
    before = tally(b.leaves)
    b.like("r:v9", "r1-3")  # after upto
    other = LedgerBuilder("r2")
    other.leaves = b.leaves
    other.open(rules(title="other round"))
    other.submit("r2-1", 1_000_000, "r:z")
    assert tally(b.leaves, "r1", upto=upto).to_payload() == before.to_payload()
    assert tally(b.leaves, "r1").row("r1-3").online_likes == 1


def test_input_may_be_leaf_bytes_text_leaves_or_entries_in_any_order():
    b = four_proposals()
    expected = tally(b.leaves).sha256()
    assert tally(b.lines()).sha256() == expected
    assert tally([line.decode() for line in b.lines()]).sha256() == expected
    assert tally(reversed([leaf["entry"] for leaf in b.leaves])).sha256() == expected


def test_payload_is_json_without_floats_and_has_exact_and_shown_values():
    results = tally(four_proposals().leaves)
    payload = results.to_payload()
    text = json.dumps(payload)
    assert json.loads(text) == payload
    row = payload["rows"][0]
    assert row["combined"] == {"exact": "153/2", "shown": "76.50"}
    assert row["judges"] == {"exact": "90", "shown": "90.00", "counted": 2}

    def floats(value):
        if isinstance(value, float):
            return True
        if isinstance(value, dict):
            return any(floats(v) for v in value.values())
        if isinstance(value, list):
            return any(floats(v) for v in value)
        return False

    assert not floats(payload)
    assert len(results.sha256()) == 64


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(200, 3), "66.67"),
        (Fraction(1, 200), "0.01"),  # half up
        (Fraction(1, 201), "0.00"),
        (Fraction(100), "100.00"),
        (Fraction(0), "0.00"),
        (Fraction(-1, 3), "-0.33"),
    ],
)
def test_shown_rounds_half_up_to_two_decimals(value, text):
    assert shown(value) == text


def test_another_tally_version_is_refused():
    b = LedgerBuilder()
    payload = rules().to_payload()
    payload["tally_version"] = 2
    b.add(ev.RoundOpened(rules=payload))
    with pytest.raises(UnsupportedTallyVersion) as info:
        tally(b.leaves)
    assert info.value.params["version"] == "2"
    assert info.value.key == "report.error.tally_version"


def test_no_round_or_several_rounds_need_a_round_id():
    with pytest.raises(RoundUnknown):
        tally([])
    b = four_proposals()
    other = LedgerBuilder("r2")
    other.leaves = b.leaves
    other.open(rules())
    with pytest.raises(RoundUnknown):
        tally(b.leaves)
    with pytest.raises(RoundUnknown):
        tally(b.leaves, "r9")
    assert tally(b.leaves, "r2").ranking == ()


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[1]",
        b'{"entry": {"seq": -1, "kind": "x", "actor": "", "round": "", "body": {}}}',
        b'{"entry": {"seq": 1, "kind": 3, "actor": "", "round": "", "body": {}}}',
        b'{"entry": {"seq": 1, "kind": "x", "actor": "", "round": "", "body": []}}',
    ],
)
def test_malformed_leaves_are_refused(bad):
    with pytest.raises(MalformedEntry):
        read_entry(bad)


@pytest.mark.parametrize(
    "add",
    [
        lambda b: b.judge("j:1", "r1-1", 6),
        lambda b: b.add(ev.JudgeScored(proposal="r1-1", scores={"necessity": 3}), "j:1"),
        lambda b: b.onsite("r:p", "r1-1", 9),
        lambda b: b.paper("t9", "r1-1", ballots=2, points=11),
        lambda b: b.like("r:v", "r1-99") or b.endorse("r1-99", "r:v"),
    ],
    ids=["judge-score-6", "criteria-mismatch", "onsite-9", "paper-points", "unknown-proposal"],
)
def test_impossible_entries_are_refused_not_counted(add):
    b = four_proposals()
    add(b)
    with pytest.raises(MalformedEntry):
        tally(b.leaves)


def test_body_that_breaks_its_schema_is_refused():
    b = four_proposals()
    b.leaves[-1]["entry"]["body"]["extra"] = 1
    with pytest.raises(MalformedEntry):
        tally(b.leaves)


def test_fast_schema_check_reads_every_event_as_events_parse_does():
    from participation.tally import _event

    b = four_proposals()
    b.groups(["r1-1", "r1-2"], ["r1-3", "r1-4"])
    b.enroll("r:v1", "c1")
    b.choose("r:v1", 1)
    for leaf in b.leaves:
        entry = leaf["entry"]
        if entry["kind"].startswith("round.") and entry["kind"] != "round.advanced":
            continue  # rules bodies are read by RoundRules.from_payload, not as events
        assert _event(entry) == ev.parse(entry["kind"], entry["body"])


@pytest.mark.parametrize(
    "body",
    [
        {"v": 1},
        {"v": 2, "proposal": "r1-1"},
        {"v": 1, "proposal": 7},
        {"v": 1, "proposal": "r1-1", "extra": True},
    ],
)
def test_fast_schema_check_refuses_what_events_parse_refuses(body):
    from participation.tally import _event

    with pytest.raises(ev.MalformedBody):
        ev.parse("proposal.endorsed", body)
    with pytest.raises(MalformedEntry):
        _event({"seq": 3, "kind": "proposal.endorsed", "body": body})


def test_results_rebuild_from_their_payload():
    from participation.tally import Results

    results = tally(four_proposals(selection="channel_quotas", channel_quotas={"onsite": 2}).leaves)
    payload = json.loads(json.dumps(results.to_payload()))
    assert Results.from_payload(payload) == results
    assert Results.from_payload(payload).sha256() == results.sha256()


@pytest.mark.parametrize("change", ["v", "rows", "combined"])
def test_a_tampered_results_payload_does_not_rebuild(change):
    from participation.tally import Results

    payload = json.loads(json.dumps(tally(four_proposals().leaves).to_payload()))
    if change == "v":
        payload["v"] = 9
    elif change == "rows":
        del payload["rows"][0]["budget"]
    else:
        payload["rows"][0]["combined"]["shown"] = "99.99"
    with pytest.raises(MalformedEntry):
        Results.from_payload(payload)
