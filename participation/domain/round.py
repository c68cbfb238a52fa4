"""A round's configuration (round rules), with the options of the 2017 Ttabok community review.

The rules are data: validated once, written to the ledger in full by ``round.opened`` and
never changed afterwards, so the formula is public before anyone votes. The tally reads
them back with :meth:`RoundRules.from_payload`.

The 2017 review as configuration (see :func:`ttabok_2017`): 815 communities, one proposal
each (``proposals_per_community = 1``); review groups of 11-12 (``review_group_size = 12``);
2 expert judges per group; each community's representative scores the other proposals of its
group on site (``peer_scoring``); online, a fixed number of voters per community each chooses
one group and likes up to 6 of its proposals (``online_likes_cap = 6``), never their
own; selection quotas per channel (250 on site, 200 online) instead of a weighted sum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from participation.domain.errors import InvalidRules
from participation.domain.events import JSON
from participation.domain.events import MalformedBody
from participation.domain.regions import GYEONGGI

TITLE_MAX = 60
BODY_MAX = 1500
CHANNELS: tuple[str, ...] = ("judges", "onsite", "online")
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "community",  # community revitalization
    "environment",  # environment and safety
    "culture",  # culture and arts
    "welfare",  # welfare and care
    "education",  # education and youth
    "economy",  # village economy
)
DEFAULT_CRITERIA: tuple[str, ...] = ("necessity", "feasibility", "publicness", "impact")
REASON_CODES: tuple[str, ...] = ("spam", "abuse", "personal_info", "off_topic", "duplicate")
SELECTION_MODES: tuple[str, ...] = ("weighted", "channel_quotas")
ELIGIBILITY: tuple[str, ...] = ("open", "enrollment")
TALLY_VERSIONS: tuple[int, ...] = (1,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Weights:
    """Percent weights of the three components (judges / on-site / online); sum 100."""

    judges: int = 50
    onsite: int = 30
    online: int = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Deadlines:
    """UTC epoch seconds at which each phase ends (shown to people in KST)."""

    submission_ends: int
    endorsement_ends: int
    review_ends: int

    def of(self, phase: str) -> int | None:
        """Return the deadline of ``phase`` (None for phases without one)."""
        return {
            "submission": self.submission_ends,
            "endorsement": self.endorsement_ends,
            "review": self.review_ends,
        }.get(phase)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundRules:
    """Everything that decides who may do what in a round and how the result is computed."""

    title: str
    deadlines: Deadlines
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    regions: tuple[str, ...] = GYEONGGI.codes
    budget_cap: int = 100_000_000  # total won for selected proposals
    max_request: int = 10_000_000  # per proposal, won
    select_count: int | None = None  # at most this many selected (None: budget decides)
    criteria: tuple[str, ...] = DEFAULT_CRITERIA  # judges score each 1..5
    weights: Weights = field(default_factory=Weights)
    selection: str = "weighted"  # "weighted" | "channel_quotas"
    channel_quotas: dict[str, int] = field(default_factory=dict)  # e.g. onsite 250, online 200
    endorsement_threshold: int = 0  # endorsements a proposal needs to go to review
    eligibility: str = "open"  # "open" | "enrollment"
    voters_per_community: int = 10  # enrollment codes of role "voter" per community
    proposals_per_community: int | None = None  # 1 in 2017; None: no limit
    review_group_size: int | None = None  # max proposals per review group (jo); None: one group
    judges_per_group: int = 2
    peer_scoring: bool = False  # on-site scores only by representatives, of their group
    onsite_scale: int = 5  # on-site scores 1..onsite_scale
    online_likes_cap: int = 6  # likes per online voter
    online_one_group: bool = True  # an online voter chooses one group and likes within it
    own_exclusion: bool = True  # never score or like one's own (or own community's) proposal
    tally_version: int = 1

    def to_payload(self) -> dict[str, JSON]:
        """Return the rules as a ledger body value (no floats, ASCII keys)."""
        return {
            "title": self.title,
            "deadlines": {
                "submission_ends": self.deadlines.submission_ends,
                "endorsement_ends": self.deadlines.endorsement_ends,
                "review_ends": self.deadlines.review_ends,
            },
            "categories": list(self.categories),
            "regions": list(self.regions),
            "budget_cap": self.budget_cap,
            "max_request": self.max_request,
            "select_count": self.select_count,
            "criteria": list(self.criteria),
            "weights": {
                "judges": self.weights.judges,
                "onsite": self.weights.onsite,
                "online": self.weights.online,
            },
            "selection": self.selection,
            "channel_quotas": dict(self.channel_quotas),
            "endorsement_threshold": self.endorsement_threshold,
            "eligibility": self.eligibility,
            "voters_per_community": self.voters_per_community,
            "proposals_per_community": self.proposals_per_community,
            "review_group_size": self.review_group_size,
            "judges_per_group": self.judges_per_group,
            "peer_scoring": self.peer_scoring,
            "onsite_scale": self.onsite_scale,
            "online_likes_cap": self.online_likes_cap,
            "online_one_group": self.online_one_group,
            "own_exclusion": self.own_exclusion,
            "tally_version": self.tally_version,
        }

    @classmethod
    def from_payload(cls, body: Mapping[str, JSON]) -> RoundRules:
        """Rebuild rules written by :meth:`to_payload` (strict: every key, right types).

        Raises:
            MalformedBody: a missing key or a value of the wrong type.
        """
        try:
            rules = _build(dict(body), strict=True)
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedBody(f"round rules: {err}") from err
        return rules

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoundRules:
        """Build and validate rules from a TOML table (``tomllib.load``) or a similar mapping.

        Deadlines may be TOML offset datetimes, ISO strings (``2017-02-10T18:00:00+09:00``)
        or epoch seconds; omitted options take the defaults above.

        Raises:
            InvalidRules: every problem at once, in ``params["problems"]``.
        """
        try:
            rules = _build(dict(data), strict=False)
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidRules(problems=str(err)) from err
        rules.validate()
        return rules

    def validate(self) -> None:
        """Check the rules are consistent.

        Raises:
            InvalidRules: with every problem found, ``; ``-joined.
        """
        problems = _problems(self)
        if problems:
            raise InvalidRules(problems="; ".join(problems))

    def with_changes(self, **changes: Any) -> RoundRules:
        """Return a validated copy with ``changes`` applied."""
        rules = replace(self, **changes)
        rules.validate()
        return rules


def _problems(r: RoundRules) -> list[str]:
    p: list[str] = []
    if not r.title.strip() or len(r.title) > 100:
        p.append("title must be 1-100 characters")
    d = r.deadlines
    if not d.submission_ends <= d.endorsement_ends <= d.review_ends:
        p.append("deadlines must be in phase order")
    for name, codes in (("categories", r.categories), ("regions", r.regions)):
        if not codes or len(set(codes)) != len(codes):
            p.append(f"{name} must be non-empty and distinct")
        if any(not (c.isascii() and c.replace("_", "").isalnum()) for c in codes):
            p.append(f"{name} must be ASCII snake_case codes")
    if not r.criteria or len(set(r.criteria)) != len(r.criteria):
        p.append("criteria must be non-empty and distinct")
    if r.budget_cap <= 0 or r.max_request <= 0 or r.max_request > r.budget_cap:
        p.append("0 < max_request <= budget_cap is required")
    if r.select_count is not None and r.select_count <= 0:
        p.append("select_count must be positive")
    w = r.weights
    if min(w.judges, w.onsite, w.online) < 0 or w.judges + w.onsite + w.online != 100:
        p.append("weights must be non-negative and sum to 100")
    if r.selection not in SELECTION_MODES:
        p.append(f"selection must be one of {', '.join(SELECTION_MODES)}")
    if set(r.channel_quotas) - set(CHANNELS) or any(v < 0 for v in r.channel_quotas.values()):
        p.append("channel_quotas: channels judges/onsite/online with counts >= 0")
    if r.selection == "channel_quotas" and not r.channel_quotas:
        p.append("selection channel_quotas needs channel_quotas")
    if r.eligibility not in ELIGIBILITY:
        p.append(f"eligibility must be one of {', '.join(ELIGIBILITY)}")
    if r.tally_version not in TALLY_VERSIONS:
        p.append(f"tally_version must be one of {TALLY_VERSIONS}")
    positives = {
        "voters_per_community": r.voters_per_community,
        "judges_per_group": r.judges_per_group,
        "online_likes_cap": r.online_likes_cap,
        "review_group_size": r.review_group_size or 1,
        "proposals_per_community": r.proposals_per_community or 1,
    }
    p.extend(f"{name} must be positive" for name, v in positives.items() if v <= 0)
    if r.endorsement_threshold < 0:
        p.append("endorsement_threshold must be >= 0")
    if not 2 <= r.onsite_scale <= 10:
        p.append("onsite_scale must be 2..10")
    if r.peer_scoring and r.eligibility != "enrollment":
        p.append("peer_scoring needs eligibility = enrollment (representatives)")
    return p


def _epoch(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a deadline is a datetime, an ISO string or epoch seconds")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("deadlines need a UTC offset, e.g. +09:00 (KST)")
        return int(value.timestamp())
    raise TypeError("a deadline is a datetime, an ISO string or epoch seconds")


def _typed(data: dict[str, Any], name: str, kind: type, default: Any, strict: bool) -> Any:
    if name not in data:
        if strict:
            raise KeyError(name)
        return default
    value = data.pop(name)
    if value is None and default is None:
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an integer")
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {kind.__name__}")
    return value


def _build(data: dict[str, Any], *, strict: bool) -> RoundRules:
    base = RoundRules(
        title="", deadlines=Deadlines(submission_ends=0, endorsement_ends=0, review_ends=0)
    )
    dl = data.pop("deadlines")
    if not isinstance(dl, Mapping):
        raise TypeError("deadlines must be a table")
    deadlines = Deadlines(
        submission_ends=_epoch(dl["submission_ends"]),
        endorsement_ends=_epoch(dl["endorsement_ends"]),
        review_ends=_epoch(dl["review_ends"]),
    )
    w = _typed(data, "weights", dict, None, strict)
    weights = Weights(**{k: int(w[k]) for k in ("judges", "onsite", "online")}) if w else Weights()
    if w and (set(w) - {"judges", "onsite", "online"}):
        raise ValueError("weights: only judges, onsite, online")
    quotas = _typed(data, "channel_quotas", dict, {}, strict)
    values: dict[str, Any] = {"title": _typed(data, "title", str, "", True)}
    for name in ("categories", "regions", "criteria"):
        seq = _typed(data, name, list, list(getattr(base, name)), strict)
        if not all(isinstance(x, str) for x in seq):
            raise TypeError(f"{name} must be a list of strings")
        values[name] = tuple(seq)
    ints: tuple[str, ...] = ("budget_cap", "max_request", "endorsement_threshold")
    ints += ("voters_per_community",)
    ints += ("judges_per_group", "onsite_scale", "online_likes_cap", "tally_version")
    for name in ints:
        values[name] = _typed(data, name, int, getattr(base, name), strict)
    for name in ("select_count", "proposals_per_community", "review_group_size"):
        values[name] = _typed(data, name, int, None, strict)
    for name in ("selection", "eligibility"):
        values[name] = _typed(data, name, str, getattr(base, name), strict)
    for name in ("peer_scoring", "online_one_group", "own_exclusion"):
        values[name] = _typed(data, name, bool, getattr(base, name), strict)
    if data:
        raise ValueError(f"unknown options: {', '.join(sorted(data))}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in quotas.values()):
        raise TypeError("channel_quotas values must be integers")
    return RoundRules(deadlines=deadlines, weights=weights, channel_quotas=dict(quotas), **values)


def ttabok_2017(*, title: str, deadlines: Deadlines) -> RoundRules:
    """Return the rules of the 2017 Ttabok review (3.1 billion won, 450 selected: 250 + 200)."""
    return RoundRules(
        title=title,
        deadlines=deadlines,
        budget_cap=3_100_000_000,
        max_request=10_000_000,
        select_count=450,
        selection="channel_quotas",
        channel_quotas={"onsite": 250, "online": 200},
        eligibility="enrollment",
        voters_per_community=9,
        proposals_per_community=1,
        review_group_size=12,
        judges_per_group=2,
        peer_scoring=True,
        online_likes_cap=6,
        online_one_group=True,
        own_exclusion=True,
    )
