"""Officials: roles, rounds, moderation, communities and enrollment codes, results."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from participation.app.base import Base
from participation.app.base import Plan
from participation.app.base import code_hash
from participation.app.base import new_code
from participation.app.base import notice_about
from participation.domain import community as cm
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain import rules
from participation.domain.events import JSON
from participation.domain.model import Enrollment
from participation.domain.model import RoundState
from participation.domain.round import RoundRules
from participation.store import erasure
from participation.store import repo
from participation.store import tables as t
from participation.views import Receipt
from participation.views import RoundView

TallyFn = Callable[[list[bytes]], Any]


class _NotDue(Exception):
    """The round's phase is no longer past its deadline (another clock moved it)."""


class Officials(Base):
    """What officials do: grant roles, run rounds, moderate, issue codes, publish results."""

    # --- roles --------------------------------------------------------------------------------
    def official_role(self, user_id: int) -> str | None:
        """Return the person's official role ("admin" | "clerk"), or None."""
        with self._engine.connect() as conn:
            return repo.official_role(conn, user_id)

    def _grant(self, conn: sa.Connection, user_id: int, role: str, via: str, now: int) -> Plan:
        self._reclaim(conn, user_id)  # an official who erased their data gets their rows back
        if repo.official_role(conn, user_id) is not None:
            raise e.AlreadyOfficial()
        conn.execute(sa.insert(t.officials).values(user_id=user_id, role=role, granted_at=now))
        return Plan(
            event=ev.OfficialGranted(role=role, via=via),
            actor=self.actor("official", None, user_id),
            round_id=ev.GLOBAL_ROUND,
            subject=role,
            user_id=user_id,
        )

    def grant_first_official(self, user_id: int) -> Receipt:
        """Make the first official (an admin); the CLI calls this once.  Raises OfficialExists."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            if repo.count(conn, t.officials) > 0:
                raise e.OfficialExists()
            return self._grant(conn, user_id, "admin", "cli", now)

        return self._run(plan).receipt

    def invite_official(self, official_id: int, *, role: str = "admin", ttl_s: int = 86400) -> str:
        """Return a single-use invite code ``o_...`` for a new official of ``role``."""
        if role not in rules.OFFICIAL_ROLES:
            raise e.UnknownRole(role=role)
        code = new_code("o")

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            expires = now + ttl_s
            conn.execute(
                sa.insert(t.invites).values(
                    code_hash=code_hash(code),
                    kind="official",
                    round_id="",
                    role=role,
                    group_no=None,
                    expires_at=expires,
                    created_by=official_id,
                )
            )
            return Plan(
                event=ev.OfficialInvited(role=role, expires_at=expires),
                actor=self.actor("official", None, official_id),
                round_id=ev.GLOBAL_ROUND,
            )

        self._run(plan)
        return code

    def _use_invite(self, conn: sa.Connection, code: str, kind: str, user_id: int, now: int) -> Any:
        found = repo.invite(conn, code_hash(code))
        if found is None or found.kind != kind:
            raise e.CodeUnknown()
        rules.check_invite(found, now=now)
        conn.execute(
            sa.update(t.invites)
            .where(t.invites.c.code_hash == code_hash(code))
            .values(used_by=user_id, used_at=now)
        )
        return found

    def join_as_official(
        self, user_id: int, code: str, *, request_id: str | None = None
    ) -> Receipt:
        """Redeem an official invite.  Raises CodeUnknown, CodeUsed, InviteExpired."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            found = self._use_invite(conn, code, "official", user_id, now)
            return self._grant(conn, user_id, found.role, "invite", now)

        return self._run(plan, request_id=request_id).receipt

    # --- rounds -------------------------------------------------------------------------------
    def create_round(
        self,
        official_id: int,
        rules_: RoundRules,
        *,
        round_id: str | None = None,
        request_id: str | None = None,
    ) -> RoundView:
        """Create a round in the draft phase.  ``round_id``: [a-z0-9]{1,24} or generated."""
        rules_.validate()
        rid = round_id or f"r{secrets.token_hex(3)}"
        if not (rid.isascii() and rid.isalnum() and rid.islower() and len(rid) <= 24):
            raise e.InvalidInput(field="round_id")

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            if repo.exists(conn, t.rounds, round_id=rid):
                raise e.InvalidInput(field="round_id")
            conn.execute(
                sa.insert(t.rounds).values(
                    round_id=rid,
                    seq=repo.next_round_seq(conn),
                    title=rules_.title,
                    phase="draft",
                    rules=rules_.to_payload(),
                    groups=[],
                    created_at=now,
                    phase_changed_at=now,
                )
            )
            return Plan(
                event=ev.RoundCreated(rules=rules_.to_payload()),
                actor=self.actor("official", rid, official_id),
                round_id=rid,
                subject=rid,
            )

        self._run(plan, request_id=request_id)
        return self.round(rid)  # type: ignore[attr-defined, no-any-return]

    def configure_round(
        self, official_id: int, round_id: str, rules_: RoundRules, *, request_id: str | None = None
    ) -> Receipt:
        """Replace a draft round's rules.  Raises RulesFrozen once the round is open."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            event = rules.decide_configure(repo.round_state(conn, round_id), rules_)
            conn.execute(
                sa.update(t.rounds)
                .where(t.rounds.c.round_id == round_id)
                .values(rules=event.rules, title=rules_.title)
            )
            return Plan(
                event=event, actor=self.actor("official", round_id, official_id), round_id=round_id
            )

        return self._run(plan, request_id=request_id).receipt

    def open_round(
        self, official_id: int, round_id: str, *, request_id: str | None = None
    ) -> Receipt:
        """Open a draft round for submissions; its rules go to the ledger and freeze."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            event = rules.decide_open(repo.round_state(conn, round_id), now=now)
            self._set_phase(conn, round_id, "submission", now)
            return Plan(
                event=event, actor=self.actor("official", round_id, official_id), round_id=round_id
            )

        return self._run(plan, request_id=request_id).receipt

    def _set_phase(self, conn: sa.Connection, round_id: str, phase: str, now: int) -> None:
        conn.execute(
            sa.update(t.rounds)
            .where(t.rounds.c.round_id == round_id)
            .values(phase=phase, phase_changed_at=now)
        )

    def _advance_plan(self, round_id: str, actor: Callable[[], str]) -> Callable[..., Plan]:
        def plan(conn: sa.Connection, now: int) -> Plan:
            rnd = repo.round_state(conn, round_id)
            event = rules.decide_advance(rnd, repo.proposal_states(conn, round_id), now=now)
            self._set_phase(conn, round_id, event.to_phase, now)
            if event.to_phase == "review":
                p = t.proposals.c
                conn.execute(
                    sa.update(t.proposals)
                    .where(p.proposal_id.in_(list(event.shortlisted)))
                    .values(shortlisted=True)
                )
                for pid in event.shortlisted:
                    self._notify_audience(
                        conn, pid, "participation.notice.in_review", {"proposal": pid}, now
                    )
                # In the transaction of the phase change: queued once, whoever advanced it;
                # the outbox sender adds the button that opens the judge's first card.
                jc = t.judges.c
                judges = conn.execute(
                    sa.select(jc.user_id)
                    .where(jc.round_id == round_id, erasure.has_chat(jc.user_id))
                    .order_by(jc.user_id)
                ).scalars()
                params: dict[str, JSON] = {"round": rnd.rules.title}
                key = "participation.notice.judging_open"
                self._notify(conn, list(judges), key, params, now, duty=True)
            who = actor()
            closed: tuple[Plan, ...] = ()
            if rnd.phase == "review":
                closed = tuple(
                    Plan(
                        event=ev.OnsiteClosed(session=sid),
                        actor=who,
                        round_id=round_id,
                        subject=sid,
                    )
                    for sid in self._close_open_sessions(conn, round_id)
                )
            return Plan(
                event=event, actor=who, round_id=round_id, subject=event.to_phase, then=closed
            )

        return plan

    def _close_open_sessions(self, conn: sa.Connection, round_id: str) -> list[str]:
        """Close the round's open on-site sessions (it leaves the review); return their ids
        in the order they were opened, each to get the ``onsite.closed`` entry that
        :meth:`close_onsite_session` writes."""
        s = t.sessions.c
        open_ = sa.and_(s.round_id == round_id, s.open.is_(True))
        ids = list(
            conn.execute(
                sa.select(s.session_id).where(open_).order_by(s.opened_at, s.session_id)
            ).scalars()
        )
        if ids:
            closed_at = self._clock_now()  # when it is applied: see close_onsite_session
            conn.execute(sa.update(t.sessions).where(open_).values(open=False, closed_at=closed_at))
        return ids

    def advance_round(
        self, official_id: int, round_id: str, *, request_id: str | None = None
    ) -> Receipt:
        """Move a round to its next phase (entering review fixes the shortlist).  Raises
        AdvancePending in the minutes after its phase's deadline while the clock waits for
        the actions received before it (rules.check_manual_advance)."""

        def actor() -> str:
            return self.actor("official", round_id, official_id)

        inner = self._advance_plan(round_id, actor)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rules.check_manual_advance(repo.round_state(conn, round_id), now)
            return inner(conn, now)

        return self._run(plan, request_id=request_id).receipt

    def advance_due_rounds(self, *, waiting_since: int | None = None) -> list[tuple[str, str]]:
        """Advance every round whose phase deadline passed (the scheduler's job).

        ``waiting_since``: when the oldest update still waiting in the inbox was received
        (None: none waits); a round waits for the actions received before its deadline (see
        :func:`rules.due_phase`).
        """
        moved: list[tuple[str, str]] = []
        for view in self.rounds():  # type: ignore[attr-defined]
            with self._engine.connect() as conn:
                state = repo.round_state(conn, view.round_id)
            target = rules.due_phase(state, self._now(), waiting_since)
            if target is None:
                continue
            rid = view.round_id
            inner = self._advance_plan(rid, lambda: "s:scheduler")

            def plan(
                conn: sa.Connection, now: int, rid: str = rid, inner: Callable[..., Plan] = inner
            ) -> Plan:
                # Decided again under the writer's lock: a second clock (or an official's
                # press) that moved the round meanwhile must not move it one phase further.
                if rules.due_phase(repo.round_state(conn, rid), now, waiting_since) is None:
                    raise _NotDue()
                return inner(conn, now)

            try:
                done = self._run(plan)
            except _NotDue:
                continue
            moved.append((view.round_id, done.subject))
        return moved

    # --- moderation ---------------------------------------------------------------------------
    def hide_proposal(
        self, official_id: int, proposal_id: str, reason: str, *, request_id: str | None = None
    ) -> Receipt:
        """Hide a proposal for a reason code; the author is told through the outbox."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            p = repo.proposal_state(conn, proposal_id)
            event = rules.decide_hide(p, reason=reason)
            conn.execute(
                sa.update(t.proposals)
                .where(t.proposals.c.proposal_id == proposal_id)
                .values(hidden=True, hide_reason=reason)
            )
            params = notice_about(proposal_id, {"reason": reason})
            key = f"participation.notice.hidden_{reason}"
            self._notify(conn, [p.author_id], key, params, now)
            return Plan(
                event=event,
                actor=self.actor("official", p.round_id, official_id),
                round_id=p.round_id,
                subject=proposal_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def restore_proposal(
        self, official_id: int, proposal_id: str, *, request_id: str | None = None
    ) -> Receipt:
        """Lift the hiding of a proposal."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            p = repo.proposal_state(conn, proposal_id)
            event = rules.decide_restore(p)
            conn.execute(
                sa.update(t.proposals)
                .where(t.proposals.c.proposal_id == proposal_id)
                .values(hidden=False, hide_reason=None)
            )
            params = notice_about(proposal_id, {})
            self._notify(conn, [p.author_id], "participation.notice.restored", params, now)
            return Plan(
                event=event,
                actor=self.actor("official", p.round_id, official_id),
                round_id=p.round_id,
                subject=proposal_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def answer_proposal(
        self, official_id: int, proposal_id: str, text: str, *, request_id: str | None = None
    ) -> Receipt:
        """Answer a proposal publicly; the author and endorsers are told."""
        if not text.strip() or len(text) > 1500:
            raise e.AnswerInvalid(max=1500)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            p = repo.proposal_state(conn, proposal_id)
            ref, commit = self._store_content(
                conn, owner=None, kind="answer", data={"text": text}, now=now
            )
            conn.execute(
                sa.update(t.proposals)
                .where(t.proposals.c.proposal_id == proposal_id)
                .values(answer_ref=ref)
            )
            params: dict[str, JSON] = {"proposal": proposal_id}
            self._notify_audience(conn, proposal_id, "participation.notice.answered", params, now)
            return Plan(
                event=ev.ProposalAnswered(proposal=proposal_id, answer_c=commit),
                actor=self.actor("official", p.round_id, official_id),
                round_id=p.round_id,
                subject=proposal_id,
            )

        return self._run(plan, request_id=request_id).receipt

    # --- communities and enrollment -----------------------------------------------------------
    def add_community(
        self,
        official_id: int,
        round_id: str,
        *,
        region: str,
        name: str,
        community: str | None = None,
        request_id: str | None = None,
    ) -> Receipt:
        """Add a community to the round (its ``name`` stays off-ledger).

        ``community``: its ASCII code, else the next free ``c001``, ``c002``... of the round.

        Raises:
            NotOfficial, RoundNotFound, RoundFinished (closed round).
            CommunityNameInvalid, CommunityNameTaken, UnknownRegion.
            InvalidInput (field ``community``): a code that is not ASCII or is taken.
        """
        if community is not None and not cm.is_code(community):
            raise e.InvalidInput(field="community")

        def plan(conn: sa.Connection, now: int) -> Plan:
            rnd, names = self._communities_of(conn, official_id, round_id)
            cm.require_valid(name, region, regions=rnd.rules.regions, taken=names.values())
            code = community or cm.next_codes(names, 1)[0]
            if code in names:
                raise e.InvalidInput(field="community")
            return self._community_plan(conn, official_id, round_id, code, name, region, now)

        return self._run(plan, request_id=request_id).receipt

    def add_communities(
        self,
        official_id: int,
        round_id: str,
        rows: Sequence[tuple[str, str]],
        *,
        request_id: str | None = None,
    ) -> int:
        """Add the communities ``rows`` (name, region code) at once; return how many.

        One ``community.added`` entry each, all in one transaction: every one or, when any
        row has a problem, none. Codes are the round's next ``c001``, ``c002``...

        Raises:
            NotOfficial, RoundNotFound, RoundFinished (closed round).
            CommunitiesInvalid: every problem by row (``.problems``), or 0 or over BULK_MAX rows.
        """

        def plan(conn: sa.Connection, now: int) -> list[Plan]:
            rnd, names = self._communities_of(conn, official_id, round_id)
            cm.require_all_valid(rows, regions=rnd.rules.regions, taken=names.values())
            codes = cm.next_codes(names, len(rows))
            return [
                self._community_plan(conn, official_id, round_id, code, name, region, now)
                for code, (name, region) in zip(codes, rows, strict=True)
            ]

        return int(self._run_many(plan, request_id=request_id).subject)

    def community_problems(
        self, round_id: str, rows: Sequence[tuple[str, str | None]]
    ) -> list[cm.Problem]:
        """Return what :meth:`add_communities` would refuse in ``rows`` (a region of None is
        not checked: not chosen yet), by row, without writing anything."""
        with self._engine.connect() as conn:
            rnd = repo.round_state(conn, round_id)
            names = repo.community_names(conn, round_id)
        return cm.problems(rows, regions=rnd.rules.regions, taken=names.values())

    def _communities_of(
        self, conn: sa.Connection, official_id: int, round_id: str
    ) -> tuple[RoundState, dict[str, str]]:
        """Check the role and that the round is not closed; return it with {code: name}."""
        repo.require_official(conn, official_id)
        rnd = repo.round_state(conn, round_id)
        if rnd.phase == "closed":
            raise e.RoundFinished(round=round_id)
        return rnd, repo.community_names(conn, round_id)

    def _community_plan(
        self,
        conn: sa.Connection,
        official_id: int,
        round_id: str,
        code: str,
        name: str,
        region: str,
        now: int,
    ) -> Plan:
        """Store the community's name and row; return its ``community.added`` plan."""
        ref, commit = self._store_content(
            conn, owner=None, kind="community", data={"name": cm.clean_name(name)}, now=now
        )
        conn.execute(
            sa.insert(t.communities).values(
                round_id=round_id, community=code, region=region, content_ref=ref
            )
        )
        return Plan(
            event=ev.CommunityAdded(community=code, region=region, name_c=commit),
            actor=self.actor("official", round_id, official_id),
            round_id=round_id,
            subject=code,
        )

    def issue_enrollment_codes(
        self,
        official_id: int,
        round_id: str,
        community: str,
        *,
        role: str = "voter",
        count: int | None = None,
    ) -> list[str]:
        """Issue single-use codes ``e_...`` binding one account each to a voter slot.

        ``count`` defaults to the round's ``voters_per_community`` for voters and 1 for the
        representative; the total per community and role never exceeds that quota.
        """
        if role not in rules.ENROLLMENT_ROLES:
            raise e.UnknownRole(role=role)
        codes: list[str] = []

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            if rnd.phase == "closed":
                raise e.RoundFinished(round=round_id)
            if not repo.exists(conn, t.communities, round_id=round_id, community=community):
                raise e.CommunityNotFound(community=community)
            quota = rnd.rules.voters_per_community if role == "voter" else 1
            issued = repo.count(
                conn, t.enrollment_codes, round_id=round_id, community=community, role=role
            )
            n = quota - issued if count is None else count
            if n <= 0 or issued + n > quota:
                raise e.InvalidInput(field="count")
            rows = []
            for slot in range(issued + 1, issued + n + 1):
                code = new_code("e")
                codes.append(code)
                rows.append(
                    {
                        "code_hash": code_hash(code),
                        "round_id": round_id,
                        "community": community,
                        "role": role,
                        "slot": slot,
                    }
                )
            conn.execute(sa.insert(t.enrollment_codes), rows)
            return Plan(
                event=ev.EnrollmentIssued(community=community, role=role, count=n),
                actor=self.actor("official", round_id, official_id),
                round_id=round_id,
                subject=community,
            )

        self._run(plan)
        return codes

    def enrollment(self, user_id: int, round_id: str) -> Enrollment | None:
        """Return the person's voter slot in the round, or None."""
        with self._engine.connect() as conn:
            return repo.enrollment(conn, round_id, user_id)

    def redeem_enrollment(
        self, user_id: int, code: str, *, request_id: str | None = None
    ) -> Enrollment:
        """Bind this account to the code's voter slot.  Raises CodeUnknown, CodeUsed."""
        holder: list[str] = []

        def plan(conn: sa.Connection, now: int) -> Plan:
            self._reclaim(conn, user_id)  # a returning person's slot counts as theirs
            ec = t.enrollment_codes.c
            row = conn.execute(
                sa.select(t.enrollment_codes).where(ec.code_hash == code_hash(code))
            ).first()
            if row is None:
                raise e.CodeUnknown()
            if row.user_id is not None:
                raise e.CodeUsed()
            rnd = repo.round_state(conn, row.round_id)
            if rnd.phase == "closed":
                raise e.RoundFinished(round=rnd.round_id)
            if repo.enrollment(conn, row.round_id, user_id) is not None:
                raise e.AlreadyEnrolled(round=row.round_id)
            conn.execute(
                sa.update(t.enrollment_codes)
                .where(ec.code_hash == row.code_hash)
                .values(user_id=user_id, used_at=now)
            )
            conn.execute(
                sa.insert(t.enrollments).values(
                    round_id=row.round_id, user_id=user_id, community=row.community, role=row.role
                )
            )
            holder.append(row.round_id)
            return Plan(
                event=ev.EnrollmentRedeemed(community=row.community, role=row.role),
                actor=self.actor("resident", row.round_id, user_id),
                round_id=row.round_id,
                subject=row.round_id,
                user_id=user_id,
            )

        done = self._run(plan, request_id=request_id)
        found = self.enrollment(user_id, done.subject)
        assert found is not None
        return found

    # --- results ------------------------------------------------------------------------------
    def publish_results(self, official_id: int, round_id: str) -> dict[str, JSON]:
        """Compute the results with ``participation.tally.tally`` over the ledger and publish.

        The tally covers entries ``[0, upto)``, the log as committed when publishing starts;
        ``results.published`` names ``upto`` and the SHA-256 of the canonical Results, so
        ``tally(export, round, upto=upto)`` reproduces them. Selected proposals' authors and
        endorsers are told through the outbox.
        """
        from participation.tally import tally  # the tally engineer's pure function

        with self._engine.connect() as conn:
            repo.require_official(conn, official_id)
            rules.decide_publish(repo.round_state(conn, round_id))
        upto: int = self._ledger.size()  # type: ignore[attr-defined]
        entries: list[bytes] = []
        while len(entries) < upto:
            entries.extend(self._ledger.entries(len(entries), upto))  # type: ignore[attr-defined]
        results = tally(entries, round_id, upto=upto)
        payload = results.to_payload()
        selected = tuple(results.selected)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            rules.decide_publish(rnd)
            p = t.proposals.c
            conn.execute(
                sa.update(t.proposals)
                .where(p.round_id == round_id, p.shortlisted.is_(True))
                .values(selected=p.proposal_id.in_(list(selected)))
            )
            for pid in selected:
                params: dict[str, JSON] = {"proposal": pid}
                self._notify_audience(conn, pid, "participation.notice.selected", params, now)

            def after(receipt: Receipt) -> None:
                conn.execute(
                    sa.update(t.rounds)
                    .where(t.rounds.c.round_id == round_id)
                    .values(results=payload, results_index=receipt.index)
                )

            return Plan(
                event=ev.ResultsPublished(
                    tally_version=rnd.rules.tally_version,
                    upto=upto,
                    results_sha256=results.sha256(),
                    ranking=tuple(results.ranking),
                    selected=selected,
                ),
                actor=self.actor("official", round_id, official_id),
                round_id=round_id,
                subject=round_id,
                after=after,
            )

        self._run(plan)
        return payload

    def results(self, round_id: str) -> dict[str, JSON] | None:
        """Return the published results of a round, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(t.rounds.c.results).where(t.rounds.c.round_id == round_id)
            ).first()
        if row is None:
            raise e.RoundNotFound(round=round_id)
        data: dict[str, JSON] | None = row.results
        return data
