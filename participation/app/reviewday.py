"""Read models and one command for the review day's bot screens (issue 8, additive).

Judges, on-site residents, online voters and officials see what the rules let them do here:
the on-site ballot is exactly the proposals ``onsite_score`` would accept, the online ballot
the ones ``like`` would accept, so a screen never offers a button that can only be refused.
``send_broadcast`` is the official's announcement as a ledger entry (``broadcast.queued``)
with its outbox rows in the same transaction; ``announce_results`` is the same for the
results announcement, whose rows hold a catalog key and params so that each resident reads
it in their own language.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from participation.app.base import Base
from participation.app.base import Plan
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain.events import JSON
from participation.domain.model import Enrollment
from participation.domain.model import OnsiteSession
from participation.domain.model import RoundState
from participation.domain.regions import GYEONGGI
from participation.store import repo
from participation.store import tables as t
from participation.views import ProposalCard

BROADCAST_KEY = "participation.notice.broadcast"  # params: text
RESULTS_KEY = "participation.notice.results"  # params: title, count, channel
BROADCAST_MAX = 3500  # leaves room for the frame within Telegram's 4,096 characters
NUMBER_MAX = 2**31 - 1  # proposal numbers fit a 32-bit column; a larger one names none


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsiteBallot:
    """What a checked-in person may score on site, with their scores so far."""

    round_id: str
    session_id: str
    group: int | None
    scale: int
    cards: list[ProposalCard]
    scores: dict[str, int]
    # The session was closed since: the action that read this ballot was received before the
    # close (and counts), but nothing more can be scored through it.
    closed: bool = False
    review_ends: int | None = None  # the round's review deadline (UTC epoch seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnlineBallot:
    """An online voter's review: the groups, the chosen one, its proposals and their likes."""

    round_id: str
    groups: int  # number of review groups (0: none, every proposal is on one ballot)
    chosen: int | None
    cards: list[ProposalCard]  # of the chosen group (or all), the voter's own left out
    liked: set[str]
    cap: int
    review_ends: int | None = None  # the round's review deadline (UTC epoch seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunityView:
    """A community of the round with its enrollment codes issued and redeemed."""

    community: str
    name: str
    region: str
    issued: int
    redeemed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionView:
    """An on-site session and how many people checked in."""

    session_id: str
    group: int | None
    open: bool
    checkins: int
    opened_at: int  # UTC epoch seconds: people know a session by when it started
    number: int = 0  # 1, 2, ... in the order the round's sessions were opened: two opened
    # in the same minute for the same group are told apart without showing an id
    closed_at: int | None = None  # when it was closed (what was received before counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperView:
    """A paper tally as officials see it (``mine``: entered by the viewer)."""

    tally_id: str
    session_id: str
    proposal_id: str
    number: int
    ballots: int
    points: int
    mine: bool
    confirmed: bool
    superseded: bool
    corrects: str | None


class ReviewDay(Base):
    """Queries behind the judges', on-site and officials' screens; the broadcast command."""

    # --- who is who -----------------------------------------------------------------------------
    def judge_round(self, user_id: int) -> str | None:
        """Return the newest round (not closed) the person judges, or None."""
        j, r = t.judges.c, t.rounds.c
        with self._engine.connect() as conn:
            found: str | None = conn.execute(
                sa.select(j.round_id)
                .join(t.rounds, r.round_id == j.round_id)
                .where(j.user_id == user_id, r.phase != "closed")
                .order_by(r.seq.desc())
            ).scalar()
        return found

    def proposal_by_number(self, round_id: str, number: int, *, viewer: int | None = None) -> str:
        """Return the id of proposal ``number`` of the round.  Raises ProposalNotFound (also
        for a number no proposal can have, which the database's integers would refuse)."""
        if not 0 < number <= NUMBER_MAX:
            raise e.ProposalNotFound(proposal=f"{round_id}-{number}")
        p = t.proposals.c
        with self._engine.connect() as conn:
            found: str | None = conn.execute(
                sa.select(p.proposal_id).where(p.round_id == round_id, p.number == number)
            ).scalar()
        if found is None:
            raise e.ProposalNotFound(proposal=f"{round_id}-{number}")
        return found

    # --- on site and online ---------------------------------------------------------------------
    def _reviewable(self, rnd: RoundState, group: int | None) -> sa.Select:  # type: ignore[type-arg]
        p = t.proposals.c
        q = sa.select(t.proposals).where(
            p.round_id == rnd.round_id,
            p.shortlisted.is_(True),
            p.withdrawn.is_(False),
            p.hidden.is_(False),
        )
        if group is not None:
            q = q.where(p.group_no == group)
        return q.order_by(p.number)

    @staticmethod
    def _not_own(
        cards: list[ProposalCard], rnd: RoundState, enrollment: Enrollment | None
    ) -> list[ProposalCard]:
        if not rnd.rules.own_exclusion:
            return cards
        community = enrollment.community if enrollment is not None else None
        return [
            c for c in cards if not c.is_author and not (community and c.community == community)
        ]

    def checked_in_before(self, user_id: int, round_id: str) -> bool:
        """Return whether the person checked in to any session of the round, open or closed
        since (what tells 'your session ended' from 'scan the QR code first')."""
        s, pr = t.sessions.c, t.presences.c
        query = (
            sa.select(pr.user_id)
            .join(t.sessions, s.session_id == pr.session_id)
            .where(s.round_id == round_id, pr.user_id == user_id)
            .limit(1)
        )
        with self._read_once() as conn:
            return conn.execute(query).first() is not None

    def session_closed_at(self, user_id: int, round_id: str) -> int | None:
        """Return when the session the person last checked in to in the round was closed
        (UTC epoch seconds; what was received before counts), or None: still open, no
        check-in, or closed before the moment was kept."""
        s, pr = t.sessions.c, t.presences.c
        query = (
            sa.select(s.closed_at)
            .join(t.presences, pr.session_id == s.session_id)
            .where(s.round_id == round_id, pr.user_id == user_id)
            .order_by(*repo.newest_presence_first())
            .limit(1)
        )
        with self._read_once() as conn:
            closed: int | None = conn.execute(query).scalar()
        return None if closed is None else int(closed)

    def onsite_ballot(self, user_id: int, round_id: str) -> OnsiteBallot:
        """Return the proposals the person may score on site now.  Raises NotPresent."""
        with self._engine.connect() as conn:
            rnd = repo.round_state(conn, round_id)
            session = repo.present_session(conn, round_id, user_id, self._now())
            if session is None:
                raise e.NotPresent()
            enrollment = repo.enrollment(conn, round_id, user_id)
            own_group = None
            if rnd.rules.peer_scoring and enrollment is not None:
                pc = t.proposals.c
                own_group = conn.execute(
                    sa.select(pc.group_no).where(
                        pc.round_id == round_id,
                        pc.community == enrollment.community,
                        pc.withdrawn.is_(False),
                    )
                ).scalar()
            os_ = t.onsite_scores.c
            scores = {
                row.proposal_id: int(row.score)
                for row in conn.execute(
                    sa.select(os_.proposal_id, os_.score).where(
                        os_.round_id == round_id, os_.user_id == user_id
                    )
                )
            }
            return self._onsite_ballot(conn, user_id, rnd, session, enrollment, own_group, scores)

    def _onsite_ballot(
        self,
        conn: sa.Connection,
        user_id: int,
        rnd: RoundState,
        session: OnsiteSession,
        enrollment: Enrollment | None,
        own_group: int | None,
        scores: dict[str, int],
    ) -> OnsiteBallot:
        """:meth:`onsite_ballot` on the round, present session, enrollment, the review group
        of the person's community and their scores, read by the caller.  Raises
        NotRepresentative."""
        group = session.group
        if rnd.rules.peer_scoring:
            if enrollment is None or enrollment.role != "representative":
                raise e.NotRepresentative()
            if rnd.groups:
                group = own_group
        cards = repo.cards(conn, self._reviewable(rnd, group), user_id)
        return OnsiteBallot(
            round_id=rnd.round_id,
            session_id=session.session_id,
            group=group,
            scale=rnd.rules.onsite_scale,
            cards=self._not_own(cards, rnd, enrollment),
            scores=scores,
            closed=not session.open,
            review_ends=rnd.rules.deadlines.review_ends,
        )

    def online_ballot(self, user_id: int, round_id: str) -> OnlineBallot:
        """Return the online voter's groups, chosen group, its proposals and their likes."""
        with self._engine.connect() as conn:
            rnd = repo.round_state(conn, round_id)
            enrollment = repo.enrollment(conn, round_id, user_id)
            liked = repo.liked(conn, round_id, user_id)
            return self._online_ballot(conn, user_id, rnd, enrollment, liked)

    def _online_ballot(
        self,
        conn: sa.Connection,
        user_id: int,
        rnd: RoundState,
        enrollment: Enrollment | None,
        liked: set[str],
    ) -> OnlineBallot:
        """:meth:`online_ballot` on the round, enrollment and likes read by the caller."""
        chosen = enrollment.online_group if enrollment is not None else None
        grouped = bool(rnd.groups) and rnd.rules.online_one_group
        cards: list[ProposalCard] = []
        if chosen is not None or not grouped:
            query = self._reviewable(rnd, chosen if grouped else None)
            cards = repo.cards(conn, query, user_id)
        return OnlineBallot(
            round_id=rnd.round_id,
            groups=len(rnd.groups) if grouped else 0,
            chosen=chosen,
            cards=self._not_own(cards, rnd, enrollment),
            liked=liked,
            cap=rnd.rules.online_likes_cap,
            review_ends=rnd.rules.deadlines.review_ends,
        )

    # --- officials ------------------------------------------------------------------------------
    def review_figures(self, round_id: str) -> dict[str, int]:
        """Return live participation figures of the round (counts only, nobody named)."""
        p, s, pr = t.proposals.c, t.sessions.c, t.presences.c
        en, lk, os_, pt = t.enrollments.c, t.likes.c, t.onsite_scores.c, t.paper_tallies.c
        ec = t.enrollment_codes.c
        with self._engine.connect() as conn:
            repo.round_state(conn, round_id)

            def one(q: sa.Select) -> int:  # type: ignore[type-arg]
                return int(conn.execute(q).scalar() or 0)

            live = sa.and_(p.round_id == round_id, p.withdrawn.is_(False))
            in_round = sa.select(s.session_id).where(s.round_id == round_id)
            likers = sa.select(lk.user_id).where(lk.round_id == round_id)
            chose = sa.select(en.user_id).where(
                en.round_id == round_id, en.online_group.is_not(None)
            )
            online = sa.union(likers, chose).subquery()
            return {
                "registered": one(
                    sa.select(sa.func.count()).where(t.residents.c.registered_at.is_not(None))
                ),
                "proposals": one(sa.select(sa.func.count()).where(live)),
                "hidden": one(sa.select(sa.func.count()).where(live, p.hidden.is_(True))),
                "endorsements": one(sa.select(sa.func.sum(p.endorsements)).where(live)),
                # in review now: a hidden proposal is neither scored nor ranked (until restored)
                "shortlisted": one(
                    sa.select(sa.func.count()).where(live, p.shortlisted, p.hidden.is_(False))
                ),
                "checkins": one(
                    sa.select(sa.func.count(sa.distinct(pr.user_id))).where(
                        pr.session_id.in_(in_round)
                    )
                ),
                "onsite_scores": one(sa.select(sa.func.count()).where(os_.round_id == round_id)),
                "likes": one(sa.select(sa.func.count()).where(lk.round_id == round_id)),
                "online_voters": one(sa.select(sa.func.count()).select_from(online)),
                "papers": one(
                    sa.select(sa.func.count()).where(
                        pt.round_id == round_id, pt.superseded.is_(False)
                    )
                ),
                "papers_confirmed": one(
                    sa.select(sa.func.count()).where(
                        pt.round_id == round_id,
                        pt.superseded.is_(False),
                        pt.confirmed_by.is_not(None),
                    )
                ),
                "codes_issued": one(sa.select(sa.func.count()).where(ec.round_id == round_id)),
                "codes_redeemed": one(
                    sa.select(sa.func.count()).where(
                        ec.round_id == round_id, ec.user_id.is_not(None)
                    )
                ),
            }

    def communities(self, round_id: str) -> list[CommunityView]:
        """Return the round's communities with their codes issued and redeemed."""
        c, ec = t.communities.c, t.enrollment_codes.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.communities).where(c.round_id == round_id).order_by(c.community)
            ).all()
            counts = {
                (row.community, bool(row.used)): int(row.n)
                for row in conn.execute(
                    sa.select(
                        ec.community,
                        ec.user_id.is_not(None).label("used"),
                        sa.func.count().label("n"),
                    )
                    .where(ec.round_id == round_id)
                    .group_by(ec.community, ec.user_id.is_not(None))
                )
            }
            names = {row.community: repo.content_data(conn, row.content_ref) for row in rows}
        out = []
        for row in rows:
            used = counts.get((row.community, True), 0)
            name = (names.get(row.community) or {}).get("name")
            out.append(
                CommunityView(
                    community=row.community,
                    name=name if isinstance(name, str) else row.community,
                    region=row.region,
                    issued=used + counts.get((row.community, False), 0),
                    redeemed=used,
                )
            )
        return out

    def onsite_sessions(self, round_id: str) -> list[SessionView]:
        """Return the round's on-site sessions, newest first, with their check-ins."""
        s, pr = t.sessions.c, t.presences.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    s.session_id,
                    s.group_no,
                    s.open,
                    s.opened_at,
                    s.number,
                    s.closed_at,
                    sa.func.count(pr.user_id).label("n"),
                )
                .select_from(t.sessions.outerjoin(t.presences, pr.session_id == s.session_id))
                .where(s.round_id == round_id)
                .group_by(s.session_id, s.group_no, s.open, s.opened_at, s.number, s.closed_at)
                .order_by(s.opened_at.desc(), s.number.desc(), s.session_id)
            ).all()
        return [
            SessionView(
                session_id=r.session_id,
                group=r.group_no,
                open=bool(r.open),
                checkins=r.n,
                opened_at=int(r.opened_at),
                number=r.number or 0,
                closed_at=None if r.closed_at is None else int(r.closed_at),
            )
            for r in rows
        ]

    def paper_tallies(self, round_id: str, viewer: int) -> list[PaperView]:
        """Return the round's paper tallies in proposal order (officials only)."""
        pt, p = t.paper_tallies.c, t.proposals.c
        with self._engine.connect() as conn:
            repo.require_official(conn, viewer, admin=False)
            rows = conn.execute(
                sa.select(t.paper_tallies, p.number)
                .join(t.proposals, p.proposal_id == pt.proposal_id)
                .where(pt.round_id == round_id)
                .order_by(p.number, pt.tally_id)
            ).all()
        return [
            PaperView(
                tally_id=r.tally_id,
                session_id=r.session_id,
                proposal_id=r.proposal_id,
                number=r.number,
                ballots=r.ballots,
                points=r.points,
                mine=r.entered_by == viewer,
                confirmed=r.confirmed_by is not None,
                superseded=bool(r.superseded),
                corrects=r.corrects,
            )
            for r in rows
        ]

    def broadcast_audience(self, region: str | None = None) -> int:
        """Return how many subscribers a broadcast (to ``region``, or all) would reach now."""
        r = t.residents.c
        q = sa.select(sa.func.count()).where(
            r.subscribed.is_(True), r.blocked.is_(False), r.registered_at.is_not(None)
        )
        if region is not None:
            q = q.where(r.region == region)
        with self._engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def send_broadcast(
        self,
        official_id: int,
        text: str,
        *,
        region: str | None = None,
        request_id: str | None = None,
    ) -> int:
        """Queue an announcement for every subscriber (of ``region``); return the broadcast id.

        One ``broadcast.queued`` entry (the text's commitment, never the text) is written in
        the transaction that queues the outbox rows, so a broadcast is on the ledger exactly
        when it will be delivered. Retried with the same ``request_id``: nothing new.

        Raises:
            NotOfficial, AnswerInvalid (empty or too long text), UnknownRegion.
        """
        if not text.strip() or len(text) > BROADCAST_MAX:
            raise e.AnswerInvalid(max=BROADCAST_MAX)
        if region is not None and region not in GYEONGGI.codes:
            raise e.UnknownRegion(region=region)

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            params: dict[str, JSON] = {"text": text}
            return self._broadcast_plan(conn, official_id, BROADCAST_KEY, params, region, now)

        return int(self._run(plan, request_id=request_id).subject)

    def announce_results(
        self, official_id: int, round_id: str, *, channel: str, request_id: str | None = None
    ) -> int:
        """Queue "the results of the round are out" for every subscriber; return the broadcast id.

        Each outbox row holds ``RESULTS_KEY`` with the round's title, the number of selected
        proposals and ``channel`` (where the results are posted), rendered in the reader's
        language when it is sent. The ``broadcast.queued`` entry commits to that key and those
        params. Retried with the same ``request_id``: nothing new.

        Raises:
            NotOfficial, RoundNotFound, PhaseClosed (results not published).
        """

        def plan(conn: sa.Connection, now: int) -> Plan:
            repo.require_official(conn, official_id)
            rnd = repo.round_state(conn, round_id)
            payload = conn.execute(
                sa.select(t.rounds.c.results).where(t.rounds.c.round_id == round_id)
            ).scalar()
            if not isinstance(payload, dict):
                raise e.PhaseClosed(phase=rnd.phase, action="announce")
            selected = payload.get("selected")
            count = len(selected) if isinstance(selected, list) else 0
            params: dict[str, JSON] = {
                "title": rnd.rules.title,
                "count": f"{count:,}",
                "channel": channel,
            }
            return self._broadcast_plan(conn, official_id, RESULTS_KEY, params, None, now)

        return int(self._run(plan, request_id=request_id).subject)

    def _broadcast_plan(
        self,
        conn: sa.Connection,
        official_id: int,
        key: str,
        params: dict[str, JSON],
        region: str | None,
        now: int,
    ) -> Plan:
        """Queue ``key`` with ``params`` for the subscribers (of ``region``) and return the
        ``broadcast.queued`` plan, whose entry commits to the content stored beside it: the
        official's text, or the catalog key and its params."""
        data: dict[str, JSON] = params if key == BROADCAST_KEY else {"key": key, "params": params}
        _ref, commit = self._store_content(conn, owner=None, kind="broadcast", data=data, now=now)
        bid, recipients = self._queue_broadcast(  # type: ignore[attr-defined]
            conn, official_id, key, params, region, now
        )
        return Plan(
            event=ev.BroadcastQueued(
                broadcast=bid, region=region, recipients=recipients, text_c=commit
            ),
            actor=self.actor("official", None, official_id),
            round_id=ev.GLOBAL_ROUND,
            subject=str(bid),
        )
