"""What the bot needs beside the domain: conversation state, button tokens, the outbox."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from participation.app.base import Base
from participation.domain import errors as e
from participation.domain.events import JSON
from participation.store import repo
from participation.store import tables as t
from participation.views import Button
from participation.views import Conversation
from participation.views import NoticeTitle
from participation.views import Opened
from participation.views import OutboxMessage
from participation.views import withheld_as

OUTBOX_MAX_ATTEMPTS = 5
OUTBOX_CLAIM_TIMEOUT_S = 300  # a claimed row not finished by then is claimed again
FINISH_STATES = ("sent", "blocked", "failed")


class Support(Base):
    """Conversation state, opaque button tokens and the notification outbox."""

    # --- who sent an update -------------------------------------------------------------------
    def open_update(
        self,
        user_id: int,
        *,
        token: str | None = None,
        consume: Collection[str] = (),
        request_id: str | None = None,
    ) -> Opened:
        """Return the person's settings and conversation and, for a pressed ``token``, what
        the button means, read in one query; a button whose action is in ``consume`` is
        used up (single-use) in one short write transaction, as :meth:`redeem_button`.

        A token that is unknown, foreign, expired or used is not raised but returned as
        ``refusal``: the caller answers it in the person's language.
        """
        with self._read_once() as conn:  # one statement
            if token is None:
                resident, conversation = repo.person(conn, user_id)
                return Opened(resident=resident, conversation=conversation)
            resident, conversation, row = repo.person_and_button(conn, user_id, token)
        now = self._now()
        try:
            args, replay = repo.check_button(row, user_id, now, request_id)
            assert row is not None  # check_button raised ButtonUnknown
            if row.action in consume and not replay:
                with self._begin() as conn:
                    repo.mark_button_used(conn, token, args, now, request_id)
        except (e.ButtonUnknown, e.ButtonForeign, e.ButtonExpired) as refused:
            return Opened(resident=resident, conversation=conversation, refusal=refused)
        button = Button(action=row.action, args=args)
        return Opened(resident=resident, conversation=conversation, button=button)

    # --- conversation state -------------------------------------------------------------------
    def get_conversation(self, user_id: int) -> Conversation:
        """Return the person's conversation state (step "" and version 0 when none)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(t.conversations).where(t.conversations.c.user_id == user_id)
            ).first()
        if row is None:
            return Conversation(step="", data={}, version=0)
        return Conversation(step=row.step, data=dict(row.data), version=row.version)

    def save_conversation(
        self, user_id: int, step: str, data: dict[str, JSON], expected_version: int
    ) -> Conversation:
        """Save the state if nobody saved since ``expected_version``.

        Raises:
            ConversationConflict: another worker saved first; reload and retry.
        """
        now = self._now()
        c = t.conversations.c
        with self._begin() as conn:
            if expected_version == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            sa.insert(t.conversations).values(
                                user_id=user_id, step=step, data=data, version=1, updated_at=now
                            )
                        )
                except sa.exc.IntegrityError as err:
                    raise e.ConversationConflict() from err
                return Conversation(step=step, data=dict(data), version=1)
            done = conn.execute(
                sa.update(t.conversations)
                .where(c.user_id == user_id, c.version == expected_version)
                .values(step=step, data=data, version=expected_version + 1, updated_at=now)
            )
            if done.rowcount != 1:
                raise e.ConversationConflict()
        return Conversation(step=step, data=dict(data), version=expected_version + 1)

    def clear_conversation(self, user_id: int) -> None:
        """Forget the person's conversation state."""
        with self._begin() as conn:
            conn.execute(sa.delete(t.conversations).where(t.conversations.c.user_id == user_id))

    # --- buttons ------------------------------------------------------------------------------
    _buttons_swept_at = 0  # when this process last deleted long-expired tokens

    def issue_button(
        self, user_id: int, action: str, args: dict[str, JSON], ttl_s: int = 3600
    ) -> str:
        """Return an opaque, unguessable 16-char token for an inline button's callback data."""
        return self.issue_buttons(user_id, [(action, args)], ttl_s=ttl_s)[0]

    def issue_buttons(
        self, user_id: int, buttons: Sequence[tuple[str, dict[str, JSON]]], ttl_s: int = 3600
    ) -> list[str]:
        """Return a token per (action, args), in order, all issued in one transaction."""
        if not buttons:
            return []
        now = self._now()
        rows = repo.button_rows(user_id, buttons, now + ttl_s)
        with self._begin() as conn:
            # the clock's time: updates of different partitions are received far apart, and
            # a sweep time that went back and forth with them swept at every keyboard
            self._sweep_buttons(conn, self._clock_now())
            repo.insert_buttons(conn, rows)
        return [str(row["token"]) for row in rows]

    def _sweep_buttons(self, conn: sa.Connection, now: int) -> None:
        """Delete long-expired tokens, at most every ``BUTTON_SWEEP_EVERY_S`` per process (the
        sweep is a DELETE in a write transaction: once per issue it cost every keyboard)."""
        if (
            now - self._buttons_swept_at >= repo.BUTTON_SWEEP_EVERY_S
            or now < self._buttons_swept_at
        ):
            self._buttons_swept_at = now
            repo.sweep_buttons(conn, now)

    def redeem_button(
        self, user_id: int, token: str, *, consume: bool, request_id: str | None = None
    ) -> Button:
        """Return what a pressed button means.

        With ``request_id`` (the update being handled), a button consumed by that same
        request stays usable by it: a redelivered update whose first attempt consumed the
        button but crashed before its effect committed still applies (the effect is itself
        idempotent per request_id); any other press finds the button used.

        Raises:
            ButtonUnknown: no such token.  ButtonForeign: another person's button.
            ButtonExpired: past its time, or already used (when consumed before).
        """
        now = self._now()
        with self._begin() if consume else self._engine.begin() as conn:
            row = repo.button_row(conn, token)
            args, replay = repo.check_button(row, user_id, now, request_id)
            if consume and not replay:
                repo.mark_button_used(conn, token, args, now, request_id)
        return Button(action=row.action, args=args)

    # --- outbox -------------------------------------------------------------------------------
    def claim_outbox(self, limit: int) -> list[OutboxMessage]:
        """Claim up to ``limit`` notifications to deliver (oldest first).

        A claimed row must be finished with :meth:`finish_outbox`; one left claimed for
        5 minutes (a crashed sender) is claimed again, so nothing is lost.
        """
        now = self._now()
        o, r = t.outbox.c, t.residents.c
        due = sa.or_(
            o.state == "pending",
            sa.and_(o.state == "failed", o.attempts < OUTBOX_MAX_ATTEMPTS),
            sa.and_(o.state == "claimed", o.claimed_at < now - OUTBOX_CLAIM_TIMEOUT_S),
        )
        with self._begin() as conn:
            q = sa.select(o.id).where(due).order_by(o.id).limit(limit)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = list(conn.execute(q).scalars())
            if not ids:
                return []
            conn.execute(
                sa.update(t.outbox)
                .where(o.id.in_(ids))
                .values(state="claimed", claimed_at=now, attempts=o.attempts + 1)
            )
            rows = conn.execute(
                sa.select(t.outbox, r.locale)
                .outerjoin(t.residents, r.user_id == o.user_id)
                .where(o.id.in_(ids))
                .order_by(o.id)
            ).all()
            about = [str(row.params["proposal"]) for row in rows if "proposal" in row.params]
            subjects = repo.notice_subjects(conn, about)
        out = []
        for row in rows:
            params, withheld = dict(row.params), None
            if "proposal" in params:
                seen = _seen(subjects.get(str(params["proposal"])), row.user_id)
                params["title"], withheld = seen.title, seen.withheld
            out.append(
                OutboxMessage(
                    id=row.id,
                    user_id=row.user_id,
                    locale=row.locale or "ko",
                    key=row.key,
                    params=params,
                    broadcast_id=row.broadcast_id,
                    withheld=withheld,
                )
            )
        return out

    def notice_title(self, proposal_id: str, user_id: int) -> NoticeTitle:
        """Return the title a notice about ``proposal_id`` may show ``user_id`` now.

        Notices keep the proposal, not its title (an erased title leaves no copy in the
        outbox), and the sender asks again right before each attempt: a proposal hidden or
        erased while its notices wait, even during a 429's pause, is withheld from those sent
        after. Hidden: withheld from everyone but its author (who wrote it, and is told which
        of their proposals was hidden); erased: from everyone. One primary-key query.
        """
        with self._engine.connect() as conn:
            found = repo.notice_subjects(conn, [proposal_id]).get(proposal_id)
        return _seen(found, user_id)

    def notice_titles(
        self, wanted: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], NoticeTitle]:
        """:meth:`notice_title` for many (proposal, person) pairs in one query: what the
        gateway checks its delivered notices against (gateway.notice_edits)."""
        with self._engine.connect() as conn:
            found = repo.notice_subjects(conn, {proposal for proposal, _user in wanted})
        return {(p, u): _seen(found.get(p), u) for p, u in wanted}

    def withheld_proposals(self) -> dict[str, str]:
        """Return every proposal whose title a notice to someone else than its author may not
        show now, as :meth:`notice_title` names why: ``"hidden:<reason>"`` (hidden, whatever
        its content), else ``"erased"`` (its content erased). One query over the proposals (a
        round's few hundred): what the gateway's clock compares on every tick to know which
        delivered notices may need an edit."""
        p, c = t.proposals.c, t.contents.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(p.proposal_id, p.hidden, p.hide_reason, c.erased_at)
                .join(t.contents, c.ref == p.content_ref)
                .where(sa.or_(p.hidden, c.erased_at.is_not(None)))
            ).all()
        return {
            row.proposal_id: str(
                withheld_as(
                    hidden=bool(row.hidden),
                    hide_reason=row.hide_reason,
                    erased=row.erased_at is not None,
                )
            )
            for row in rows
        }

    def finish_outbox(self, id: int, state: str) -> None:
        """Record a delivery outcome: "sent", "blocked" (the person blocked the bot) or "failed"."""
        if state not in FINISH_STATES:
            raise e.InvalidInput(field="state")
        now = self._now()
        with self._begin() as conn:
            conn.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.id == id)
                .values(state=state, sent_at=now if state == "sent" else None)
            )
        if state == "blocked":
            with self._engine.connect() as conn:
                user_id = conn.execute(
                    sa.select(t.outbox.c.user_id).where(t.outbox.c.id == id)
                ).scalar()
            if user_id is not None:
                self.mark_blocked(user_id)

    def mark_blocked(self, user_id: int) -> None:  # implemented by Residents
        raise NotImplementedError

    def enqueue_broadcast(
        self,
        official_id: int,
        key: str,
        params: dict[str, JSON],
        *,
        region: str | None = None,
    ) -> int:
        """Queue a message for every subscribed resident (of ``region``); return its id."""
        with self._begin() as conn:
            repo.require_official(conn, official_id)
            broadcast_id, _total = self._queue_broadcast(
                conn, official_id, key, params, region, self._now()
            )
        return broadcast_id

    def _queue_broadcast(
        self,
        conn: sa.Connection,
        official_id: int,
        key: str,
        params: dict[str, JSON],
        region: str | None,
        now: int,
    ) -> tuple[int, int]:
        """Insert the broadcast and one outbox row per subscriber; return (id, recipients)."""
        r = t.residents.c
        q = sa.select(r.user_id).where(
            r.subscribed.is_(True), r.blocked.is_(False), r.registered_at.is_not(None)
        )
        if region is not None:
            q = q.where(r.region == region)
        users = list(conn.execute(q.order_by(r.user_id)).scalars())
        bid = conn.execute(
            sa.insert(t.broadcasts).values(
                created_by=official_id, key=key, params=params, total=len(users), created_at=now
            )
        ).inserted_primary_key
        assert bid is not None
        broadcast_id = int(bid[0])
        rows = [
            {
                "user_id": u,
                "key": key,
                "params": params,
                "broadcast_id": broadcast_id,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for u in users
        ]
        if rows:
            conn.execute(sa.insert(t.outbox), rows)
        return broadcast_id, len(users)

    def broadcast_progress(self, broadcast_id: int) -> dict[str, int]:
        """Return ``{state: count}`` of a broadcast's messages plus ``total``."""
        o = t.outbox.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(o.state, sa.func.count())
                .where(o.broadcast_id == broadcast_id)
                .group_by(o.state)
            ).all()
            total = conn.execute(
                sa.select(t.broadcasts.c.total).where(t.broadcasts.c.id == broadcast_id)
            ).scalar()
        out = {str(state): int(n) for state, n in rows}
        out["total"] = int(total or 0)
        return out


def _seen(found: Any, user_id: int) -> NoticeTitle:
    """The rule of :meth:`Support.notice_title` over a row of ``repo.notice_subjects``: the
    results' (``views.withheld_as``), hidden winning over erased but for the author."""
    if found is None:  # no such proposal (a proposal is never deleted)
        return NoticeTitle(title="", withheld="erased")
    why = withheld_as(
        hidden=bool(found.hidden),
        hide_reason=found.hide_reason,
        erased=found.data is None,
        author=found.author_id == user_id,
    )
    round_title = str(found.round_title or "")
    if why is not None:
        return NoticeTitle(title="", withheld=why, round=round_title)
    return NoticeTitle(title=str(found.data.get("title") or ""), withheld=None, round=round_title)
