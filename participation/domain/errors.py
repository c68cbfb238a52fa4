"""Typed rule violations. Each carries a catalog key (``participation.po``) and parameters.

Adapters translate ``err.key`` with ``err.params``; the domain never holds text for people.
An instant among the params (a deadline) is UTC epoch seconds, named in the class's
``moments``: adapters write it as people read dates in their language (``shown``).
The tree is shallow: one root, a few families the adapters may branch on (not found, not
allowed, closed, invalid input, codes), then one class per rule.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import ClassVar

if TYPE_CHECKING:
    from participation.domain.community import Problem


class ParticipationError(Exception):
    """A command broke a rule of the domain."""

    key: ClassVar[str] = "participation.error.failed"
    # Params that are instants (UTC epoch seconds), for the reader's date format.
    moments: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: str | int) -> None:
        super().__init__(f"{self.key} {params}" if params else self.key)
        self.params: dict[str, str | int] = dict(params)

    def shown(self, moment: Callable[[int], str]) -> dict[str, str | int]:
        """Return the params for a reader: each of ``moments`` written by ``moment`` (the
        adapter's date format in the reader's language), the others as they are."""
        return {
            name: moment(value) if name in self.moments and isinstance(value, int) else value
            for name, value in self.params.items()
        }


# --- families ----------------------------------------------------------------------------------
class NotFound(ParticipationError):
    key = "participation.error.not_found"


class NotAllowed(ParticipationError):
    key = "participation.error.not_allowed"


class Closed(ParticipationError):
    key = "participation.error.closed"


class InvalidInput(ParticipationError):
    key = "participation.error.invalid_input"


class CodeError(ParticipationError):
    key = "participation.error.code_invalid"


# --- not found ---------------------------------------------------------------------------------
class RoundNotFound(NotFound):
    key = "participation.error.round_not_found"


class NoCurrentRound(NotFound):
    key = "participation.error.no_current_round"


class ProposalNotFound(NotFound):
    key = "participation.error.proposal_not_found"


class SessionNotFound(NotFound):
    key = "participation.error.session_not_found"


class PaperTallyNotFound(NotFound):
    key = "participation.error.paper_tally_not_found"


class CommunityNotFound(NotFound):
    key = "participation.error.community_not_found"


class NotRegistered(NotFound):
    key = "participation.error.not_registered"


# --- not allowed -------------------------------------------------------------------------------
class AlreadyRegistered(NotAllowed):
    key = "participation.error.already_registered"


class ConsentRequired(NotAllowed):
    key = "participation.error.consent_required"


class NotOfficial(NotAllowed):
    key = "participation.error.not_official"


class AdminOnly(NotOfficial):
    """An official without the admin role (a clerk) asked for what only admins may do."""

    key = "participation.error.admin_only"


class OfficialExists(NotAllowed):
    key = "participation.error.official_exists"


class AlreadyOfficial(NotAllowed):
    key = "participation.error.already_official"


class NotJudge(NotAllowed):
    key = "participation.error.not_judge"


class AlreadyJudge(NotAllowed):
    key = "participation.error.already_judge"


class NotAuthor(NotAllowed):
    key = "participation.error.not_author"


class DuplicateEndorsement(NotAllowed):
    key = "participation.error.duplicate_endorsement"


class OwnProposal(NotAllowed):
    key = "participation.error.own_proposal"


class NotEndorsed(NotAllowed):
    key = "participation.error.not_endorsed"


class ProposalInactive(NotAllowed):
    key = "participation.error.proposal_inactive"


class ProposalIsHidden(NotAllowed):
    key = "participation.error.proposal_hidden"


class ProposalNotHidden(NotAllowed):
    key = "participation.error.proposal_not_hidden"


class ProposalLimitReached(NotAllowed):
    key = "participation.error.proposal_limit"


class NotInReview(NotAllowed):
    key = "participation.error.not_in_review"


class RecusedProposal(NotAllowed):
    key = "participation.error.recused"


class NotAssigned(NotAllowed):
    key = "participation.error.not_assigned"


class NotEligible(NotAllowed):
    key = "participation.error.not_eligible"


class NotRepresentative(NotAllowed):
    key = "participation.error.not_representative"


class AlreadyEnrolled(NotAllowed):
    key = "participation.error.already_enrolled"


class NotPresent(NotAllowed):
    key = "participation.error.not_present"


class GroupNotChosen(NotAllowed):
    key = "participation.error.group_not_chosen"


class GroupAlreadyChosen(NotAllowed):
    key = "participation.error.group_already_chosen"


class WrongGroup(NotAllowed):
    key = "participation.error.wrong_group"


class OtherChannel(NotAllowed):
    """The person already counts in another review channel (on site / online)."""

    key = "participation.error.other_channel"


class CountedOnsite(OtherChannel):
    key = "participation.error.counted_onsite"


class CountedOnline(OtherChannel):
    key = "participation.error.counted_online"


class LikeCapReached(NotAllowed):
    key = "participation.error.like_cap"


class AlreadyLiked(NotAllowed):
    key = "participation.error.already_liked"


class NotLiked(NotAllowed):
    key = "participation.error.not_liked"


class JudgeMoved(NotAllowed):
    """A judge's move whose official saw them in another group than the one they are in now:
    another official moved them meanwhile (param ``group``, the judge's group now); nothing is
    written."""

    key = "participation.error.judge_moved"


class JudgeMovedToAll(JudgeMoved):
    """As :class:`JudgeMoved`, the judge being in every group now (no params)."""

    key = "participation.error.judge_moved_all"


class SameOfficial(NotAllowed):
    key = "participation.error.same_official"


class PaperAlreadyConfirmed(NotAllowed):
    key = "participation.error.paper_confirmed"


class GroupsAlreadyFormed(NotAllowed):
    key = "participation.error.groups_formed"


class ResultsAlreadyPublished(NotAllowed):
    key = "participation.error.results_published"


class ResultsNotPublished(NotAllowed):
    """Closing a round whose results were never published: they could not be published after."""

    key = "participation.error.results_unpublished"


class EnrollmentNotUsed(NotAllowed):
    key = "participation.error.enrollment_not_used"


class ConversationConflict(NotAllowed):
    key = "participation.error.conversation_conflict"


# --- closed phases and deadlines ---------------------------------------------------------------
class PhaseClosed(Closed):
    """The action belongs to another phase (params: ``phase`` now, ``action``)."""

    key = "participation.error.phase_closed"


class ReviewOver(PhaseClosed):
    """A score, recusal, on-site score or like once the review phase has ended (params
    ``action``, and ``ended``: the instant it ended, see rules.review_ended_at): what was
    received before counts, nothing more can be added or changed."""

    key = "participation.error.review_over"
    moments = ("ended",)


class DeadlinePassed(Closed):
    """The phase is right but its deadline (param ``deadline``, an instant) is over."""

    key = "participation.error.deadline_passed"
    moments = ("deadline",)


class AdvancePending(Closed):
    """An official's move of a round whose phase deadline (param ``deadline``) passed while
    the clock waits for the actions received before it (it moves the round itself, ``by``
    then at the latest): moving it now would refuse those (see rules.due_phase)."""

    key = "participation.error.advance_pending"
    moments = ("deadline", "by")


class RulesFrozen(Closed):
    key = "participation.error.rules_frozen"


class OpenedTooLate(Closed):
    """A draft is opened after its submission deadline (param ``deadline``, an instant)."""

    key = "participation.error.open_too_late"
    moments = ("deadline",)


class RoundFinished(Closed):
    key = "participation.error.round_finished"


class AssignmentClosed(Closed):
    """A judge's review group changed once the review is over (results, closed): the scores
    are final, so who judged which group is too."""

    key = "participation.error.assignment_closed"


# --- invalid input -----------------------------------------------------------------------------
class TitleTooLong(InvalidInput):
    key = "participation.error.title_too_long"


class TitleEmpty(InvalidInput):
    key = "participation.error.title_empty"


class BodyTooLong(InvalidInput):
    key = "participation.error.body_too_long"


class BodyEmpty(InvalidInput):
    key = "participation.error.body_empty"


class BudgetOverCap(InvalidInput):
    key = "participation.error.budget_over_cap"


class BudgetInvalid(InvalidInput):
    key = "participation.error.budget_invalid"


class UnknownCategory(InvalidInput):
    key = "participation.error.unknown_category"


class UnknownRegion(InvalidInput):
    key = "participation.error.unknown_region"


class UnknownReason(InvalidInput):
    key = "participation.error.unknown_reason"


class UnknownRole(InvalidInput):
    key = "participation.error.unknown_role"


class ScoreOutOfRange(InvalidInput):
    key = "participation.error.score_out_of_range"


class CriteriaMismatch(InvalidInput):
    key = "participation.error.criteria_mismatch"


class InvalidRules(InvalidInput):
    """The round configuration is invalid (param ``problems``: every problem, ``; ``-joined)."""

    key = "participation.error.invalid_rules"


class InvalidTally(InvalidInput):
    key = "participation.error.invalid_tally"


class AnswerInvalid(InvalidInput):
    key = "participation.error.answer_invalid"


class CommunityNameInvalid(InvalidInput):
    key = "participation.error.community_name_invalid"


class CommunityNameTaken(InvalidInput):
    key = "participation.error.community_name_taken"


class CommunitiesInvalid(InvalidInput):
    """A list of communities to add has problems (``.problems``, by row) or is empty or too
    long (no problems; params ``count``, ``max``): none of them is added."""

    key = "participation.error.communities_invalid"

    def __init__(self, *, problems: Sequence[Problem], count: int, max: int) -> None:
        super().__init__(count=count, max=max)
        self.problems: tuple[Problem, ...] = tuple(problems)


class NoSuchGroup(InvalidInput):
    """A review group the round does not have (param ``group``; ``count`` groups formed)."""

    key = "participation.error.no_such_group"


class JudgeInGroup(InvalidInput):
    """A judge moved to the review group they are in already: nothing is written."""

    key = "participation.error.judge_in_group"


class NothingChanged(InvalidInput):
    """An edit whose fields all equal the stored ones: nothing is written (no entry, no
    content row, no receipt), so the public ledger records only real changes."""

    key = "participation.error.nothing_changed"


# --- codes: invites, enrollment, on-site, buttons ---------------------------------------------
class CodeUnknown(CodeError):
    key = "participation.error.code_unknown"


class InviteExpired(CodeError):
    """An invite used after it expired (param ``expired_at``, an instant)."""

    key = "participation.error.invite_expired"
    moments = ("expired_at",)


class CodeUsed(CodeError):
    key = "participation.error.code_used"


class OnsiteCodeExpired(CodeError):
    key = "participation.error.onsite_code_expired"


class ButtonUnknown(CodeError):
    key = "participation.error.button_unknown"


class ButtonExpired(CodeError):
    key = "participation.error.button_expired"


class ButtonForeign(CodeError):
    key = "participation.error.button_foreign"


def all_errors() -> list[type[ParticipationError]]:
    """Return ParticipationError and every subclass (for catalog tests)."""
    found: list[type[ParticipationError]] = [ParticipationError]
    i = 0
    while i < len(found):
        found.extend(found[i].__subclasses__())
        i += 1
    return found
