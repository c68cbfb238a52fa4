"""The tally: ``tally(entries) -> Results``, a pure function of a round's ledger entries.

Anyone can recompute the published results from a ledger export alone
(``python -m participation tally EXPORT_DIR``). The formula is the one below, tally version 1;
the round's rules (weights, quotas, caps, criteria, ``tally_version``) are read from the
``round.opened`` entry, written before anyone could vote. Rules naming another tally version
are refused (:class:`UnsupportedTallyVersion`), never computed with a formula they did not
choose. Signatures are not checked here (``python -m ledger verify`` does that).

Tally version 1
---------------
Entries are taken in ledger order (``seq``); only entries of the round count, and only those
with ``seq < upto`` when ``upto`` is given. A later score by the same person of the same
proposal replaces the earlier one.

Ranked proposals: the ``shortlisted`` list of the ``round.advanced`` entry into ``review``
(before that entry: every proposal with at least ``endorsement_threshold`` endorsements),
minus withdrawn and hidden (and not restored) proposals.

Every component is a number from 0 to 100, computed exactly (fractions):

* judges J = mean, over the judges who scored the proposal and did not recuse themselves
  from it, of (sum of the judge's criteria scores) / (5 x number of criteria) x 100.
  A recused judge's scores never count, and a missing score does not count against the
  proposal. No judge score: J = 0.
* on site O = (sum of on-site scores + sum of confirmed paper points)
  / (onsite_scale x (number of on-site scores + number of confirmed paper ballots)) x 100.
  On-site scores are the peer scores (or hall scores) given through ``onsite.scored``, one per
  person and proposal (the last). A paper tally counts once confirmed by a second official;
  a confirmed correction replaces the tally it names. No score: O = 0.
* online N = L / V x 100, where V is the number of counted online voters who chose the
  proposal's review group (every counted voter when the round has no review groups or
  ``online_one_group`` is off) and L the number of them whose like for the proposal stands
  at the end; a like outside the voter's chosen group does not count. Counted voters: per
  community, the first ``voters_per_community`` voters in ledger order of their first online
  action (choosing a group, or liking); voters of no community are all counted. V = 0: N = 0.
* combined C = (w_j x J + w_o x O + w_n x N) / (w_j + w_o + w_n), with the round's integer
  weights.

Rank: higher C first; ties broken by higher J, then more endorsements, then the earlier
submission (smaller ``seq`` of ``proposal.submitted``), then the proposal id. Shown values are
C, J, O, N rounded half up to 2 decimals; the exact fractions are in the payload.

Selection, ``weighted``: in rank order, a proposal is selected when ``select_count`` is not
reached and its budget fits in what is left of ``budget_cap``; a proposal that does not fit is
skipped (``over_budget``) and the next one is tried, as in participatory budgeting.

Selection, ``channel_quotas``: for each channel with a quota, in the order judges, on site,
online, the proposals not yet selected are ranked by that channel's component (ties: C, then
the rank rule) and selected in that order until the channel's quota is filled, skipping
proposals that do not fit the budget left and proposals whose component is 0 (no votes in that
channel). If ``select_count`` leaves room after the quotas, it is filled in rank order by C.
``select_count`` and ``budget_cap`` bind in every mode.

Every row says why: ``selected`` (with the ``channel`` that chose it: ``combined``, ``judges``,
``onsite`` or ``online``), ``over_budget`` (skipped: did not fit what was left of the cap),
``count_full`` (``select_count`` reached before its turn), ``quota_full`` (the channel quotas
were filled before its turn) or ``no_votes`` (no vote in any channel with a quota).
Proposals not ranked are listed in ``excluded`` as ``withdrawn``, ``hidden`` or
``not_shortlisted``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from fractions import Fraction
from typing import Any

from participation.domain import events as ev
from participation.domain.round import CHANNELS
from participation.domain.round import RoundRules
from participation.results import RESULTS_SCHEMA as RESULTS_SCHEMA
from participation.results import MalformedEntry as MalformedEntry
from participation.results import NoRoundOpened as NoRoundOpened
from participation.results import Results as Results
from participation.results import RoundNotChosen as RoundNotChosen
from participation.results import RoundUnknown as RoundUnknown
from participation.results import Row as Row
from participation.results import TallyError as TallyError
from participation.results import UnsupportedTallyVersion as UnsupportedTallyVersion
from participation.results import shown as shown

TALLY_VERSION = 1
JUDGE_SCORE_MAX = 5
ZERO = Fraction(0)
HUNDRED = Fraction(100)

Entry = Mapping[str, Any]


# --- reading entries ---------------------------------------------------------------------------


def read_entry(item: bytes | str | Entry) -> dict[str, Any]:
    """Return the entry ``{"seq", "kind", "actor", "round", "body", ...}`` of a leaf.

    Accepts the leaf bytes of an export line, its text, the parsed leaf
    ``{"entry": {...}, "key", "sig"}`` or the bare entry. ``round`` is null for entries of no
    round.

    Raises:
        MalformedEntry: not JSON, or not of the entry shape.
    """
    obj: Any = item
    if isinstance(item, bytes | str):
        try:
            obj = json.loads(item)
        except ValueError as err:
            raise MalformedEntry(seq="?", reason="not JSON") from err
    if isinstance(obj, Mapping) and isinstance(obj.get("entry"), Mapping):
        obj = obj["entry"]
    if not isinstance(obj, Mapping):
        raise MalformedEntry(seq="?", reason="not an object")
    entry = dict(obj)
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise MalformedEntry(seq="?", reason="seq is not a non-negative integer")
    for name in ("kind", "actor"):
        if not isinstance(entry.get(name), str):
            raise MalformedEntry(seq=seq, reason=f"{name} is not a string")
    if entry.get("round") is not None and not isinstance(entry["round"], str):
        raise MalformedEntry(seq=seq, reason="round is neither a string nor null")
    if not isinstance(entry.get("body"), dict):
        raise MalformedEntry(seq=seq, reason="body is not an object")
    return entry


def _event(entry: dict[str, Any]) -> ev.Event:
    """Return the event of an entry, checked against its kind's schema like ``events.parse``.

    Same checks as ``Event.from_payload`` (version, exact keys, value types), with the type
    hints of each kind resolved once rather than per entry: a 2017-sized round has 70,000.
    """
    cls = ev.EVENT_TYPES.get(entry["kind"])
    body = entry["body"]
    try:
        if cls is None:
            raise ev.MalformedBody(f"unknown kind {entry['kind']!r}")
        if body.get("v") != cls.schema:
            raise ev.MalformedBody(f"{cls.kind}: unsupported version {body.get('v')!r}")
        fields = _fields(cls.kind)
        if set(body) != {"v", *(name for name, _hint in fields)}:
            raise ev.MalformedBody(f"{cls.kind}: keys {sorted(body)} do not match the schema")
        values = {
            name: ev._from_json(hint, body[name], f"{cls.kind}.{name}") for name, hint in fields
        }
    except ev.MalformedBody as err:
        raise MalformedEntry(seq=entry["seq"], reason=str(err)) from err
    return cls(**values)


@functools.cache
def _fields(kind: str) -> tuple[tuple[str, Any], ...]:
    cls = ev.EVENT_TYPES[kind]
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def _rules(entry: dict[str, Any]) -> RoundRules:
    # The body is read directly ({"v": 1, "rules": {...}}): the rules are plain JSON values.
    body = entry["body"]
    rules = body.get("rules")
    if body.get("v") != ev.RoundOpened.schema or set(body) != {"v", "rules"}:
        raise MalformedEntry(seq=entry["seq"], reason="round.opened body is not of version 1")
    if not isinstance(rules, Mapping):
        raise MalformedEntry(seq=entry["seq"], reason="round.opened rules are not an object")
    if rules.get("tally_version") != TALLY_VERSION:
        raise UnsupportedTallyVersion(
            round=entry["round"], version=str(rules.get("tally_version")), supported=TALLY_VERSION
        )
    try:
        return RoundRules.from_payload(rules)
    except ev.MalformedBody as err:
        raise MalformedEntry(seq=entry["seq"], reason=str(err)) from err


def opened_rounds(entries: Iterable[dict[str, Any]]) -> list[str]:
    """Return the ids of the rounds that have a ``round.opened`` entry, in ledger order."""
    return [e["round"] for e in sorted(entries, key=_seq) if e["kind"] == ev.RoundOpened.kind]


def _seq(entry: Mapping[str, Any]) -> int:
    seq: int = entry["seq"]
    return seq


# --- accumulating the round's events -----------------------------------------------------------


@dataclass(slots=True)
class _Proposal:
    id: str
    seq: int
    category: str
    region: str
    budget: int
    community: str | None
    withdrawn: bool = False
    hidden: bool = False
    endorsers: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Round:
    """Everything version 1 reads from the round's entries, folded in ledger order."""

    rules: RoundRules
    proposals: dict[str, _Proposal] = field(default_factory=dict)
    shortlist: tuple[str, ...] | None = None
    groups: tuple[tuple[str, ...], ...] = ()
    judge_scores: dict[tuple[str, str], int] = field(default_factory=dict)  # -> sum of criteria
    recused: set[tuple[str, str]] = field(default_factory=set)
    onsite_scores: dict[tuple[str, str], int] = field(default_factory=dict)
    papers: dict[str, ev.PaperEntered] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    community_of: dict[str, str] = field(default_factory=dict)
    group_choice: dict[str, int] = field(default_factory=dict)
    first_online: dict[str, int] = field(default_factory=dict)
    likes: dict[str, set[str]] = field(default_factory=dict)

    def fold(self, entry: dict[str, Any]) -> None:
        """Apply one entry of the round (entries must come in ledger order)."""
        kind = entry["kind"]
        if kind not in _READ:
            return
        event, actor, seq = _event(entry), entry["actor"], entry["seq"]
        match event:
            case ev.ProposalSubmitted():
                self.proposals[event.proposal] = _Proposal(
                    event.proposal,
                    seq,
                    event.category,
                    event.region,
                    event.budget,
                    event.community,
                )
            case ev.ProposalEdited():
                p = self._proposal(event.proposal, seq)
                p.category, p.region, p.budget = event.category, event.region, event.budget
            case ev.ProposalWithdrawn():
                self._proposal(event.proposal, seq).withdrawn = True
            case ev.ProposalHidden() | ev.ProposalRestored():
                self._proposal(event.proposal, seq).hidden = isinstance(event, ev.ProposalHidden)
            case ev.ProposalEndorsed():
                self._proposal(event.proposal, seq).endorsers.add(actor)
            case ev.EndorsementWithdrawn():
                self._proposal(event.proposal, seq).endorsers.discard(actor)
            case ev.RoundAdvanced() if event.to_phase == "review":
                self.shortlist = event.shortlisted
            case ev.ReviewGrouped():
                self.groups = event.groups
            case _:
                self._fold_vote(event, actor, seq)

    def _fold_vote(self, event: ev.Event, actor: str, seq: int) -> None:
        match event:
            case ev.JudgeScored():
                self.judge_scores[(actor, event.proposal)] = self._judge_sum(event, seq)
            case ev.JudgeRecused():
                self.recused.add((actor, event.proposal))
            case ev.OnsiteScored():
                if not 1 <= event.score <= self.rules.onsite_scale:
                    raise MalformedEntry(seq=seq, reason="on-site score out of range")
                self.onsite_scores[(actor, event.proposal)] = event.score
            case ev.PaperEntered():
                scale = self.rules.onsite_scale
                if not 0 <= event.ballots <= event.points <= event.ballots * scale:
                    raise MalformedEntry(seq=seq, reason="paper points out of range")
                self.papers[event.tally] = event
            case ev.PaperConfirmed():
                self.confirmed.add(event.tally)
            case ev.EnrollmentRedeemed():
                self.community_of.setdefault(actor, event.community)
            case ev.OnlineGroupChosen():
                self.group_choice.setdefault(actor, event.group)
                self.first_online.setdefault(actor, seq)
            case ev.OnlineLiked():
                self.likes.setdefault(actor, set()).add(event.proposal)
                self.first_online.setdefault(actor, seq)
            case ev.OnlineUnliked():
                self.likes.setdefault(actor, set()).discard(event.proposal)

    def _proposal(self, proposal: str, seq: int) -> _Proposal:
        try:
            return self.proposals[proposal]
        except KeyError:
            raise MalformedEntry(seq=seq, reason=f"unknown proposal {proposal}") from None

    def _judge_sum(self, event: ev.JudgeScored, seq: int) -> int:
        if set(event.scores) != set(self.rules.criteria):
            raise MalformedEntry(seq=seq, reason="judge scores do not match the criteria")
        if not all(1 <= s <= JUDGE_SCORE_MAX for s in event.scores.values()):
            raise MalformedEntry(seq=seq, reason="judge score out of range")
        return sum(event.scores.values())


_READ = frozenset(
    cls.kind
    for cls in (
        ev.ProposalSubmitted,
        ev.ProposalEdited,
        ev.ProposalWithdrawn,
        ev.ProposalHidden,
        ev.ProposalRestored,
        ev.ProposalEndorsed,
        ev.EndorsementWithdrawn,
        ev.RoundAdvanced,
        ev.ReviewGrouped,
        ev.JudgeScored,
        ev.JudgeRecused,
        ev.OnsiteScored,
        ev.PaperEntered,
        ev.PaperConfirmed,
        ev.EnrollmentRedeemed,
        ev.OnlineGroupChosen,
        ev.OnlineLiked,
        ev.OnlineUnliked,
    )
)


# --- computing ---------------------------------------------------------------------------------


def tally(
    entries: Iterable[bytes | str | Entry], round_id: str | None = None, *, upto: int | None = None
) -> Results:
    """Return the results of ``round_id`` computed from ledger ``entries`` (version 1 above).

    ``entries`` may come in any order and hold other rounds' entries; with ``upto``, entries
    with ``seq >= upto`` are ignored (the published results name their ``upto``). Without
    ``round_id``, the ledger must hold exactly one opened round.

    Raises:
        RoundUnknown: no such opened round; when ``round_id`` is None, its subclasses
            NoRoundOpened (none) or RoundNotChosen (several).
        UnsupportedTallyVersion: the round's rules ask for another tally version.
        MalformedEntry: an entry that is not of the ledger shape or breaks its schema.
    """
    parsed = sorted((read_entry(item) for item in entries), key=_seq)
    end = upto if upto is not None else (parsed[-1]["seq"] + 1 if parsed else 0)
    parsed = [e for e in parsed if e["seq"] < end]
    rounds = opened_rounds(parsed)
    if round_id is None:
        if not rounds:
            raise NoRoundOpened()
        if len(rounds) > 1:
            published = [e["round"] for e in parsed if e["kind"] == ev.ResultsPublished.kind]
            example = (published or rounds)[-1]  # the newest with results, as readers want
            raise RoundNotChosen(opened=", ".join(rounds), example=example)
        round_id = rounds[0]
    mine = [e for e in parsed if e["round"] == round_id]
    opened = [e for e in mine if e["kind"] == ev.RoundOpened.kind]
    if not opened:
        raise RoundUnknown(round=round_id, opened=", ".join(rounds) or "-")
    state = _Round(rules=_rules(opened[0]))
    for entry in mine:
        state.fold(entry)
    ranked, excluded = _ranked(state)
    counted, over_quota = _counted_voters(state)
    index = _index(state, counted)
    rows = [_unranked_row(state.rules, p, index) for p in ranked]
    rows.sort(key=_rank_key)
    decided = _select(state.rules, rows)
    return Results(
        round=round_id,
        upto=end,
        rules=state.rules,
        rows=tuple(
            _finish(row, rank, decided.get(row.proposal)) for rank, row in enumerate(rows, start=1)
        ),
        excluded=excluded,
        online_voters_counted=len(counted),
        online_voters_over_quota=over_quota,
    )


def _ranked(state: _Round) -> tuple[list[_Proposal], dict[str, str]]:
    threshold = state.rules.endorsement_threshold
    if state.shortlist is not None:
        listed = set(state.shortlist)
    else:
        listed = {p.id for p in state.proposals.values() if len(p.endorsers) >= threshold}
    ranked: list[_Proposal] = []
    excluded: dict[str, str] = {}
    for p in state.proposals.values():
        if p.withdrawn:
            excluded[p.id] = "withdrawn"
        elif p.hidden:
            excluded[p.id] = "hidden"
        elif p.id not in listed:
            excluded[p.id] = "not_shortlisted"
        else:
            ranked.append(p)
    return ranked, excluded


def _counted_voters(state: _Round) -> tuple[set[str], int]:
    """Return the online voters who count (per-community quota, ledger order) and the rest."""
    per_community: dict[str, int] = {}
    counted: set[str] = set()
    over = 0
    for actor, _seq in sorted(state.first_online.items(), key=lambda item: item[1]):
        community = state.community_of.get(actor)
        if community is None:
            counted.add(actor)
        elif per_community.get(community, 0) < state.rules.voters_per_community:
            per_community[community] = per_community.get(community, 0) + 1
            counted.add(actor)
        else:
            over += 1
    return counted, over


@dataclass(slots=True)
class _Index:
    """The round's votes grouped by proposal, built once for all rows."""

    judge_sums: dict[str, list[int]] = field(default_factory=dict)  # of non-recused judges
    recused: dict[str, int] = field(default_factory=dict)
    onsite: dict[str, list[int]] = field(default_factory=dict)
    papers: dict[str, list[ev.PaperEntered]] = field(default_factory=dict)
    group_of: dict[str, int] = field(default_factory=dict)
    by_group: bool = False
    voters: dict[int | None, int] = field(default_factory=dict)  # group (None: all) -> V
    likes: dict[str, int] = field(default_factory=dict)  # proposal -> L


def _index(state: _Round, counted: set[str]) -> _Index:
    ix = _Index()
    recused: dict[str, set[str]] = {}
    for judge, p in state.recused:
        recused.setdefault(p, set()).add(judge)
    ix.recused = {p: len(judges) for p, judges in recused.items()}
    for (judge, p), total in state.judge_scores.items():
        if judge not in recused.get(p, ()):
            ix.judge_sums.setdefault(p, []).append(total)
    for (_rater, p), score in state.onsite_scores.items():
        ix.onsite.setdefault(p, []).append(score)
    for paper in _paper(state):
        ix.papers.setdefault(paper.proposal, []).append(paper)
    ix.group_of = {p: n for n, members in enumerate(state.groups, start=1) for p in members}
    ix.by_group = state.rules.online_one_group and bool(state.groups)
    for voter in counted:
        group = state.group_choice.get(voter) if ix.by_group else None
        if ix.by_group and group is None:
            continue  # liked nothing it could: a voter likes within the group they chose
        ix.voters[group] = ix.voters.get(group, 0) + 1
        for p in state.likes.get(voter, ()):
            if not ix.by_group or ix.group_of.get(p) == group:
                ix.likes[p] = ix.likes.get(p, 0) + 1
    return ix


def _paper(state: _Round) -> list[ev.PaperEntered]:
    """Return the confirmed paper tallies not replaced by a confirmed correction."""
    confirmed = [state.papers[t] for t in sorted(state.confirmed) if t in state.papers]
    replaced = {p.corrects for p in confirmed if p.corrects is not None}
    return [p for p in confirmed if p.tally not in replaced]


def _unranked_row(rules: RoundRules, p: _Proposal, ix: _Index) -> Row:
    sums = ix.judge_sums.get(p.id, [])
    # J = mean over counted judges of (sum of criteria / (5 x criteria)) x 100
    best = JUDGE_SCORE_MAX * len(rules.criteria)
    judges = Fraction(sum(sums) * 100, best * len(sums)) if sums else ZERO
    scores = ix.onsite.get(p.id, [])
    papers = ix.papers.get(p.id, [])
    ballots = sum(paper.ballots for paper in papers)
    votes = len(scores) + ballots
    points = sum(scores) + sum(paper.points for paper in papers)
    # O = (scores + paper points) / (scale x (scores + paper ballots)) x 100
    onsite = Fraction(points * 100, rules.onsite_scale * votes) if votes else ZERO
    group = ix.group_of.get(p.id)
    voters = ix.voters.get(group, 0) if group is not None or not ix.by_group else 0
    likes = ix.likes.get(p.id, 0) if voters else 0
    online = Fraction(likes * 100, voters) if voters else ZERO  # N = L / V x 100
    w = rules.weights
    total = w.judges + w.onsite + w.online
    combined = (w.judges * judges + w.onsite * onsite + w.online * online) / total
    return Row(
        rank=0,
        proposal=p.id,
        category=p.category,
        region=p.region,
        community=p.community,
        group=group,
        budget=p.budget,
        endorsements=len(p.endorsers),
        submitted_seq=p.seq,
        judges=judges,
        judges_counted=len(sums),
        judges_recused=ix.recused.get(p.id, 0),
        onsite=onsite,
        onsite_scores=len(scores),
        paper_ballots=ballots,
        online=online,
        online_likes=likes,
        online_voters=voters,
        combined=combined,
        selected=False,
        decision="",
        channel=None,
    )


def _rank_key(row: Row) -> tuple[Fraction, Fraction, int, int, str]:
    """Higher C, then higher J, more endorsements, earlier submission, proposal id."""
    return (-row.combined, -row.judges, -row.endorsements, row.submitted_seq, row.proposal)


def _select(rules: RoundRules, rows: list[Row]) -> dict[str, tuple[str, str | None]]:
    """Return ``{proposal: (decision, channel)}`` for every row (rows are in rank order)."""
    decided: dict[str, tuple[str, str | None]] = {}
    left = rules.budget_cap
    fill = True
    if rules.selection == "channel_quotas":
        left = _select_by_channels(rules, rows, decided, left)
        fill = rules.select_count is not None
    for row in rows:
        if decided.get(row.proposal, ("",))[0] == "selected":
            continue
        if not fill:
            decided.setdefault(row.proposal, ("quota_full", None))
        elif rules.select_count is not None and _count(decided) >= rules.select_count:
            decided[row.proposal] = ("count_full", None)
        elif row.budget > left:
            decided[row.proposal] = ("over_budget", None)
        else:
            decided[row.proposal] = ("selected", "combined")
            left -= row.budget
    return decided


def _count(decided: Mapping[str, tuple[str, str | None]]) -> int:
    return sum(1 for what, _channel in decided.values() if what == "selected")


def _select_by_channels(
    rules: RoundRules, rows: list[Row], decided: dict[str, tuple[str, str | None]], left: int
) -> int:
    """Fill each channel's quota in turn; return the budget left.

    A proposal not selected is ``over_budget`` if it was skipped for its budget in any pass,
    ``no_votes`` if its component is 0 in every channel with a quota, else ``quota_full``.
    """
    quotas = {c: rules.channel_quotas.get(c, 0) for c in CHANNELS}
    skipped: set[str] = set()
    for channel in (c for c in CHANNELS if quotas[c] > 0):
        picked = 0
        for row in sorted(rows, key=_channel_key(channel)):
            full = rules.select_count is not None and _count(decided) >= rules.select_count
            if picked == quotas[channel] or full:
                break
            if row.component(channel) == 0 or row.proposal in decided:
                continue
            if row.budget > left:
                skipped.add(row.proposal)
                continue
            decided[row.proposal] = ("selected", channel)
            left -= row.budget
            picked += 1
    for row in rows:
        if row.proposal in decided:
            continue
        if row.proposal in skipped:
            decided[row.proposal] = ("over_budget", None)
        elif not any(quotas[c] > 0 and row.component(c) > 0 for c in CHANNELS):
            decided[row.proposal] = ("no_votes", None)
    return left


def _channel_key(channel: str) -> Callable[[Row], tuple[Fraction, tuple[Any, ...]]]:
    """Order by the channel's component, then by the rank rule."""

    def key(row: Row) -> tuple[Fraction, tuple[Any, ...]]:
        return (-row.component(channel), _rank_key(row))

    return key


def _finish(row: Row, rank: int, decision: tuple[str, str | None] | None) -> Row:
    what, channel = decision or ("quota_full", None)
    return replace(row, rank=rank, selected=what == "selected", decision=what, channel=channel)
