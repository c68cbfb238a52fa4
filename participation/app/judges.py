"""Judges: invitations, joining, group assignment, scores per criterion, recusals, progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import sqlalchemy as sa

from participation.app.base import Base
from participation.app.base import Plan
from participation.app.base import code_hash
from participation.app.base import new_code
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain import rules
from participation.domain.events import JSON
from participation.domain.model import Enrollment
from participation.domain.model import ProposalState
from participation.domain.model import RoundState
from participation.store import erasure
from participation.store import repo
from participation.store import tables as t
from participation.views import JudgeProgress
from participation.views import JudgeTask
from participation.views import Receipt


class Judging(NamedTuple):
    """What a judge's score or recusal of one proposal is decided on."""

    proposal: ProposalState
    round: RoundState
    group: int | None  # the judge's review group (None: every group)
    enrollment: Enrollment | None  # the judge's, in the proposal's round
    recused: bool


class Judges(Base):
    """The judges of a round: invited, joined, assigned to a review group, scoring."""

    def invite_judge(
        self, official_id: int, round_id: str, *, group: int | None = None, ttl_s: int = 7 * 86400
    ) -> str:
        """Return a single-use judge invite ``j_...`` (for one review group, or all)."""
        code = new_code("j")

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            if rnd.phase == "closed":
                raise e.RoundFinished(round=round_id)
            rules.check_group(rnd, group)
            expires = now + ttl_s
            conn.execute(
                sa.insert(t.invites).values(
                    code_hash=code_hash(code),
                    kind="judge",
                    round_id=round_id,
                    role="judge",
                    group_no=group,
                    expires_at=expires,
                    created_by=official_id,
                )
            )
            return Plan(
                event=ev.JudgeInvited(group=group, expires_at=expires),
                actor=self.actor("official", round_id, official_id),
                round_id=round_id,
            )

        self._run(plan)
        return code

    def join_as_judge(self, user_id: int, code: str, *, request_id: str | None = None) -> Receipt:
        """Redeem a judge invite.  Raises CodeUnknown, CodeUsed, InviteExpired, AlreadyJudge."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            self._reclaim(conn, user_id)  # a returning judge's scores are theirs again
            found = repo.invite(conn, code_hash(code))
            if found is None or found.kind != "judge":
                raise e.CodeUnknown()
            rules.check_invite(found, now=now)
            if repo.judge_group(conn, found.round_id, user_id)[0]:
                raise e.AlreadyJudge()
            conn.execute(
                sa.update(t.invites)
                .where(t.invites.c.code_hash == code_hash(code))
                .values(used_by=user_id, used_at=now)
            )
            pseudonym = self.actor("judge", found.round_id, user_id)
            conn.execute(
                sa.insert(t.judges).values(
                    round_id=found.round_id,
                    user_id=user_id,
                    pseudonym=pseudonym,
                    group_no=found.group,
                    joined_at=now,
                )
            )
            return Plan(
                event=ev.JudgeJoined(group=found.group),
                actor=pseudonym,
                round_id=found.round_id,
                subject=found.round_id,
                user_id=user_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def assign_judge(
        self,
        official_id: int,
        round_id: str,
        judge: str,
        group: int | None,
        *,
        from_group: int | None | rules.AnyGroup = rules.ANY_GROUP,
        request_id: str | None = None,
    ) -> Receipt:
        """Move a judge (by pseudonym, as :meth:`judge_progress` names them) to review group
        ``group`` (None: every group).  Admins only.  Scores and recusals already given stay
        and count; the judge then sees and scores only the new group's proposals.

        ``from_group`` is the group the official saw the judge in (None: every group); it is
        checked under the writer's lock, so of two officials moving the same judge from the
        same screen one moves them and the other is refused (JudgeMoved, naming the group
        now).  A ``request_id`` already done returns its first receipt, whatever the group.

        Raises AdminOnly, NotJudge, AssignmentClosed, JudgeMoved, NoSuchGroup, JudgeInGroup.
        """

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            j = t.judges.c
            found = conn.execute(
                sa.select(j.group_no, j.user_id).where(j.round_id == round_id, j.pseudonym == judge)
            ).first()
            if found is None:
                raise e.NotJudge()
            event = rules.decide_assign_judge(
                rnd, judge=judge, current=found.group_no, group=group, expected=from_group
            )
            conn.execute(
                sa.update(t.judges)
                .where(j.round_id == round_id, j.pseudonym == judge)
                .values(group_no=group)
            )
            # In the move's transaction: a retried press queues nothing more; the outbox
            # sender adds the button that opens the judge's first card (NOTICE_BUTTONS).
            count = len(self._expected(conn, rnd, found.user_id, group))
            params: dict[str, JSON] = {"round": rnd.rules.title, "count": count}
            key = "participation.notice.judge_assigned_all"
            if group is not None:
                params["group"] = group
                key = "participation.notice.judge_assigned"
            self._notify(conn, [found.user_id], key, params, now, duty=True)
            return Plan(
                event=event,
                actor=self.actor("official", round_id, official_id),
                round_id=round_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def _judge(self, conn: sa.Connection, round_id: str, user_id: int) -> int | None:
        is_judge, group = repo.judge_group(conn, round_id, user_id)
        if not is_judge:
            raise e.NotJudge()
        return group

    def _judging(self, conn: sa.Connection, user_id: int, proposal_id: str) -> Judging:
        """Return what a judge's score or recusal is decided on: the proposal, its round, the
        judge's group (NotJudge when they are none), their enrollment in the round (their
        community) and whether they recused themselves."""
        p = repo.proposal_state(conn, proposal_id)
        group = self._judge(conn, p.round_id, user_id)
        rnd = repo.round_state(conn, p.round_id)
        recused = repo.exists(
            conn, t.recusals, round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
        )
        enrollment = repo.enrollment(conn, p.round_id, user_id)
        return Judging(p, rnd, group, enrollment, recused)

    def judge_check(self, user_id: int, proposal_id: str) -> None:
        """Raise what refuses any score or recusal of the proposal by the judge now (read
        only; ``rules.check_judging``): NotJudge, NotAssigned, OwnProposal, RecusedProposal,
        a phase or deadline error.  For a card the judge's list no longer holds."""
        with self._engine.connect() as conn:
            p, rnd, group, enrollment, recused = self._judging(conn, user_id, proposal_id)
        rules.check_judging(
            rnd,
            p,
            judge_group=group,
            user_id=user_id,
            enrollment=enrollment,
            recused=recused,
            now=self._now(),
        )

    def score(
        self,
        user_id: int,
        proposal_id: str,
        scores: Mapping[str, int],
        *,
        request_id: str | None = None,
    ) -> Receipt:
        """Record (or change, until the deadline) a judge's per-criterion scores."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            p, rnd, group, enrollment, recused = self._judging(conn, user_id, proposal_id)
            event = rules.decide_judge_score(
                rnd,
                p,
                judge_group=group,
                user_id=user_id,
                enrollment=enrollment,
                recused=recused,
                scores=scores,
                now=now,
            )
            js = t.judge_scores.c
            conn.execute(
                sa.delete(t.judge_scores).where(
                    js.round_id == p.round_id, js.user_id == user_id, js.proposal_id == proposal_id
                )
            )
            conn.execute(
                sa.insert(t.judge_scores).values(
                    round_id=p.round_id,
                    user_id=user_id,
                    proposal_id=proposal_id,
                    scores=dict(event.scores),
                    updated_at=now,
                )
            )
            return self.proposal_plan(p, "judge", user_id, event)

        return self._run(plan, request_id=request_id).receipt

    def recuse(self, user_id: int, proposal_id: str, *, request_id: str | None = None) -> Receipt:
        """Declare a conflict of interest; the judge's scores of the proposal stop counting."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            p, rnd, group, enrollment, recused = self._judging(conn, user_id, proposal_id)
            event = rules.decide_recuse(
                rnd,
                p,
                judge_group=group,
                user_id=user_id,
                enrollment=enrollment,
                recused=recused,
                now=now,
            )
            conn.execute(
                sa.insert(t.recusals).values(
                    round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
                )
            )
            js = t.judge_scores.c
            conn.execute(
                sa.delete(t.judge_scores).where(
                    js.round_id == p.round_id, js.user_id == user_id, js.proposal_id == proposal_id
                )
            )
            return self.proposal_plan(p, "judge", user_id, event)

        return self._run(plan, request_id=request_id).receipt

    def _expected(
        self, conn: sa.Connection, rnd: RoundState, user_id: int, group: int | None
    ) -> list[str]:
        """Return the proposals the judge is to score, in number order: those in review of
        ``group`` (None: every group), less the judge's own (``rules.is_judges_own``: theirs,
        or their community's), which are never theirs to score nor counted as missing."""
        p = t.proposals.c
        q = sa.select(p.proposal_id, p.author_id, p.community).where(
            p.round_id == rnd.round_id,
            p.shortlisted.is_(True),
            p.withdrawn.is_(False),
            p.hidden.is_(False),
        )
        if group is not None:
            q = q.where(p.group_no == group)
        enrollment = repo.enrollment(conn, rnd.round_id, user_id)
        return [
            row.proposal_id
            for row in conn.execute(q.order_by(p.number))
            if not rules.is_judges_own(
                rnd.rules,
                author_id=row.author_id,
                community=row.community,
                user_id=user_id,
                enrollment=enrollment,
            )
        ]

    def judge_tasks(self, user_id: int, round_id: str) -> list[JudgeTask]:
        """Return the proposals the judge should score, with their scores so far (their own
        proposals, or their community's, are none of them: see :meth:`_expected`)."""
        with self._engine.connect() as conn:
            group = self._judge(conn, round_id, user_id)
            ids = self._expected(conn, repo.round_state(conn, round_id), user_id, group)
            js, rc = t.judge_scores.c, t.recusals.c
            scored = {
                r.proposal_id: dict(r.scores)
                for r in conn.execute(
                    sa.select(js.proposal_id, js.scores).where(
                        js.round_id == round_id, js.user_id == user_id
                    )
                )
            }
            recused = set(
                conn.execute(
                    sa.select(rc.proposal_id).where(rc.round_id == round_id, rc.user_id == user_id)
                ).scalars()
            )
            cards = repo.cards(
                conn, sa.select(t.proposals).where(t.proposals.c.proposal_id.in_(ids)), None
            )
        by_id = {c.proposal_id: c for c in cards}
        return [
            JudgeTask(card=by_id[pid], scores=scored.get(pid), recused=pid in recused)
            for pid in ids
        ]

    def judge_progress(self, round_id: str) -> list[JudgeProgress]:
        """Return each judge's progress (by pseudonym, never by Telegram id), in the order
        they joined: scores and recusals of the proposals the judge has now, their own left
        out of those and of ``expected`` (a judge moved to another group keeps the earlier
        ones, counted in ``scored_groups``)."""
        out = []
        with self._engine.connect() as conn:
            jc = t.judges.c
            rnd = repo.round_state(conn, round_id)
            judges = conn.execute(
                sa.select(t.judges)
                .where(jc.round_id == round_id)
                .order_by(jc.joined_at, jc.pseudonym)
            ).all()
            for j in judges:
                expected = set(self._expected(conn, rnd, j.user_id, j.group_no))
                scored = self._scored_groups(conn, round_id, j.user_id, expected)
                out.append(
                    JudgeProgress(
                        judge=j.pseudonym,
                        group=j.group_no,
                        scored=scored.pop(-1, 0),
                        recused=len(expected & self._recused(conn, round_id, j.user_id)),
                        expected=len(expected),
                        joined_at=j.joined_at,
                        scored_groups=scored,
                    )
                )
        return out

    def _recused(self, conn: sa.Connection, round_id: str, user_id: int) -> set[str]:
        rc = t.recusals.c
        q = sa.select(rc.proposal_id).where(rc.round_id == round_id, rc.user_id == user_id)
        return set(conn.execute(q).scalars())

    def _scored_groups(
        self, conn: sa.Connection, round_id: str, user_id: int, expected: set[str]
    ) -> dict[int, int]:
        """Count the judge's scores by the proposal's review group (0: none); key -1 counts
        those of ``expected``."""
        js, p = t.judge_scores.c, t.proposals.c
        rows = conn.execute(
            sa.select(js.proposal_id, p.group_no)
            .join(t.proposals, p.proposal_id == js.proposal_id)
            .where(js.round_id == round_id, js.user_id == user_id)
        ).all()
        out: dict[int, int] = {}
        for row in rows:
            out[row.group_no or 0] = out.get(row.group_no or 0, 0) + 1
            if row.proposal_id in expected:
                out[-1] = out.get(-1, 0) + 1
        return out

    def judges_to_remind(self, round_id: str) -> list[int]:
        """Return the Telegram ids of judges who still have proposals to score (their own
        never counts as one)."""
        out = []
        with self._engine.connect() as conn:
            jc = t.judges.c  # an erased judge's tombstone (negative) has no chat
            rnd = repo.round_state(conn, round_id)
            for j in conn.execute(
                sa.select(t.judges).where(jc.round_id == round_id, erasure.has_chat(jc.user_id))
            ):
                expected = set(self._expected(conn, rnd, j.user_id, j.group_no))
                done = self._scored_groups(conn, round_id, j.user_id, expected).get(-1, 0)
                done += len(expected & self._recused(conn, round_id, j.user_id))
                if done < len(expected):
                    out.append(j.user_id)
        return sorted(out)
