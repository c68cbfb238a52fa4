"""The review: groups, judges, on-site sessions and paper tallies, online likes."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping

import sqlalchemy as sa

from participation.app.base import Base
from participation.app.base import Plan
from participation.app.base import code_hash
from participation.app.base import new_code
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain import rules
from participation.store import repo
from participation.store import tables as t
from participation.views import JudgeProgress
from participation.views import JudgeTask
from participation.views import Receipt


class Review(Base):
    """Review groups, judges' scores and recusals, on-site and online voting."""

    def form_review_groups(self, official_id: int, round_id: str) -> list[list[str]]:
        """Split the shortlist into review groups of at most ``review_group_size``."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            listed = [p for p in repo.proposal_states(conn, round_id, shortlisted=True)]
            event = rules.decide_form_groups(rnd, listed)
            conn.execute(
                sa.update(t.rounds)
                .where(t.rounds.c.round_id == round_id)
                .values(groups=[list(g) for g in event.groups])
            )
            for number, members in enumerate(event.groups, start=1):
                conn.execute(
                    sa.update(t.proposals)
                    .where(t.proposals.c.proposal_id.in_(list(members)))
                    .values(group_no=number)
                )
            return Plan(
                event=event, actor=self.actor("official", round_id, official_id), round_id=round_id
            )

        self._run(plan)
        with self._engine.connect() as conn:
            return [list(g) for g in repo.round_state(conn, round_id).groups]

    # --- judges -------------------------------------------------------------------------------
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
        self, official_id: int, round_id: str, judge_user_id: int, group: int | None
    ) -> Receipt:
        """Assign a judge to a review group (None: every group)."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            is_judge, _ = repo.judge_group(conn, round_id, judge_user_id)
            if not is_judge:
                raise e.NotJudge()
            if group is not None and rnd.groups and not 1 <= group <= len(rnd.groups):
                raise e.WrongGroup(group=group)
            j = t.judges.c
            conn.execute(
                sa.update(t.judges)
                .where(j.round_id == round_id, j.user_id == judge_user_id)
                .values(group_no=group)
            )
            return Plan(
                event=ev.JudgeAssigned(
                    judge=self.actor("judge", round_id, judge_user_id), group=group
                ),
                actor=self.actor("official", round_id, official_id),
                round_id=round_id,
            )

        return self._run(plan).receipt

    def _judge(self, conn: sa.Connection, round_id: str, user_id: int) -> int | None:
        is_judge, group = repo.judge_group(conn, round_id, user_id)
        if not is_judge:
            raise e.NotJudge()
        return group

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
            p = repo.proposal_state(conn, proposal_id)
            group = self._judge(conn, p.round_id, user_id)
            rnd = repo.round_state(conn, p.round_id)
            recused = repo.exists(
                conn, t.recusals, round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
            )
            event = rules.decide_judge_score(
                rnd, p, judge_group=group, recused=recused, scores=scores, now=now
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
            p = repo.proposal_state(conn, proposal_id)
            group = self._judge(conn, p.round_id, user_id)
            rnd = repo.round_state(conn, p.round_id)
            recused = repo.exists(
                conn, t.recusals, round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
            )
            event = rules.decide_recuse(rnd, p, judge_group=group, recused=recused, now=now)
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

    def _expected(self, conn: sa.Connection, round_id: str, group: int | None) -> list[str]:
        p = t.proposals.c
        q = sa.select(p.proposal_id).where(
            p.round_id == round_id,
            p.shortlisted.is_(True),
            p.withdrawn.is_(False),
            p.hidden.is_(False),
        )
        if group is not None:
            q = q.where(p.group_no == group)
        return list(conn.execute(q.order_by(p.number)).scalars())

    def judge_tasks(self, user_id: int, round_id: str) -> list[JudgeTask]:
        """Return the proposals the judge should score, with their scores so far."""
        with self._engine.connect() as conn:
            group = self._judge(conn, round_id, user_id)
            ids = self._expected(conn, round_id, group)
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
        """Return each judge's progress (by pseudonym, never by Telegram id)."""
        out = []
        with self._engine.connect() as conn:
            judges = conn.execute(
                sa.select(t.judges)
                .where(t.judges.c.round_id == round_id)
                .order_by(t.judges.c.pseudonym)
            ).all()
            for j in judges:
                expected = set(self._expected(conn, round_id, j.group_no))
                scored = repo.count(conn, t.judge_scores, round_id=round_id, user_id=j.user_id)
                recused = repo.count(conn, t.recusals, round_id=round_id, user_id=j.user_id)
                out.append(
                    JudgeProgress(
                        judge=j.pseudonym,
                        group=j.group_no,
                        scored=scored,
                        recused=recused,
                        expected=len(expected),
                    )
                )
        return out

    def judges_to_remind(self, round_id: str) -> list[int]:
        """Return the Telegram ids of judges who still have proposals to score."""
        out = []
        with self._engine.connect() as conn:
            for j in conn.execute(sa.select(t.judges).where(t.judges.c.round_id == round_id)):
                expected = len(self._expected(conn, round_id, j.group_no))
                done = repo.count(conn, t.judge_scores, round_id=round_id, user_id=j.user_id)
                done += repo.count(conn, t.recusals, round_id=round_id, user_id=j.user_id)
                if done < expected:
                    out.append(j.user_id)
        return sorted(out)

    # --- on site ------------------------------------------------------------------------------
    def open_onsite_session(
        self, official_id: int, round_id: str, *, group: int | None = None
    ) -> str:
        """Open an on-site session (for one review group, or the hall); return its id."""
        session_id = secrets.token_hex(4)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id, admin=False)
            rnd = repo.round_state(conn, round_id)
            rules.require_phase(rnd, ("review",), action="open_session", now=now, deadline=None)
            if group is not None and not 1 <= group <= len(rnd.groups):
                raise e.WrongGroup(group=group)
            conn.execute(
                sa.insert(t.sessions).values(
                    session_id=session_id,
                    round_id=round_id,
                    group_no=group,
                    secret=secrets.token_hex(32),
                    open=True,
                    opened_at=now,
                )
            )
            return Plan(
                event=ev.OnsiteOpened(session=session_id, group=group),
                actor=self.actor("official", round_id, official_id),
                round_id=round_id,
                subject=session_id,
            )

        self._run(plan)
        return session_id

    def close_onsite_session(self, official_id: int, session_id: str) -> Receipt:
        """Close an on-site session: no more check-ins or on-site scores through it."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id, admin=False)
            state, _ = repo.session(conn, session_id)
            if not state.open:
                raise e.Closed(session=session_id)
            conn.execute(
                sa.update(t.sessions)
                .where(t.sessions.c.session_id == session_id)
                .values(open=False)
            )
            return Plan(
                event=ev.OnsiteClosed(session=session_id),
                actor=self.actor("official", state.round_id, official_id),
                round_id=state.round_id,
                subject=session_id,
            )

        return self._run(plan).receipt

    def onsite_code(self, session_id: str, now: dt.datetime | None = None) -> str:
        """Return the session's current code (rotates every 30 s, accepted for 60 s)."""
        with self._engine.connect() as conn:
            state, secret = repo.session(conn, session_id)
        if not state.open:
            raise e.Closed(session=session_id)
        return rules.onsite_code(secret, session_id, self._at(now))

    def check_in(self, user_id: int, code: str, *, request_id: str | None = None) -> Receipt:
        """Mark the person present with a scanned on-site code."""
        session_id, mac = rules.parse_onsite_code(code)

        def plan(conn: sa.Connection, now: int) -> Plan:
            state, secret = repo.session(conn, session_id)
            rules.verify_onsite_code(secret, session_id, mac, now)
            rnd = repo.round_state(conn, state.round_id)
            event = rules.decide_check_in(rnd, state, now=now)
            pr = t.presences.c
            conn.execute(
                sa.delete(t.presences).where(pr.session_id == session_id, pr.user_id == user_id)
            )
            conn.execute(
                sa.insert(t.presences).values(session_id=session_id, user_id=user_id, at=now)
            )
            return Plan(
                event=event,
                actor=self.actor("resident", state.round_id, user_id),
                round_id=state.round_id,
                subject=session_id,
                user_id=user_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def onsite_score(
        self, user_id: int, proposal_id: str, score: int, *, request_id: str | None = None
    ) -> Receipt:
        """Record (or change) a present person's on-site score of a proposal."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            enrollment = repo.enrollment(conn, p.round_id, user_id)
            voter_group = None
            if enrollment is not None:
                pc = t.proposals.c
                voter_group = conn.execute(
                    sa.select(pc.group_no).where(
                        pc.round_id == p.round_id,
                        pc.community == enrollment.community,
                        pc.withdrawn.is_(False),
                    )
                ).scalar()
            rules.check_one_channel("onsite", repo.counted_channel(conn, p.round_id, user_id))
            event = rules.decide_onsite_score(
                rnd,
                p,
                session=repo.present_session(conn, p.round_id, user_id),
                user_id=user_id,
                enrollment=enrollment,
                voter_group=voter_group,
                score=score,
                now=now,
            )
            os_ = t.onsite_scores.c
            conn.execute(
                sa.delete(t.onsite_scores).where(
                    os_.round_id == p.round_id,
                    os_.user_id == user_id,
                    os_.proposal_id == proposal_id,
                )
            )
            conn.execute(
                sa.insert(t.onsite_scores).values(
                    round_id=p.round_id,
                    user_id=user_id,
                    proposal_id=proposal_id,
                    session_id=event.session,
                    score=score,
                )
            )
            return self.proposal_plan(p, "resident", user_id, event)

        return self._run(plan, request_id=request_id).receipt

    def enter_paper_tally(
        self,
        official_id: int,
        session_id: str,
        proposal_id: str,
        *,
        ballots: int,
        points: int,
        sheet_sha256: str,
        corrects: str | None = None,
    ) -> str:
        """Enter a paper tally from the hall; it counts once another official confirms it."""
        tally_id = secrets.token_hex(4)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id, admin=False)
            state, _ = repo.session(conn, session_id)
            p = repo.proposal_state(conn, proposal_id)
            if p.round_id != state.round_id:
                raise e.ProposalNotFound(proposal=proposal_id)
            rnd = repo.round_state(conn, state.round_id)
            old = None if corrects is None else repo.paper(conn, corrects)
            event = rules.decide_paper_enter(
                rnd,
                state,
                p,
                tally_id=tally_id,
                ballots=ballots,
                points=points,
                sheet_sha256=sheet_sha256.lower(),
                corrects=old,
            )
            if old is not None:
                conn.execute(
                    sa.update(t.paper_tallies)
                    .where(t.paper_tallies.c.tally_id == old.tally_id)
                    .values(superseded=True)
                )
            conn.execute(
                sa.insert(t.paper_tallies).values(
                    tally_id=tally_id,
                    round_id=state.round_id,
                    session_id=session_id,
                    proposal_id=proposal_id,
                    ballots=ballots,
                    points=points,
                    sheet_sha256=event.sheet_sha256,
                    entered_by=official_id,
                    corrects=event.corrects,
                    superseded=False,
                )
            )
            return Plan(
                event=event,
                actor=self.actor("official", state.round_id, official_id),
                round_id=state.round_id,
                subject=tally_id,
            )

        self._run(plan)
        return tally_id

    def confirm_paper_tally(self, official_id: int, tally_id: str) -> Receipt:
        """Confirm a paper tally entered by another official."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id, admin=False)
            tally = repo.paper(conn, tally_id)
            rnd = repo.round_state(conn, tally.round_id)
            event = rules.decide_paper_confirm(rnd, tally, official_id=official_id)
            conn.execute(
                sa.update(t.paper_tallies)
                .where(t.paper_tallies.c.tally_id == tally_id)
                .values(confirmed_by=official_id)
            )
            return Plan(
                event=event,
                actor=self.actor("official", tally.round_id, official_id),
                round_id=tally.round_id,
                subject=tally_id,
            )

        return self._run(plan).receipt

    # --- online review ------------------------------------------------------------------------
    def _online_voter(self, conn: sa.Connection, user_id: int) -> None:
        known = repo.resident(conn, user_id)
        if known is None or not known.registered:
            raise e.NotRegistered()

    def choose_group(
        self, user_id: int, round_id: str, group: int, *, request_id: str | None = None
    ) -> Receipt:
        """Choose the one review group the online voter will watch and like."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            self._online_voter(conn, user_id)
            rnd = repo.round_state(conn, round_id)
            enrollment = repo.enrollment(conn, round_id, user_id)
            chosen = (
                enrollment.online_group
                if enrollment
                else self._open_choice(conn, round_id, user_id)
            )
            event = rules.decide_choose_group(
                rnd, enrollment=enrollment, chosen=chosen, group=group, now=now
            )
            rules.check_one_channel("online", repo.counted_channel(conn, round_id, user_id))
            self._save_choice(conn, round_id, user_id, group, enrollment is not None)
            return Plan(
                event=event,
                actor=self.actor("resident", round_id, user_id),
                round_id=round_id,
                subject=str(group),
                user_id=user_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def _open_choice(self, conn: sa.Connection, round_id: str, user_id: int) -> int | None:
        # Open rounds keep the choice in an enrollment row of role "open" (no code behind it).
        en = t.enrollments.c
        return conn.execute(
            sa.select(en.online_group).where(en.round_id == round_id, en.user_id == user_id)
        ).scalar()

    def _save_choice(
        self, conn: sa.Connection, round_id: str, user_id: int, group: int, enrolled: bool
    ) -> None:
        en = t.enrollments.c
        if enrolled:
            conn.execute(
                sa.update(t.enrollments)
                .where(en.round_id == round_id, en.user_id == user_id)
                .values(online_group=group)
            )
        else:
            conn.execute(
                sa.insert(t.enrollments).values(
                    round_id=round_id,
                    user_id=user_id,
                    community="",
                    role="open",
                    online_group=group,
                )
            )

    def like(self, user_id: int, proposal_id: str, *, request_id: str | None = None) -> Receipt:
        """Give a like (joayo) to a proposal of the chosen group (at most the round's cap)."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            self._online_voter(conn, user_id)
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            enrollment = repo.enrollment(conn, p.round_id, user_id)
            chosen = enrollment.online_group if enrollment else None
            real = enrollment if enrollment is None or enrollment.role != "open" else None
            event = rules.decide_like(
                rnd,
                p,
                user_id=user_id,
                enrollment=real,
                chosen=chosen,
                liked=repo.exists(
                    conn, t.likes, round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
                ),
                likes=repo.count(conn, t.likes, round_id=p.round_id, user_id=user_id),
                now=now,
            )
            rules.check_one_channel("online", repo.counted_channel(conn, p.round_id, user_id))
            conn.execute(
                sa.insert(t.likes).values(
                    round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
                )
            )
            return self.proposal_plan(p, "resident", user_id, event)

        return self._run(plan, request_id=request_id).receipt

    def unlike(self, user_id: int, proposal_id: str, *, request_id: str | None = None) -> Receipt:
        """Take back a like before the review deadline."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            liked = repo.exists(
                conn, t.likes, round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
            )
            event = rules.decide_unlike(rnd, p, liked=liked, now=now)
            lk = t.likes.c
            conn.execute(
                sa.delete(t.likes).where(
                    lk.round_id == p.round_id, lk.user_id == user_id, lk.proposal_id == proposal_id
                )
            )
            return self.proposal_plan(p, "resident", user_id, event)

        return self._run(plan, request_id=request_id).receipt
