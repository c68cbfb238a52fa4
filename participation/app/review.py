"""The review: groups, on-site sessions and paper tallies, online likes (judges: judges.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from participation.app.base import Ahead
from participation.app.base import Done
from participation.app.base import Plan
from participation.app.base import earlier
from participation.app.base import recorded
from participation.app.residents import PressWrites
from participation.app.residents import claim_press
from participation.app.reviewday import OnlineBallot
from participation.app.reviewday import OnsiteBallot
from participation.app.reviewday import ReviewDay
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain import rules
from participation.domain.events import JSON
from participation.domain.model import ProposalState
from participation.domain.model import RoundState
from participation.store import driver
from participation.store import repo
from participation.store import tables as t
from participation.views import Receipt


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteScoreGiven:
    """An on-site score given: the on-site ballot as the person sees it now, and its tokens
    (for the ``issue`` of :meth:`Review.press_onsite_score`, in order)."""

    ballot: OnsiteBallot
    tokens: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class LikeToggled:
    """A like toggled: the online ballot as the person sees it now, and its tokens (for the
    ``issue`` of :meth:`Review.toggle_like`, in order)."""

    ballot: OnlineBallot
    tokens: list[str]


class Review(ReviewDay):
    """Review groups, on-site and online voting, paper tallies."""

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

    # --- on site ------------------------------------------------------------------------------
    def open_onsite_session(
        self, official_id: int, round_id: str, *, group: int | None = None
    ) -> str:
        """Open an on-site session (for one review group, or the hall); return its id."""
        session_id = secrets.token_hex(4)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id, admin=False)
            rnd = repo.round_state(conn, round_id)
            rules.require_phase(rnd, ("review",), action="open_session", now=now,
                                deadline=rnd.rules.deadlines.review_ends)  # fmt: skip
            if group is not None and not 1 <= group <= len(rnd.groups):
                raise e.WrongGroup(group=group)
            s = t.sessions.c
            number = conn.execute(  # under the writer's lock: no two get the same number
                sa.select(sa.func.coalesce(sa.func.max(s.number), 0) + 1).where(
                    s.round_id == round_id
                )
            ).scalar_one()
            conn.execute(
                sa.insert(t.sessions).values(
                    session_id=session_id,
                    round_id=round_id,
                    group_no=group,
                    secret=secrets.token_hex(32),
                    open=True,
                    opened_at=now,
                    number=number,
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
        """Close an on-site session: no more check-ins or on-site scores through it.

        Its ``closed_at`` is the moment the close is applied (in the writer, with its entry),
        not when the official's press was received: what was received before that moment
        counts, whether it is applied before the close or after it (the hall's presses and
        the official's press wait in different queues).
        """

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id, admin=False)
            state, _ = repo.session(conn, session_id)
            if not state.open:
                raise e.Closed(session=session_id)
            conn.execute(
                sa.update(t.sessions)
                .where(t.sessions.c.session_id == session_id)
                .values(open=False, closed_at=self._clock_now())
            )
            return Plan(
                event=ev.OnsiteClosed(session=session_id),
                actor=self.actor("official", state.round_id, official_id),
                round_id=state.round_id,
                subject=session_id,
            )

        return self._run(plan).receipt

    def onsite_code(self, session_id: str, now: dt.datetime | None = None) -> str:
        """Return the session's current code (rotates every 30 s, accepted for 60 s).  Raises
        Closed for a closed session, DeadlinePassed (as a check-in would be refused) from the
        review's deadline on, while the round may still wait in review for presses received
        before it."""
        at = self._at(now)
        with self._engine.connect() as conn:
            state, secret = repo.session(conn, session_id)
            rnd = repo.round_state(conn, state.round_id)
        if not state.open:
            raise e.Closed(session=session_id)
        review_ends = rnd.rules.deadlines.review_ends
        rules.require_phase(rnd, ("review",), action="check_in", now=at, deadline=review_ends)
        return rules.onsite_code(secret, session_id, at)

    def check_in(
        self,
        user_id: int,
        code: str,
        *,
        scanned_at: int | None = None,
        request_id: str | None = None,
    ) -> Receipt:
        """Mark the person present with a scanned on-site code.

        ``scanned_at``: when the person sent the code (the epoch second Telegram stamped on
        their message); the code is checked at that moment (``rules.scan_time``), so a scan
        that waited in a queue or through a newcomer's registration still counts.
        """
        return self._check_in(user_id, code, scanned_at=scanned_at, request_id=request_id).receipt

    def _check_in(
        self, user_id: int, code: str, *, scanned_at: int | None, request_id: str | None
    ) -> Done:
        """:meth:`check_in`'s outcome: ``already`` when the person scanned the code of the
        session they are checked in to, still their current one; then nothing is written and
        the receipt is that of their check-in there.

        The presence row keeps its entry's ledger index and leaf hash: two check-ins in the
        same second are ordered by it (:func:`repo.newest_presence_first`), and it is the
        receipt of a scan again.

        A person who erased their data and scans their session again is checked in there
        already, not anew. The erasure deleted their receipts but kept the presence (re-keyed
        to their tombstone, given back by ``_reclaim`` before anything is read), as it keeps
        their endorsements and scores, so that a return counts against what the ledger holds
        under their pseudonym, which the erasure does not change (it is derived from the user
        id). A second onsite.checked_in entry would record under that same pseudonym a
        check-in the ledger already has, which no one who kept their data can cause: a public
        mark that this person came back after an erasure. So nothing is written, the answer
        is the receipt kept in the presence row, and their receipts stay erased (a receipt
        row would link the Telegram id to the entry again). Only a presence from before
        migration 0009 whose receipt was erased has no entry to answer with: that scan is
        recorded anew, as before, and from then on has one.
        """
        session_id, mac = rules.parse_onsite_code(code)

        def plan(conn: sa.Connection, now: int) -> Plan | Done:
            state, secret = repo.session(conn, session_id)
            rules.verify_onsite_code(secret, session_id, mac, rules.scan_time(now, scanned_at))
            self._reclaim(conn, user_id)  # a returning person's scores count against them
            rnd = repo.round_state(conn, state.round_id)
            current = repo.present_session(conn, state.round_id, user_id, now)
            here = None if current is None else current.session_id
            event = rules.decide_check_in(rnd, state, current=here, now=now)
            pr = t.presences.c
            if event is None:
                done = _presence_entry(conn, session_id, user_id)
                done = done or earlier(conn, user_id, ev.OnsiteCheckedIn.kind, session_id)
                if done is not None:
                    return done
                event = ev.OnsiteCheckedIn(session=session_id)  # no entry kept: see above
            conn.execute(
                sa.delete(t.presences).where(pr.session_id == session_id, pr.user_id == user_id)
            )

            def present(receipt: Receipt) -> None:
                conn.execute(
                    sa.insert(t.presences).values(
                        session_id=session_id,
                        user_id=user_id,
                        at=now,
                        ledger_index=receipt.index,
                        leaf_hash=receipt.leaf_hash.hex(),
                    )
                )

            return Plan(
                event=event,
                actor=self.actor("resident", state.round_id, user_id),
                round_id=state.round_id,
                subject=session_id,
                user_id=user_id,
                after=present,
            )

        return self._run(plan, request_id=request_id)

    def _session_round(self, session_id: str) -> str:
        with self._read_once() as conn:
            return repo.session(conn, session_id)[0].round_id

    def onsite_score(
        self, user_id: int, proposal_id: str, score: int, *, request_id: str | None = None
    ) -> Receipt:
        """Record (or change) a present person's on-site score of a proposal."""
        plan = self._onsite_score_plan(user_id, proposal_id, score, None)
        return self._run(plan, request_id=request_id).receipt

    def _onsite_score_plan(
        self, user_id: int, proposal_id: str, score: int, press: PressWrites | None
    ) -> Callable[[sa.Connection, int], Plan]:
        """An on-site score decided under the lock (``press``: as :meth:`_like_plan`)."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            if press is not None:
                press.apply(conn, now)
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
                session=repo.present_session(conn, p.round_id, user_id, now),
                user_id=user_id,
                enrollment=enrollment,
                voter_group=voter_group,
                score=score,
                now=now,
            )
            key = (p.round_id, user_id, proposal_id)
            conn.exec_driver_sql(driver.sql(conn, driver.DELETE_ONSITE_SCORE), key)
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

        return plan

    def press_onsite_score(
        self,
        user_id: int,
        proposal_id: str,
        score: int,
        *,
        button: str | None = None,
        issue: Callable[[OnsiteBallot], Sequence[tuple[str, dict[str, JSON]]]] = lambda b: (),
        ttl_s: int = 3600,
        request_id: str | None = None,
    ) -> OnsiteScoreGiven:
        """Record (or change) a present person's on-site score; return the on-site ballot as
        it is now.

        As :meth:`toggle_like`: ``button`` is used up and tokens for ``issue(ballot)`` stored
        in the ledger entry's transaction. Raises what :meth:`onsite_score` raises, and
        ButtonExpired when another press used ``button`` first.

        Before the writer, one statement reads the request's outcome, the proposal, its round,
        the person's enrollment and their community's group, their present open session,
        whether they count online, their on-site scores and the button, and decides the score
        early; the writer runs a conditional claim that re-checks what the rule read (and the
        score of the proposal as read, none or the one changed). A second statement reads the
        ballot's cards; the ballot returned is that one with this score. When the claim finds
        the state changed (or for a retried request) the score is decided again under the lock
        and the ballot read after the commit.
        """
        press = PressWrites(user_id=user_id, token=button, rows=[], request_id=request_id)
        fast: list[bool] = []  # set by the early decision's writes
        with self._read_once() as conn:
            early, ballot = self._onsite_score_ahead(conn, user_id, proposal_id, score, press, fast)
        if ballot is not None:
            press.rows = repo.button_rows(user_id, issue(ballot), self._now() + ttl_s)
        plan = self._onsite_score_plan(user_id, proposal_id, score, press)
        self._run_decided(plan, early, request_id)
        if ballot is not None and fast:
            ballot = dataclasses.replace(ballot, scores={**ballot.scores, proposal_id: score})
            return OnsiteScoreGiven(ballot=ballot, tokens=[str(r["token"]) for r in press.rows])
        round_id = ballot.round_id if ballot is not None else self._round_of(proposal_id)
        after = self.onsite_ballot(user_id, round_id)
        tokens = self._redrawn_tokens(user_id, press, ballot, after, issue(after), ttl_s)
        return OnsiteScoreGiven(ballot=after, tokens=tokens)

    def _onsite_score_ahead(
        self,
        conn: sa.Connection,
        user_id: int,
        proposal_id: str,
        score: int,
        press: PressWrites,
        fast: list[bool],
    ) -> tuple[Ahead | Done | None, OnsiteBallot | None]:
        """Return the early decision of an on-site score press (as Base._decide_ahead) and the
        ballot as read before it (None: no such proposal, or none to show)."""
        request_id = press.request_id
        now = self._now()
        found, button, outcome = repo.onsite_state(
            conn, user_id, proposal_id, press.token, request_id, now
        )
        if found is None:  # no such proposal: a recorded outcome still comes first
            return self._stored(conn, request_id), None
        p, rnd, session, n = found.proposal, found.round, found.session, found.enrollment
        ballot = None
        if session is not None:
            scores = {pid: v for pid, (_, v) in found.scores.items()}
            with contextlib.suppress(e.NotRepresentative):
                ballot = self._onsite_ballot(
                    conn, user_id, rnd, session, n, found.voter_group, scores
                )
        if outcome is not None:
            return recorded(outcome), ballot
        try:
            online = found.liked or (n is not None and n.online_group is not None)
            counted = "onsite" if found.scores else "online" if online else None
            rules.check_one_channel("onsite", counted)
            event = rules.decide_onsite_score(
                rnd, p, session=session, user_id=user_id, enrollment=n,
                voter_group=found.voter_group, score=score, now=now,
            )  # fmt: skip
            press.check_row(button, now)
        except e.ParticipationError:
            return None, ballot
        claim, undo = _onsite_claim(found, event.session, user_id, score, request_id, now)
        return self._review_ahead(p, rnd, user_id, event, press, (claim, undo), fast), ballot

    def _review_ahead(
        self,
        p: ProposalState,
        rnd: RoundState,
        user_id: int,
        event: ev.Event,
        press: PressWrites,
        claim: tuple[tuple[str, Sequence[Any]], tuple[str, Sequence[Any]]],
        fast: list[bool],
    ) -> Ahead:
        """The early decision of a review-day press on ``p``: its claim and undo (driver SQL
        text, parameters; see :func:`claim_press`), then the press's stored tokens; ``fast``
        is set when the writer ran it."""

        def writes(conn: sa.Connection, now: int) -> None:
            press.store(conn)
            fast.append(True)

        return Ahead(
            plan=self.proposal_plan(p, "resident", user_id, event),
            claim=lambda conn, now: claim_press(conn, now, press, *claim),
            writes=writes,
            valid_until=rnd.rules.deadlines.review_ends,
            claims_request=True,
        )

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
        return self._run(self._like_plan(user_id, proposal_id, None), request_id=request_id).receipt

    def _like_plan(
        self, user_id: int, proposal_id: str, press: PressWrites | None
    ) -> Callable[[sa.Connection, int], Plan]:
        """A like decided under the lock (``press``: its button writes, made first)."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            if press is not None:
                press.apply(conn, now)
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
            row = (p.round_id, user_id, proposal_id)
            conn.exec_driver_sql(driver.sql(conn, driver.INSERT_LIKE), row)
            return self.proposal_plan(p, "resident", user_id, event)

        return plan

    def unlike(self, user_id: int, proposal_id: str, *, request_id: str | None = None) -> Receipt:
        """Take back a like before the review deadline."""
        plan = self._unlike_plan(user_id, proposal_id, None)
        return self._run(plan, request_id=request_id).receipt

    def _unlike_plan(
        self, user_id: int, proposal_id: str, press: PressWrites | None
    ) -> Callable[[sa.Connection, int], Plan]:
        """Taking a like back, decided under the lock (``press``: as :meth:`_like_plan`)."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            if press is not None:
                press.apply(conn, now)
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            liked = repo.exists(
                conn, t.likes, round_id=p.round_id, user_id=user_id, proposal_id=proposal_id
            )
            event = rules.decide_unlike(rnd, p, liked=liked, now=now)
            row = (p.round_id, user_id, proposal_id)
            conn.exec_driver_sql(driver.sql(conn, driver.DELETE_LIKE), row)
            return self.proposal_plan(p, "resident", user_id, event)

        return plan

    def toggle_like(
        self,
        user_id: int,
        proposal_id: str,
        *,
        button: str | None = None,
        issue: Callable[[OnlineBallot], Sequence[tuple[str, dict[str, JSON]]]] = lambda b: (),
        ttl_s: int = 3600,
        request_id: str | None = None,
    ) -> LikeToggled:
        """Like a proposal, or take the like back; return the online ballot as it is now.

        ``button`` (the pressed single-use token) is used up and tokens for ``issue(ballot)``
        (the redrawn ballot's buttons, in order) are stored in the same transaction as the
        ledger entry. Raises what :meth:`like` / :meth:`unlike` raise, and ButtonExpired when
        another press used ``button`` first.

        Before the writer, one statement reads the request's outcome, the proposal, its round,
        the person's registration, enrollment, on-site score and likes, and the button: it
        decides which of the two it is and decides it early (see Base._run), and the writer
        runs a conditional claim that re-checks what the rule read. A second statement reads
        the ballot's cards (for display only, so the two need no transaction around them); the
        ballot returned is that one with this like toggled. When the claim finds the state
        changed (or for a retried request) the press is decided again under the lock and the
        ballot read after the commit.
        """
        press = PressWrites(user_id=user_id, token=button, rows=[], request_id=request_id)
        fast: list[bool] = []  # set by the early decision's writes
        with self._read_once() as conn:
            early, ballot = self._toggle_like_ahead(conn, user_id, proposal_id, press, fast)
        liked = ballot is not None and proposal_id in ballot.liked
        if ballot is not None:
            press.rows = repo.button_rows(user_id, issue(ballot), self._now() + ttl_s)
        make_plan = self._unlike_plan if liked else self._like_plan
        self._run_decided(make_plan(user_id, proposal_id, press), early, request_id)
        if ballot is not None and fast:
            toggled = ballot.liked ^ {proposal_id}
            ballot = dataclasses.replace(ballot, liked=toggled)
            return LikeToggled(ballot=ballot, tokens=[str(r["token"]) for r in press.rows])
        return self._like_redrawn(user_id, proposal_id, press, ballot, issue, ttl_s)

    def _like_redrawn(
        self,
        user_id: int,
        proposal_id: str,
        press: PressWrites,
        before: OnlineBallot | None,
        issue: Callable[[OnlineBallot], Sequence[tuple[str, dict[str, JSON]]]],
        ttl_s: int,
    ) -> LikeToggled:
        """The ballot after a like press decided under the lock (or a retry), read after the
        commit, with its tokens (see :meth:`_redrawn_tokens`)."""
        round_id = before.round_id if before is not None else self._round_of(proposal_id)
        ballot = self.online_ballot(user_id, round_id)
        tokens = self._redrawn_tokens(user_id, press, before, ballot, issue(ballot), ttl_s)
        return LikeToggled(ballot=ballot, tokens=tokens)

    def _redrawn_tokens(
        self,
        user_id: int,
        press: PressWrites,
        before: OnlineBallot | OnsiteBallot | None,
        after: OnlineBallot | OnsiteBallot,
        buttons: Sequence[tuple[str, dict[str, JSON]]],
        ttl_s: int,
    ) -> list[str]:
        """The tokens of a ballot read after a press decided under the lock (or a retry): the
        ones the press stored, or ``buttons`` (``after``'s) issued again when none were stored
        or the cards changed since ``before``."""
        rows = press.rows
        same = before is not None and _ids(before) == _ids(after)
        if not (same and press.applied):
            rows = repo.button_rows(user_id, buttons, self._now() + ttl_s)
            if rows:
                with self._begin() as conn:
                    repo.insert_buttons(conn, rows)
        return [str(r["token"]) for r in rows]

    def _round_of(self, proposal_id: str) -> str:
        with self._engine.connect() as conn:
            return repo.proposal_state(conn, proposal_id).round_id

    def _toggle_like_ahead(
        self,
        conn: sa.Connection,
        user_id: int,
        proposal_id: str,
        press: PressWrites,
        fast: list[bool],
    ) -> tuple[Ahead | Done | None, OnlineBallot | None]:
        """Return the early decision of a like press (as Base._decide_ahead) and the ballot as
        read before it (None: no such proposal)."""
        request_id = press.request_id
        found, button, outcome = repo.like_state(
            conn, user_id, proposal_id, press.token, request_id
        )
        if found is None:  # no such proposal: a recorded outcome still comes first
            return self._stored(conn, request_id), None
        p, rnd, liked = found.proposal, found.round, found.liked
        ballot = self._online_ballot(conn, user_id, rnd, found.enrollment, liked)
        if outcome is not None:
            return recorded(outcome), ballot
        now = self._now()
        try:
            if proposal_id in liked:
                event: ev.Event = rules.decide_unlike(rnd, p, liked=True, now=now)
                row = (p.round_id, user_id, proposal_id, p.round_id, rnd.phase,
                       *_same_likes(found, user_id), request_id)  # fmt: skip
                claim = (driver.unlike_claim(len(liked)), row)
                undo = (driver.INSERT_LIKE, (p.round_id, user_id, proposal_id))
            else:
                event = self._decide_like(found, user_id, now)
                claim = _like_claim(found, user_id, request_id)
                undo = (driver.DELETE_LIKE, (p.round_id, user_id, proposal_id))
            press.check_row(button, now)
        except e.ParticipationError:
            return None, ballot
        return self._review_ahead(p, rnd, user_id, event, press, (claim, undo), fast), ballot

    @staticmethod
    def _decide_like(found: repo.LikeState, user_id: int, now: int) -> ev.Event:
        """decide_like (and the one-channel check) on what the press read before the writer."""
        if not found.registered:
            raise e.NotRegistered()
        enrollment = found.enrollment
        chosen = enrollment.online_group if enrollment else None
        real = enrollment if enrollment is None or enrollment.role != "open" else None
        event = rules.decide_like(
            found.round,
            found.proposal,
            user_id=user_id,
            enrollment=real,
            chosen=chosen,
            liked=False,
            likes=len(found.liked),
            now=now,
        )
        rules.check_one_channel("online", "onsite" if found.onsite else None)
        return event


def _ids(ballot: OnlineBallot | OnsiteBallot) -> list[str]:
    return [c.proposal_id for c in ballot.cards]


def _like_claim(
    found: repo.LikeState, user_id: int, request_id: str | None
) -> tuple[str, tuple[Any, ...]]:
    """The claim of a like decided before the writer on ``found``: see ``driver.like_claim``."""
    p, rnd, n = found.proposal, found.round, found.enrollment
    rid, pid = p.round_id, p.proposal_id
    row: tuple[Any, ...] = (rid, user_id, pid, user_id, pid, False, False, True,
                            found.group_no or 0, rid, rnd.phase, rid, user_id,
                            *_same_likes(found, user_id), request_id, rid, user_id)  # fmt: skip
    text = driver.like_claim(len(found.liked), n is not None)
    if n is None:
        return text, row
    chosen = -1 if n.online_group is None else n.online_group
    return text, (*row, n.community, n.role, chosen)


def _same_likes(found: repo.LikeState, user_id: int) -> tuple[Any, ...]:
    """The parameters of ``driver.same_likes`` for the likes in ``found``."""
    rid, n = found.proposal.round_id, len(found.liked)
    if not n:
        return (rid, user_id, 0)
    return (rid, user_id, n, rid, user_id, *sorted(found.liked), n)


def _onsite_claim(
    found: repo.OnsiteState,
    session_id: str,
    user_id: int,
    score: int,
    request_id: str | None,
    now: int,
) -> tuple[tuple[str, tuple[Any, ...]], tuple[str, tuple[Any, ...]]]:
    """The claim and its undo of an on-site score decided before the writer on ``found``
    (into session ``session_id``, open at ``now``): see ``driver.onsite_score_claim``."""
    p, n = found.proposal, found.enrollment
    rid, pid = p.round_id, p.proposal_id
    key = (rid, user_id, pid)
    checks = (pid, p.withdrawn, p.hidden, p.shortlisted, found.group_no or 0, rid,
              found.round.phase, rid, user_id, now, session_id, rid, user_id, request_id,
              rid, user_id)  # fmt: skip
    enrolled = () if n is None else (n.community, n.role, -1)  # no online group: not counted
    text = driver.onsite_score_claim(pid in found.scores, n is not None)
    if pid in found.scores:
        was = found.scores[pid]
        row: tuple[Any, ...] = (session_id, score, *key, *was, *checks, *enrolled)
        return (text, row), (driver.SET_ONSITE_SCORE, (*was, *key))
    row = (*key, session_id, score, *key, *checks, *enrolled)
    return (text, row), (driver.DELETE_ONSITE_SCORE, key)


def _presence_entry(conn: sa.Connection, session_id: str, user_id: int) -> Done | None:
    """Return the check-in kept in the person's presence row in the session as an earlier
    outcome (``already``), or None (a row from before migration 0009 kept no entry)."""
    pr = t.presences.c
    row = conn.execute(
        sa.select(pr.ledger_index, pr.leaf_hash).where(
            pr.session_id == session_id, pr.user_id == user_id
        )
    ).first()
    if row is None or row.ledger_index is None or row.leaf_hash is None:
        return None
    receipt = Receipt(index=row.ledger_index, leaf_hash=bytes.fromhex(row.leaf_hash))
    return Done(receipt=receipt, subject=session_id, already=True)
