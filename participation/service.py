"""``ParticipationService``: the one API the bot, the web layer and the CLI call.

Each state change validates a command against the current state (pure rules in
``participation.domain.rules``) and writes exactly one ledger entry, committed with the
projection rows in the ledger's write transaction. See ``participation/README.md``.
"""

from __future__ import annotations

from participation.app.drafts import Drafts
from participation.app.judges import Judges
from participation.app.officials import Officials
from participation.app.openings import OpeningsView
from participation.app.residents import Residents
from participation.app.review import Review
from participation.app.reviewday import ReviewDay
from participation.app.support import Support
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.views import Receipt
from participation.views import Redeemed


class ParticipationService(
    Residents, Officials, Review, Judges, Support, Drafts, ReviewDay, OpeningsView
):
    """Residents, judges, officials and the bot's support state, over one ledger."""

    def redeem_code(
        self,
        user_id: int,
        code: str,
        *,
        scanned_at: int | None = None,
        request_id: str | None = None,
    ) -> Redeemed:
        """Redeem any code a person scanned or received (a deep-link ``/start`` payload).

        ``o_...`` official invite, ``j_...`` judge invite, ``e_...`` enrollment code,
        ``s_...`` on-site check-in (checked at ``scanned_at``, see ``check_in``).  Raises
        CodeUnknown for anything else.
        """
        code = code.strip()
        prefix = code[:2]
        # The bot redeems a code a new person opened right after registering them, in the
        # same update: a request id of its own keeps the registration's stored outcome from
        # standing in for the redemption, and stays stable when the update is replayed.
        request_id = None if request_id is None else f"{request_id}:code"
        if prefix == "o_":
            self.join_as_official(user_id, code, request_id=request_id)
            return Redeemed(
                kind="official", round_id="", detail={"role": self.official_role(user_id)}
            )
        if prefix == "j_":
            self.join_as_judge(user_id, code, request_id=request_id)
            return Redeemed(kind="judge", round_id=self._last_subject(user_id), detail={})
        if prefix == "e_":
            found = self.redeem_enrollment(user_id, code, request_id=request_id)
            detail: dict[str, JSON] = {"community": found.community, "role": found.role}
            return Redeemed(kind="enrollment", round_id=found.round_id, detail=detail)
        if prefix == "s_":
            done = self._check_in(user_id, code, scanned_at=scanned_at, request_id=request_id)
            detail = {"session": done.subject, "already": done.already}
            round_id = self._session_round(done.subject)
            return Redeemed(kind="onsite", round_id=round_id, detail=detail)
        raise e.CodeUnknown()

    def _last_subject(self, user_id: int) -> str:
        views = self.my_receipts(user_id, limit=1)
        return views[0].subject if views else ""

    def mark_blocked(self, user_id: int) -> None:
        """Record that the person blocked the bot (see Residents.mark_blocked)."""
        Residents.mark_blocked(self, user_id)


__all__ = ["ParticipationService", "Receipt", "Redeemed"]
