"""The rules: state + command + now -> one event, or the typed error of the rule it breaks.

Pure functions (no IO, no clock): ``now`` is UTC epoch seconds passed in by the service.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Final

from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain.model import Enrollment
from participation.domain.model import Invite
from participation.domain.model import OnsiteSession
from participation.domain.model import PaperTally
from participation.domain.model import ProposalState
from participation.domain.model import RoundState
from participation.domain.round import BODY_MAX
from participation.domain.round import REASON_CODES
from participation.domain.round import TITLE_MAX
from participation.domain.round import RoundRules

NEXT_PHASE: dict[str, str] = {
    "draft": "submission",
    "submission": "endorsement",
    "endorsement": "review",
    "review": "results",
    "results": "closed",
}
JUDGE_SCORE_MIN, JUDGE_SCORE_MAX = 1, 5
ONSITE_STEP_S = 30  # the on-site code rotates every 30 s ...
ONSITE_VALID_WINDOWS = 2  # ... and a code is accepted in its own window and the next (60 s)
# A code is checked at the moment Telegram says the person sent it, so that a scan that
# waited (in the queue of a busy hall, an outage, a newcomer's registration) still counts;
# never at a moment more than this before the check.
ONSITE_SCAN_LATE_S = 15 * 60
# Every action is judged at the moment it was received (the gateway's inbox stamps it), so
# that one received before a deadline still counts when the queue (a busy hall, an outage)
# holds it past the deadline; never at a moment more than RECEIVED_LATE_S before the decision.
# The clock moves a round past a deadline only once nothing received before it waits, or
# ADVANCE_WAIT_S after it (workers that are all down must not hold a round for ever).
RECEIVED_LATE_S = 15 * 60
ADVANCE_WAIT_S = 10 * 60
OFFICIAL_ROLES: tuple[str, ...] = ("admin", "clerk")
ENROLLMENT_ROLES: tuple[str, ...] = ("voter", "representative")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
KST = dt.timezone(dt.timedelta(hours=9), "KST")


def kst_text(epoch: int) -> str:
    """Return an instant as ``YYYY-MM-DD HH:MM`` in KST (UTC+9), as the recount report
    writes the round's rules (errors carry the instant: ``ParticipationError.moments``)."""
    return dt.datetime.fromtimestamp(epoch, KST).strftime("%Y-%m-%d %H:%M")


# --- phases and deadlines ----------------------------------------------------------------------
def require_phase(
    rnd: RoundState, phases: Sequence[str], *, action: str, now: int, deadline: int | None
) -> None:
    """Check the round is in one of ``phases`` and ``deadline`` (if any) has not passed.

    Raises:
        RoundFinished: the round is closed.
        PhaseClosed: the round is in another phase.
        DeadlinePassed: the phase is right but its deadline is over.
    """
    if rnd.phase == "closed" and "closed" not in phases:
        raise e.RoundFinished(round=rnd.round_id)
    if rnd.phase not in phases:
        raise e.PhaseClosed(phase=rnd.phase, action=action)
    if deadline is not None and now >= deadline:
        raise e.DeadlinePassed(action=action, deadline=deadline)


def decide_configure(rnd: RoundState, rules: RoundRules) -> ev.RoundConfigured:
    """Replace the draft configuration.  Raises RulesFrozen once the round has opened."""
    if rnd.phase != "draft":
        raise e.RulesFrozen(round=rnd.round_id)
    rules.validate()
    return ev.RoundConfigured(rules=rules.to_payload())


def decide_open(rnd: RoundState, *, now: int) -> ev.RoundOpened:
    """Open the round for submissions and freeze its rules.

    Raises:
        RulesFrozen: the round is already open.
        InvalidRules: the rules are inconsistent.
        OpenedTooLate: the submission deadline has passed.
    """
    if rnd.phase != "draft":
        raise e.RulesFrozen(round=rnd.round_id)
    rnd.rules.validate()
    if now >= rnd.rules.deadlines.submission_ends:
        raise e.OpenedTooLate(deadline=rnd.rules.deadlines.submission_ends)
    return ev.RoundOpened(rules=rnd.rules.to_payload())


def shortlist(proposals: Sequence[ProposalState], threshold: int) -> tuple[str, ...]:
    """Return the ids of live proposals with at least ``threshold`` endorsements, by number."""
    ids = [
        p.proposal_id
        for p in proposals
        if not p.withdrawn and not p.hidden and p.endorsements >= threshold
    ]
    return tuple(sorted(ids, key=proposal_number))


def decide_advance(
    rnd: RoundState, proposals: Sequence[ProposalState], *, now: int
) -> ev.RoundAdvanced:
    """Move the round to its next phase; entering review fixes the shortlist.

    A round leaves the results phase only once its results are published: publishing needs
    that phase, so closing first would leave the round without results for good.

    Raises:
        RulesFrozen: a draft round opens with :func:`decide_open`, not here.
        RoundFinished: the round is closed.
        ResultsNotPublished: closing a round whose results are not published.
    """
    if rnd.phase == "draft":
        raise e.PhaseClosed(phase=rnd.phase, action="advance")
    if rnd.phase == "closed":
        raise e.RoundFinished(round=rnd.round_id)
    if rnd.phase == "results" and not rnd.results_published:
        raise e.ResultsNotPublished(round=rnd.rules.title)
    to = NEXT_PHASE[rnd.phase]
    listed = shortlist(proposals, rnd.rules.endorsement_threshold) if to == "review" else ()
    return ev.RoundAdvanced(from_phase=rnd.phase, to_phase=to, shortlisted=listed)


def due_phase(rnd: RoundState, now: int, waiting_since: int | None = None) -> str | None:
    """Return the phase the round should move to because a deadline passed, or None.

    ``waiting_since``: when the oldest action still waiting to be applied was received (None:
    nothing waits). While one received before the deadline waits, the round stays, so that
    it is applied in the phase it was sent in; for at most ``ADVANCE_WAIT_S``.
    """
    deadline = rnd.rules.deadlines.of(rnd.phase)
    if deadline is None or now < deadline:
        return None
    waits = waiting_since is not None and waiting_since < deadline
    if waits and advance_waits(deadline, now) is not None:
        return None
    return NEXT_PHASE[rnd.phase]


def advance_waits(deadline: int | None, now: int) -> int | None:
    """Return until when a round whose phase ends at ``deadline`` is left to the clock at
    ``now`` (it waits for the actions received before the deadline, at most until then;
    see :func:`due_phase`), or None when it is not: before the deadline, or after the wait."""
    if deadline is None or not deadline <= now < deadline + ADVANCE_WAIT_S:
        return None
    return deadline + ADVANCE_WAIT_S


def check_manual_advance(rnd: RoundState, now: int) -> None:
    """Check an official may move the round on now: not while its phase's deadline passed
    and the clock waits for what was received before it (an action received before the
    deadline and still in the queue would be refused once the round moved).

    Raises:
        AdvancePending: the deadline passed less than ``ADVANCE_WAIT_S`` ago.
    """
    deadline = rnd.rules.deadlines.of(rnd.phase)
    until = advance_waits(deadline, now)
    if deadline is not None and until is not None:
        raise e.AdvancePending(deadline=deadline, by=until)


def judged_at(now: int, received: int | None) -> int:
    """Return the moment an action is judged at: when it was ``received`` (None: ``now``),
    never after ``now`` and never more than ``RECEIVED_LATE_S`` before it."""
    return _clamped(now, received, RECEIVED_LATE_S)


def _clamped(now: int, moment: int | None, late_s: int) -> int:
    """Return ``moment`` within [``now`` - ``late_s``, ``now``]; ``now`` when it is None."""
    if moment is None:
        return now
    return min(now, max(moment, now - late_s))


# --- residents and proposals -------------------------------------------------------------------
def decide_register(
    *, registered: bool, region: str, consent_version: str, regions: Sequence[str]
) -> ev.ResidentRegistered:
    """Register a resident who consented to the privacy notice ``consent_version``."""
    if registered:
        raise e.AlreadyRegistered()
    if not consent_version:
        raise e.ConsentRequired()
    if region not in regions:
        raise e.UnknownRegion(region=region)
    return ev.ResidentRegistered(region=region, consent_version=consent_version)


def check_proposal_fields(
    rules: RoundRules, *, title: str, body: str, category: str, region: str, budget: int
) -> None:
    """Check a proposal's fields against the round's rules.

    Raises:
        TitleEmpty, TitleTooLong, BodyEmpty, BodyTooLong, UnknownCategory, UnknownRegion,
        BudgetInvalid, BudgetOverCap.
    """
    if not title.strip():
        raise e.TitleEmpty()
    if len(title) > TITLE_MAX:
        raise e.TitleTooLong(max=f"{TITLE_MAX:,}", length=f"{len(title):,}")
    if not body.strip():
        raise e.BodyEmpty()
    if len(body) > BODY_MAX:
        raise e.BodyTooLong(max=f"{BODY_MAX:,}", length=f"{len(body):,}")
    if category not in rules.categories:
        raise e.UnknownCategory(category=category)
    if region not in rules.regions:
        raise e.UnknownRegion(region=region)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise e.BudgetInvalid()
    if budget > rules.max_request:
        raise e.BudgetOverCap(cap=f"{rules.max_request:,}", budget=f"{budget:,}")


def decide_submit(
    rnd: RoundState,
    *,
    proposal_id: str,
    fields: Mapping[str, str | int],
    content_c: str,
    has_photo: bool,
    enrollment: Enrollment | None,
    community_proposals: int,
    now: int,
) -> ev.ProposalSubmitted:
    """Accept a new proposal.  ``fields``: title, body, category, region, budget.

    In rounds with enrollment the proposer speaks for their community, which may hold
    ``proposals_per_community`` live proposals (``community_proposals`` counts them).
    """
    rules = rnd.rules
    require_phase(
        rnd, ("submission",), action="submit", now=now, deadline=rules.deadlines.submission_ends
    )
    title, body = str(fields["title"]), str(fields["body"])
    category, region, budget = str(fields["category"]), str(fields["region"]), fields["budget"]
    assert isinstance(budget, int)
    check_proposal_fields(
        rules, title=title, body=body, category=category, region=region, budget=budget
    )
    community = None
    if rules.eligibility == "enrollment":
        if enrollment is None:
            raise e.NotEligible(round=rnd.round_id)
        community = enrollment.community
        limit = rules.proposals_per_community
        if limit is not None and community_proposals >= limit:
            raise e.ProposalLimitReached(limit=limit)
    return ev.ProposalSubmitted(
        proposal=proposal_id,
        category=category,
        region=region,
        budget=budget,
        content_c=content_c,
        has_photo=has_photo,
        community=community,
    )


def require_author_open(
    rnd: RoundState, p: ProposalState, user_id: int, now: int, act: str
) -> None:
    """Check the author may still change ``p``: the submission phase, before its deadline,
    not withdrawn, not hidden (what both an edit and a withdrawal need).

    Raises:
        RoundFinished, PhaseClosed, DeadlinePassed: as :func:`require_phase`.
        NotAuthor: ``user_id`` did not write it.
        ProposalInactive: it was withdrawn.
        ProposalIsHidden: an official hid it.
    """
    require_phase(
        rnd, ("submission",), action=act, now=now, deadline=rnd.rules.deadlines.submission_ends
    )
    if p.author_id != user_id:
        raise e.NotAuthor()
    if p.withdrawn:
        raise e.ProposalInactive(proposal=p.proposal_id)
    if p.hidden:
        raise e.ProposalIsHidden(proposal=p.proposal_id)


def decide_edit(
    rnd: RoundState,
    p: ProposalState,
    *,
    user_id: int,
    fields: Mapping[str, str | int],
    content_c: str,
    has_photo: bool,
    now: int,
) -> ev.ProposalEdited:
    """Accept the author's edit before the submission deadline (``fields`` as in submit)."""
    require_author_open(rnd, p, user_id, now, "edit")
    budget = fields["budget"]
    assert isinstance(budget, int)
    check_proposal_fields(
        rnd.rules,
        title=str(fields["title"]),
        body=str(fields["body"]),
        category=str(fields["category"]),
        region=str(fields["region"]),
        budget=budget,
    )
    return ev.ProposalEdited(
        proposal=p.proposal_id,
        category=str(fields["category"]),
        region=str(fields["region"]),
        budget=budget,
        content_c=content_c,
        has_photo=has_photo,
    )


def decide_withdraw(
    rnd: RoundState, p: ProposalState, *, user_id: int, now: int
) -> ev.ProposalWithdrawn:
    """Accept the author's withdrawal before the submission deadline."""
    require_author_open(rnd, p, user_id, now, "withdraw")
    return ev.ProposalWithdrawn(proposal=p.proposal_id)


def _require_endorsing(rnd: RoundState, p: ProposalState, now: int, action: str) -> None:
    require_phase(
        rnd,
        ("submission", "endorsement"),
        action=action,
        now=now,
        deadline=rnd.rules.deadlines.endorsement_ends,
    )
    if p.withdrawn:
        raise e.ProposalInactive(proposal=p.proposal_id)
    if p.hidden:
        raise e.ProposalIsHidden(proposal=p.proposal_id)


def decide_endorse(
    rnd: RoundState, p: ProposalState, *, user_id: int, already: bool, now: int
) -> ev.ProposalEndorsed:
    """Accept one endorsement per resident per proposal, never of one's own proposal."""
    _require_endorsing(rnd, p, now, "endorse")
    if p.author_id == user_id:
        raise e.OwnProposal(proposal=p.proposal_id)
    if already:
        raise e.DuplicateEndorsement(proposal=p.proposal_id)
    return ev.ProposalEndorsed(proposal=p.proposal_id)


def decide_unendorse(
    rnd: RoundState, p: ProposalState, *, endorsed: bool, now: int
) -> ev.EndorsementWithdrawn:
    """Accept taking back an endorsement until the endorsement phase ends."""
    require_phase(
        rnd,
        ("submission", "endorsement"),
        action="unendorse",
        now=now,
        deadline=rnd.rules.deadlines.endorsement_ends,
    )
    if not endorsed:
        raise e.NotEndorsed(proposal=p.proposal_id)
    return ev.EndorsementWithdrawn(proposal=p.proposal_id)


def decide_hide(p: ProposalState, *, reason: str) -> ev.ProposalHidden:
    """Hide a proposal for a known reason code."""
    if reason not in REASON_CODES:
        raise e.UnknownReason(reason=reason)
    if p.hidden:
        raise e.ProposalIsHidden(proposal=p.proposal_id)
    return ev.ProposalHidden(proposal=p.proposal_id, reason=reason)


def decide_restore(p: ProposalState) -> ev.ProposalRestored:
    """Lift the hiding of a proposal."""
    if not p.hidden:
        raise e.ProposalNotHidden(proposal=p.proposal_id)
    return ev.ProposalRestored(proposal=p.proposal_id)


# --- review groups and judges ------------------------------------------------------------------
def proposal_number(proposal_id: str) -> int:
    """Return n of a proposal id ``"<round>-<n>"``."""
    return int(proposal_id.rsplit("-", 1)[1])


def split_groups(
    proposals: Sequence[ProposalState], size: int | None
) -> tuple[tuple[str, ...], ...]:
    """Split proposals into the fewest groups of at most ``size``, sizes differing by <= 1.

    Deterministic: ordered by (category, number), so a group gathers similar proposals;
    815 proposals with size 12 give 68 groups of 11-12, as in 2017.
    """
    ordered = sorted(proposals, key=lambda p: (p.category, proposal_number(p.proposal_id)))
    ids = [p.proposal_id for p in ordered]
    if not ids:
        return ()
    k = 1 if size is None else math.ceil(len(ids) / size)
    base, extra = divmod(len(ids), k)
    groups, start = [], 0
    for i in range(k):
        end = start + base + (1 if i < extra else 0)
        groups.append(tuple(ids[start:end]))
        start = end
    return tuple(groups)


def decide_form_groups(rnd: RoundState, shortlisted: Sequence[ProposalState]) -> ev.ReviewGrouped:
    """Split the shortlisted proposals into review groups (once, in the review phase)."""
    require_phase(rnd, ("review",), action="form_groups", now=0, deadline=None)
    if rnd.groups:
        raise e.GroupsAlreadyFormed(round=rnd.round_id)
    return ev.ReviewGrouped(groups=split_groups(shortlisted, rnd.rules.review_group_size))


def check_group(rnd: RoundState, group: int | None) -> None:
    """Raise NoSuchGroup unless ``group`` is None (every group) or one the round formed."""
    if group is not None and not 1 <= group <= len(rnd.groups):
        raise e.NoSuchGroup(group=group, count=len(rnd.groups))


class AnyGroup(enum.Enum):
    """The type of :data:`ANY_GROUP`."""

    ANY = "any"


ANY_GROUP: Final = AnyGroup.ANY  # a judge's move that names no group they are expected in


def decide_assign_judge(
    rnd: RoundState,
    *,
    judge: str,
    current: int | None,
    group: int | None,
    expected: int | None | AnyGroup = ANY_GROUP,
) -> ev.JudgeAssigned:
    """Move a judge (pseudonym) from review group ``expected`` (the one the official saw;
    ANY_GROUP: whichever) to ``group`` (None: every group).

    The judge's scores and recusals stay as they are and count (the tally does not look at
    groups for judges); from then on the judge sees, and can score or change, only the
    proposals of the new group.  Raises AssignmentClosed once the review is over,
    JudgeMoved (JudgeMovedToAll) when the judge is no longer in ``expected``, NoSuchGroup,
    JudgeInGroup when the judge is in that group already.
    """
    if rnd.phase in ("results", "closed"):
        raise e.AssignmentClosed(phase=rnd.phase)
    if expected is not ANY_GROUP and expected != current:
        raise e.JudgeMovedToAll() if current is None else e.JudgeMoved(group=current)
    check_group(rnd, group)
    if group == current:
        raise e.JudgeInGroup()
    return ev.JudgeAssigned(judge=judge, group=group)


def check_invite(invite: Invite | None, *, now: int) -> Invite:
    """Return the invite if it can be used now.

    Raises:
        CodeUnknown, CodeUsed, InviteExpired.
    """
    if invite is None:
        raise e.CodeUnknown()
    if invite.used:
        raise e.CodeUsed()
    if now >= invite.expires_at:
        raise e.InviteExpired(expired_at=invite.expires_at)
    return invite


def review_ended_at(rnd: RoundState) -> int | None:
    """Return when the review of a round in its results phase ended (UTC epoch seconds), or
    None in any other phase (a closed round no longer holds the moment it left the review).

    It ended at its deadline, or at the moment an official moved the round on before it
    (``phase_changed_at``); a move after the deadline, by the clock or by hand, refused
    nothing received after the deadline anyway. A state read without that moment (a
    press's early decision) gives the deadline.
    """
    return _review_end(rnd) if rnd.phase == "results" else None


def _review_end(rnd: RoundState) -> int:
    ends = rnd.rules.deadlines.review_ends
    return ends if rnd.phase_changed_at is None else min(ends, rnd.phase_changed_at)


def _require_reviewable(rnd: RoundState, p: ProposalState, now: int, action: str) -> None:
    if rnd.phase == "results":
        raise e.ReviewOver(phase=rnd.phase, action=action, ended=_review_end(rnd))
    require_phase(
        rnd, ("review",), action=action, now=now, deadline=rnd.rules.deadlines.review_ends
    )
    if not p.shortlisted or p.withdrawn:
        raise e.NotInReview(proposal=p.proposal_id)
    if p.hidden:
        raise e.ProposalIsHidden(proposal=p.proposal_id)


def check_judge_assignment(rnd: RoundState, p: ProposalState, judge_group: int | None) -> None:
    """Raise NotAssigned unless the judge's group (None: all) holds the proposal."""
    if judge_group is not None and rnd.groups and rnd.group_of(p.proposal_id) != judge_group:
        raise e.NotAssigned(proposal=p.proposal_id, group=judge_group)


def is_judges_own(
    rules: RoundRules,
    *,
    author_id: int,
    community: str | None,
    user_id: int,
    enrollment: Enrollment | None,
) -> bool:
    """Whether a proposal (by its author and community) is the judge's own, none of theirs
    to score: they wrote it (in every round: an author never judges their own proposal), or,
    with the round's ``own_exclusion``, they are enrolled in the community it speaks for.

    The community counts as it does on site and online (``_exclude_own``): in a round with
    enrollment codes the applicant is the community, and a member's score of its proposal is
    the same conflict of interest, weighing more from a judge than from one resident.
    """
    if author_id == user_id:
        return True
    if not rules.own_exclusion or enrollment is None or community is None:
        return False
    return enrollment.role in ENROLLMENT_ROLES and enrollment.community == community


def check_judging(
    rnd: RoundState,
    p: ProposalState,
    *,
    judge_group: int | None,
    user_id: int,
    enrollment: Enrollment | None,
    recused: bool,
    now: int,
    action: str = "score",
) -> None:
    """Refuse a judge's score or recusal of ``p`` whatever its values.

    Raises:
        PhaseClosed, DeadlinePassed, ReviewOver, NotInReview, ProposalIsHidden: not
            reviewable now.
        NotAssigned: outside the judge's review group.
        OwnProposal: the judge's own proposal (:func:`is_judges_own`).
        RecusedProposal: the judge recused themselves from it.
    """
    _require_reviewable(rnd, p, now, action)
    check_judge_assignment(rnd, p, judge_group)
    if is_judges_own(
        rnd.rules,
        author_id=p.author_id,
        community=p.community,
        user_id=user_id,
        enrollment=enrollment,
    ):
        raise e.OwnProposal(proposal=p.proposal_id)
    if recused:
        raise e.RecusedProposal(proposal=p.proposal_id)


def decide_judge_score(
    rnd: RoundState,
    p: ProposalState,
    *,
    judge_group: int | None,
    user_id: int,
    enrollment: Enrollment | None,
    recused: bool,
    scores: Mapping[str, int],
    now: int,
) -> ev.JudgeScored:
    """Accept (or replace) a judge's per-criterion scores, each 1..5, until the deadline
    (refused as :func:`check_judging` says, then CriteriaMismatch, ScoreOutOfRange)."""
    check_judging(
        rnd,
        p,
        judge_group=judge_group,
        user_id=user_id,
        enrollment=enrollment,
        recused=recused,
        now=now,
    )
    if set(scores) != set(rnd.rules.criteria):
        raise e.CriteriaMismatch(expected=", ".join(rnd.rules.criteria))
    for criterion, value in scores.items():
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or not JUDGE_SCORE_MIN <= value <= JUDGE_SCORE_MAX:
            raise e.ScoreOutOfRange(criterion=criterion, min=JUDGE_SCORE_MIN, max=JUDGE_SCORE_MAX)
    ordered = {c: scores[c] for c in rnd.rules.criteria}
    return ev.JudgeScored(proposal=p.proposal_id, scores=ordered)


def decide_recuse(
    rnd: RoundState,
    p: ProposalState,
    *,
    judge_group: int | None,
    user_id: int,
    enrollment: Enrollment | None,
    recused: bool,
    now: int,
) -> ev.JudgeRecused:
    """Record a judge's conflict of interest; their scores of the proposal stop counting
    (refused as :func:`check_judging` says: the judge's own proposal is none of theirs)."""
    check_judging(
        rnd,
        p,
        judge_group=judge_group,
        user_id=user_id,
        enrollment=enrollment,
        recused=recused,
        now=now,
        action="recuse",
    )
    return ev.JudgeRecused(proposal=p.proposal_id)


# --- on site -----------------------------------------------------------------------------------
def onsite_mac(secret: bytes, session_id: str, window: int) -> str:
    """Return the 10-char code of ``window``: base32(HMAC-SHA256(secret, session||window))."""
    msg = f"{session_id}:{window}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).hexdigest()
    return digest[:10]


def onsite_code(secret: bytes, session_id: str, now: int) -> str:
    """Return the code to show now: ``s_<session>_<mac>`` (a Telegram deep-link payload)."""
    return f"s_{session_id}_{onsite_mac(secret, session_id, now // ONSITE_STEP_S)}"


def parse_onsite_code(code: str) -> tuple[str, str]:
    """Return (session id, mac) of an on-site code.  Raises CodeUnknown if malformed."""
    parts = code.split("_")
    if len(parts) != 3 or parts[0] != "s" or not parts[1] or len(parts[2]) != 10:
        raise e.CodeUnknown()
    return parts[1], parts[2]


def scan_time(now: int, scanned_at: int | None) -> int:
    """Return the moment an on-site code is checked at: ``scanned_at`` (the time Telegram
    stamped on the person's message), never after ``now`` (a clock ahead of ours) and never
    more than ``ONSITE_SCAN_LATE_S`` before it; ``now`` when the scan time is unknown."""
    return _clamped(now, scanned_at, ONSITE_SCAN_LATE_S)


def verify_onsite_code(secret: bytes, session_id: str, mac: str, now: int) -> None:
    """Accept a code of the current or the previous 30 s window (valid for 60 s).

    Raises:
        OnsiteCodeExpired: the code was right for an older window of this session.
        CodeUnknown: the code never belonged to this session.
    """
    window = now // ONSITE_STEP_S
    for w in range(window, window - ONSITE_VALID_WINDOWS, -1):
        if hmac.compare_digest(onsite_mac(secret, session_id, w), mac):
            return
    for w in range(window - ONSITE_VALID_WINDOWS, window - 2 * 60 * 24, -1):  # up to 24 h back
        if hmac.compare_digest(onsite_mac(secret, session_id, w), mac):
            raise e.OnsiteCodeExpired()
    raise e.CodeUnknown()


def decide_check_in(
    rnd: RoundState, session: OnsiteSession, *, current: str | None, now: int
) -> ev.OnsiteCheckedIn | None:
    """Mark the actor present in an open session of a round under review.

    ``current``: the person's current session in the round (the newest open one they
    checked in to), or None. Returns None when it is ``session`` itself: a scan again of the
    code they checked in with (people scan twice when nothing seems to happen) records
    nothing. Checking in to another session, or back to an earlier one, moves them there.
    After the review (a code photographed before it ended) it is ReviewOver, as a score.
    """
    if rnd.phase == "results":
        raise e.ReviewOver(phase=rnd.phase, action="check_in", ended=_review_end(rnd))
    require_phase(
        rnd, ("review",), action="check_in", now=now, deadline=rnd.rules.deadlines.review_ends
    )
    if not session.open_at(now):
        raise e.Closed(session=session.session_id)
    if current == session.session_id:
        return None
    return ev.OnsiteCheckedIn(session=session.session_id)


def decide_onsite_score(
    rnd: RoundState,
    p: ProposalState,
    *,
    session: OnsiteSession | None,
    user_id: int,
    enrollment: Enrollment | None,
    voter_group: int | None,
    score: int,
    now: int,
) -> ev.OnsiteScored:
    """Accept an on-site score from a person present in an open session.

    With ``peer_scoring`` only community representatives score, only the proposals of their
    own review group (``voter_group``), never their own community's.
    """
    _require_reviewable(rnd, p, now, "onsite_score")
    rules = rnd.rules
    if session is None or not session.open_at(now):
        raise e.NotPresent()
    group = rnd.group_of(p.proposal_id)
    if session.group is not None and group != session.group:
        raise e.WrongGroup(group=session.group)
    if rules.eligibility == "enrollment" and enrollment is None:
        raise e.NotEligible(round=rnd.round_id)
    if rules.peer_scoring:
        if enrollment is None or enrollment.role != "representative":
            raise e.NotRepresentative()
        if rnd.groups and voter_group != group:
            raise e.WrongGroup(group=voter_group or 0)
    _exclude_own(rules, p, user_id=user_id, enrollment=enrollment)
    if (
        isinstance(score, bool)
        or not isinstance(score, int)
        or not 1 <= score <= rules.onsite_scale
    ):
        raise e.ScoreOutOfRange(criterion="onsite", min=1, max=rules.onsite_scale)
    return ev.OnsiteScored(session=session.session_id, proposal=p.proposal_id, score=score)


def check_one_channel(channel: str, counted_in: str | None) -> None:
    """Refuse a vote in ``channel`` ("onsite" | "online") from a person counted in another.

    A person counts in the channel of their first on-site score, or of their first online
    action (choosing a group, a like); a paper ballot is anonymous and is not tracked here.

    Raises:
        CountedOnsite, CountedOnline: ``counted_in`` is set and differs from ``channel``.
    """
    if counted_in is None or counted_in == channel:
        return
    raise e.CountedOnsite() if counted_in == "onsite" else e.CountedOnline()


def _exclude_own(
    rules: RoundRules, p: ProposalState, *, user_id: int, enrollment: Enrollment | None
) -> None:
    if not rules.own_exclusion:
        return
    own_community = enrollment is not None and p.community == enrollment.community
    if p.author_id == user_id or own_community:
        raise e.OwnProposal(proposal=p.proposal_id)


# Paper ballots of one proposal in one hall session: far above any hall, and far below the
# 32-bit columns that hold them (a larger count failed in the database, not as a rule).
MAX_PAPER_BALLOTS = 100_000


def decide_paper_enter(
    rnd: RoundState,
    session: OnsiteSession,
    p: ProposalState,
    *,
    tally_id: str,
    ballots: int,
    points: int,
    sheet_sha256: str,
    corrects: PaperTally | None,
) -> ev.PaperEntered:
    """Accept a paper tally (``ballots`` papers scoring ``points`` in total) from the hall.

    Raises:
        PhaseClosed: outside review/results, or after the results were published.
        InvalidTally: counts out of range, a malformed sheet hash, or a correction naming a
            tally of another proposal.
        WrongGroup: the session is a review group's and the proposal is of another group.
        PaperAlreadyConfirmed: a correction of a tally already corrected (two officials
            correcting the same tally: the second one's counts are not what is wrong) or
            confirmed (another official confirmed it while this one typed the correction: it
            would have hidden a tally that counts, until the correction was confirmed too).
    """
    require_phase(rnd, ("review", "results"), action="paper", now=0, deadline=None)
    if rnd.results_published:
        raise e.ResultsAlreadyPublished(round=rnd.round_id)
    if not p.shortlisted:
        raise e.NotInReview(proposal=p.proposal_id)
    if session.group is not None and rnd.group_of(p.proposal_id) != session.group:
        raise e.WrongGroup(group=session.group)  # a group's hall counts that group's only
    scale = rnd.rules.onsite_scale
    if not 0 <= ballots <= MAX_PAPER_BALLOTS or not ballots <= points <= ballots * scale:
        raise e.InvalidTally(ballots=ballots, points=points, scale=scale)
    if not _SHA256_HEX.fullmatch(sheet_sha256):
        raise e.InvalidTally(ballots=ballots, points=points, scale=scale)
    if corrects is not None and corrects.proposal_id != p.proposal_id:
        raise e.InvalidTally(ballots=ballots, points=points, scale=scale)
    if corrects is not None and (corrects.superseded or corrects.confirmed):
        raise e.PaperAlreadyConfirmed(tally=corrects.tally_id)
    return ev.PaperEntered(
        tally=tally_id,
        session=session.session_id,
        proposal=p.proposal_id,
        ballots=ballots,
        points=points,
        sheet_sha256=sheet_sha256,
        corrects=None if corrects is None else corrects.tally_id,
    )


def decide_paper_confirm(
    rnd: RoundState, tally: PaperTally, *, official_id: int
) -> ev.PaperConfirmed:
    """Confirm a paper tally by a second official."""
    if rnd.results_published:
        raise e.ResultsAlreadyPublished(round=rnd.round_id)
    if tally.confirmed or tally.superseded:
        raise e.PaperAlreadyConfirmed(tally=tally.tally_id)
    if tally.entered_by == official_id:
        raise e.SameOfficial()
    return ev.PaperConfirmed(tally=tally.tally_id)


# --- online review -----------------------------------------------------------------------------
def require_online_voter(rnd: RoundState, enrollment: Enrollment | None) -> None:
    """Raise NotEligible when the round needs an enrollment code and the person has none."""
    if rnd.rules.eligibility == "enrollment" and (enrollment is None or enrollment.role != "voter"):
        raise e.NotEligible(round=rnd.round_id)


def decide_choose_group(
    rnd: RoundState, *, enrollment: Enrollment | None, chosen: int | None, group: int, now: int
) -> ev.OnlineGroupChosen:
    """Let an online voter choose the one review group they will watch and like."""
    require_phase(
        rnd, ("review",), action="choose_group", now=now, deadline=rnd.rules.deadlines.review_ends
    )
    require_online_voter(rnd, enrollment)
    if chosen is not None:
        raise e.GroupAlreadyChosen(group=chosen)
    if not 1 <= group <= len(rnd.groups):
        raise e.WrongGroup(group=group)
    return ev.OnlineGroupChosen(group=group)


def decide_like(
    rnd: RoundState,
    p: ProposalState,
    *,
    user_id: int,
    enrollment: Enrollment | None,
    chosen: int | None,
    liked: bool,
    likes: int,
    now: int,
) -> ev.OnlineLiked:
    """Accept a like: in the chosen group, not one's own, at most ``online_likes_cap``."""
    _require_reviewable(rnd, p, now, "like")
    rules = rnd.rules
    require_online_voter(rnd, enrollment)
    if rules.online_one_group and rnd.groups:
        if chosen is None:
            raise e.GroupNotChosen()
        if rnd.group_of(p.proposal_id) != chosen:
            raise e.WrongGroup(group=chosen)
    _exclude_own(rules, p, user_id=user_id, enrollment=enrollment)
    if liked:
        raise e.AlreadyLiked(proposal=p.proposal_id)
    if likes >= rules.online_likes_cap:
        raise e.LikeCapReached(cap=rules.online_likes_cap)
    return ev.OnlineLiked(proposal=p.proposal_id)


def decide_unlike(rnd: RoundState, p: ProposalState, *, liked: bool, now: int) -> ev.OnlineUnliked:
    """Accept taking back a like before the review deadline."""
    require_phase(
        rnd, ("review",), action="unlike", now=now, deadline=rnd.rules.deadlines.review_ends
    )
    if not liked:
        raise e.NotLiked(proposal=p.proposal_id)
    return ev.OnlineUnliked(proposal=p.proposal_id)


def decide_publish(rnd: RoundState) -> None:
    """Check results may be published: phase results, not yet published."""
    require_phase(rnd, ("results",), action="publish", now=0, deadline=None)
    if rnd.results_published:
        raise e.ResultsAlreadyPublished(round=rnd.round_id)
