"""Residents: registration, settings, proposals, endorsements, and what they read."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from participation.app.base import Ahead
from participation.app.base import Base
from participation.app.base import Done
from participation.app.base import Plan
from participation.app.base import recorded
from participation.domain import errors as e
from participation.domain import events as ev
from participation.domain import rules
from participation.domain.events import JSON
from participation.domain.model import ProposalState
from participation.domain.model import RoundState
from participation.domain.regions import GYEONGGI
from participation.store import driver
from participation.store import erasure
from participation.store import repo
from participation.store import tables as t
from participation.views import ProposalCard
from participation.views import ProposalPage
from participation.views import Receipt
from participation.views import ReceiptView
from participation.views import Resident
from participation.views import RoundView
from participation.views import Toggled

# The commitment's placeholder while a command is decided, before its content is stored.
UNCOMMITTED = "0" * 64

LOCALES = ("ko", "en")
SORTS = ("endorsements", "newest")


@dataclass(slots=True, kw_only=True)
class PressWrites:
    """The button writes of a press, made inside the transaction of its effect: use up the
    pressed single-use button, store the tokens of the card redrawn after it; and the card's
    columns as the effect's count returned them (so the card needs no read after the commit).
    """

    user_id: int
    token: str | None  # the pressed button (None: nothing to use up)
    rows: list[dict[str, Any]]  # from ``repo.button_rows``
    request_id: str | None
    applied: bool = False  # False after the call: the command was a retry, nothing written

    checked: tuple[dict[str, JSON], int] | None = None  # by `check`: (args, expires_at)
    counted: repo.Counted | None = None  # by `_count`: the card as the effect left it

    def apply(self, conn: sa.Connection, now: int) -> None:
        """Use the button up (raises ButtonExpired if another press did) and store the rows."""
        if self.token is not None:
            repo.consume_button(conn, self.user_id, self.token, now, self.request_id)
        self.store(conn)

    def check(self, conn: sa.Connection, now: int) -> None:
        """Check the button before the writer (raises as :func:`repo.check_button`)."""
        if self.token is not None:
            self.check_row(repo.button_row(conn, self.token), now)

    def check_row(self, row: Any, now: int) -> None:
        """:meth:`check` on the button's stored row (None: unknown), read by the caller."""
        if self.token is None:
            return
        args, replay = repo.check_button(row, self.user_id, now, self.request_id)
        self.checked = None if replay else (args, int(row.expires_at))

    def claim(self, conn: sa.Connection, now: int) -> bool:
        """Use the checked button up under the lock; False (nothing written) if it expired
        or another press used it since :meth:`check`."""
        if self.checked is None or self.token is None:
            return True
        args, expires_at = self.checked
        if now >= expires_at:
            return False
        try:
            repo.mark_button_used(conn, self.token, args, now, self.request_id)
        except e.ButtonExpired:
            return False
        return True

    def store(self, conn: sa.Connection) -> None:
        """Store the redrawn card's tokens (after :meth:`claim`)."""
        repo.insert_buttons(conn, self.rows)
        self.applied = True


def claim_press(
    conn: sa.Connection,
    now: int,
    press: PressWrites | None,
    claim: tuple[str, Sequence[Any]],
    undo: tuple[str, Sequence[Any]],
) -> bool:
    """Run a press's conditional claim (driver SQL text, parameters), then use its checked
    button up; False, with the claim undone, when the claim changed no row or the button was
    used or expired since it was checked (see :class:`participation.app.base.Ahead`)."""
    if conn.exec_driver_sql(driver.sql(conn, claim[0]), claim[1]).rowcount != 1:
        return False
    if press is None or press.claim(conn, now):
        return True
    conn.exec_driver_sql(driver.sql(conn, undo[0]), undo[1])
    return False


@dataclass(frozen=True, slots=True)
class Decided:
    """An early decision made by the caller (see Base._run_decided; None: decide under the
    lock)."""

    early: Ahead | Done | None


def _count(conn: sa.Connection, proposal_id: str, delta: int, press: PressWrites | None) -> None:
    """Add ``delta`` to the proposal's endorsement count; a press keeps the card columns the
    count returns (see :meth:`Residents.toggle_endorsement`)."""
    if press is None:
        repo.add_endorsements(conn, proposal_id, delta)
    else:
        press.counted = repo.add_endorsements_card(conn, proposal_id, delta)


class Residents(Base):
    """Registration, settings and everything a resident does with proposals."""

    # --- registration and settings ------------------------------------------------------------
    def resident(self, user_id: int) -> Resident | None:
        """Return the person's registration and settings, or None if never seen."""
        with self._engine.connect() as conn:
            return repo.resident(conn, user_id)

    def register(
        self,
        user_id: int,
        *,
        region: str,
        consent_version: str,
        locale: str = "ko",
        regions: tuple[str, ...] = GYEONGGI.codes,
        request_id: str | None = None,
    ) -> Receipt:
        """Register a resident who consented to the privacy notice and chose a city/county.

        Someone who erased their data before gets back, in the same transaction, the rows kept
        under their tombstone (see :meth:`erase_personal_data`): the one-per-person rules see
        what they did before, as the ledger (same pseudonyms) does.
        """

        def plan(conn: sa.Connection, now: int) -> Plan:
            known = repo.resident(conn, user_id)
            event = rules.decide_register(
                registered=bool(known and known.registered),
                region=region,
                consent_version=consent_version,
                regions=regions,
            )
            self._reclaim(conn, user_id)  # a returning person's earlier votes are theirs again
            repo.upsert_resident(
                conn,
                user_id,
                region=region,
                consent_version=consent_version,
                registered_at=now,
                locale=locale if locale in LOCALES else "ko",
            )
            return Plan(
                event=event,
                actor=self.actor("resident", None, user_id),
                round_id=ev.GLOBAL_ROUND,
                subject="registration",
                user_id=user_id,
            )

        return self._run(plan, request_id=request_id).receipt

    def update_settings(
        self,
        user_id: int,
        *,
        locale: str | None = None,
        region: str | None = None,
        notifications: bool | None = None,
        subscribed: bool | None = None,
    ) -> Resident:
        """Change a person's settings (no ledger entry: settings are not civic actions)."""
        values: dict[str, object] = {}
        if locale is not None:
            if locale not in LOCALES:
                raise e.InvalidInput(field="locale")
            values["locale"] = locale
        if region is not None:
            if GYEONGGI.get(region) is None:
                raise e.UnknownRegion(region=region)
            values["region"] = region
        if notifications is not None:
            values["notifications"] = notifications
        if subscribed is not None:
            values["subscribed"] = subscribed
            if subscribed:
                values["blocked"] = False
        with self._begin() as conn:
            repo.upsert_resident(conn, user_id, **values)
            found = repo.resident(conn, user_id)
        assert found is not None
        return found

    def mark_blocked(self, user_id: int) -> None:
        """Record that the person blocked the bot: unsubscribe, stop pending notifications."""
        with self._begin() as conn:
            repo.upsert_resident(conn, user_id, blocked=True, subscribed=False)
            o = t.outbox.c
            conn.execute(
                sa.update(t.outbox)
                .where(o.user_id == user_id, o.state.in_(("pending", "claimed", "failed")))
                .values(state="blocked")
            )

    def erase_personal_data(self, user_id: int) -> int:
        """Delete a person's personal content and settings and unlink the Telegram id from
        everything else; return how many content items were erased.

        Proposal texts and photos are deleted but their commitments stay, so the ledger still
        verifies; one ``content.erased`` entry names the commitments (never the person).
        ``pt_resident``, ``pt_conversation``, ``pt_button``, ``pt_outbox`` and ``pt_receipt``
        rows are deleted. In every other table naming the person (``pt_proposal.author_id``,
        ``pt_endorsement``, ``pt_like``, ``pt_onsite_score``, ``pt_presence``,
        ``pt_enrollment``, ``pt_enrollment_code``, ``pt_judge``, ``pt_judge_score``,
        ``pt_recusal``, ``pt_official``, ``pt_invite.created_by/used_by``,
        ``pt_paper_tally.entered_by/confirmed_by``, ``pt_broadcast.created_by``) the id becomes
        the person's :meth:`tombstone`, kept in ``pt_tombstone``: the counts and results stay
        as the ledger's recount has them, and registering again gives the rows back, so the
        one-per-person rules still hold. The gateway's tables name no person. The list and
        the reasons are in :mod:`participation.store.erasure`.
        """
        erased: list[str] = []

        def plan(conn: sa.Connection, now: int) -> Plan:
            c = t.contents.c
            rows = conn.execute(
                sa.select(c.ref, c.commitment).where(c.owner_id == user_id, c.data.is_not(None))
            ).all()
            erased.extend(r.commitment for r in rows)
            conn.execute(
                sa.update(t.contents)
                .where(c.owner_id == user_id)
                .values(data=None, salt=None, erased_at=now, owner_id=None)
            )
            erasure.bury(conn, user_id, self.tombstone(user_id), now)
            return Plan(
                event=ev.ContentErased(commitments=tuple(sorted(erased)), reason="owner_request"),
                actor="s:service",
                round_id=ev.GLOBAL_ROUND,
            )

        self._run(plan)
        return len(erased)

    # --- rounds -------------------------------------------------------------------------------
    def round(self, round_id: str) -> RoundView:
        """Return a round.  Raises RoundNotFound."""
        with self._engine.connect() as conn:
            return repo.round_view(repo.round_state(conn, round_id))

    def rounds(self) -> list[RoundView]:
        """Return every round, newest first."""
        with self._engine.connect() as conn:
            return [repo.round_view(repo.round_state(conn, r)) for r in repo.round_ids(conn)]

    def current_round(self) -> RoundView | None:
        """Return the newest round that is open (not draft, not closed), else None."""
        for view in self.rounds():
            if view.phase not in ("draft", "closed"):
                return view
        return None

    # --- proposals ----------------------------------------------------------------------------
    def _require_resident(self, conn: sa.Connection, user_id: int) -> None:
        known = repo.resident(conn, user_id)
        if known is None or not known.registered:
            raise e.NotRegistered()

    def submit_proposal(
        self,
        user_id: int,
        round_id: str,
        *,
        title: str,
        body: str,
        category: str,
        region: str,
        budget: int,
        photo_file_id: str | None = None,
        photo_unique_id: str | None = None,
        request_id: str | None = None,
    ) -> ProposalCard:
        """Submit a proposal (title <= 60, body <= 1,500 chars, budget <= the round's cap).

        ``photo_unique_id`` is Telegram's ``file_unique_id`` of the photo: the same for the
        same file, where ``photo_file_id`` differs per message; it is kept beside the file id
        in the content (not in the ledger entry), so a later edit can tell the same picture
        sent again from another one.
        """

        def plan(conn: sa.Connection, now: int) -> Plan:
            self._require_resident(conn, user_id)
            rnd = repo.round_state(conn, round_id)
            enrollment = repo.enrollment(conn, round_id, user_id)
            number = repo.next_proposal_number(conn, round_id)
            proposal_id = f"{round_id}-{number}"
            community_count = 0
            if enrollment is not None:
                community_count = repo.live_community_proposals(
                    conn, round_id, enrollment.community
                )
            fields: dict[str, str | int] = {
                "title": title,
                "body": body,
                "category": category,
                "region": region,
                "budget": budget,
            }
            decided = rules.decide_submit(  # decide first: no content row for a refused one
                rnd,
                proposal_id=proposal_id,
                fields=fields,
                content_c=UNCOMMITTED,
                has_photo=photo_file_id is not None,
                enrollment=enrollment,
                community_proposals=community_count,
                now=now,
            )
            data = content(title, body, photo_file_id, photo_unique_id)
            ref, commit = self._store_content(
                conn, owner=user_id, kind="proposal", data=data, now=now
            )
            event = dataclasses.replace(decided, content_c=commit)
            conn.execute(
                sa.insert(t.proposals).values(
                    proposal_id=proposal_id,
                    round_id=round_id,
                    number=number,
                    author_id=user_id,
                    community=event.community,
                    category=category,
                    region=region,
                    budget=budget,
                    content_ref=ref,
                    has_photo=event.has_photo,
                    withdrawn=False,
                    hidden=False,
                    shortlisted=False,
                    endorsements=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            return Plan(
                event=event,
                actor=self.actor("resident", round_id, user_id),
                round_id=round_id,
                subject=proposal_id,
                user_id=user_id,
            )

        done = self._run(plan, request_id=request_id)
        return self.proposal(done.subject, viewer=user_id)

    def edit_proposal(
        self,
        user_id: int,
        proposal_id: str,
        *,
        title: str | None = None,
        body: str | None = None,
        category: str | None = None,
        region: str | None = None,
        budget: int | None = None,
        photo_file_id: str | None = None,
        photo_unique_id: str | None = None,
        remove_photo: bool = False,
        request_id: str | None = None,
    ) -> ProposalCard:
        """Change the author's proposal before the submission deadline (None: unchanged).

        ``remove_photo`` takes the photo off (``photo_file_id=None`` alone keeps it).
        ``photo_unique_id``: the new photo's Telegram ``file_unique_id`` (see
        :meth:`submit_proposal`).

        An edit that would leave every field (and the photo) as stored writes nothing and
        raises :class:`~participation.domain.errors.NothingChanged`; a retried ``request_id``
        of a real edit still returns its first result (the stored outcome is read first).
        The photo is the same when both unique ids are known and equal (the same picture
        sent again comes with a new file id); a proposal stored without one (before unique
        ids were kept) or an edit without one compares the file ids.

        Raises:
            ValueError: both ``photo_file_id`` and ``remove_photo`` were given, or
                ``photo_unique_id`` without ``photo_file_id``.
            What :func:`rules.decide_edit` raises.
            NothingChanged: the edit changes nothing.
        """
        if remove_photo and photo_file_id is not None:
            raise ValueError("give photo_file_id or remove_photo, not both")
        if photo_unique_id is not None and photo_file_id is None:
            raise ValueError("photo_unique_id names the photo_file_id given with it")

        def plan(conn: sa.Connection, now: int) -> Plan:
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            ref = conn.execute(
                sa.select(t.proposals.c.content_ref).where(t.proposals.c.proposal_id == proposal_id)
            ).scalar_one()
            old = repo.content_data(conn, ref) or {}
            new_title = title if title is not None else str(old.get("title") or "")
            new_body = body if body is not None else str(old.get("body") or "")
            old_photo, old_uid = _text(old.get("photo")), _text(old.get("photo_uid"))
            photo, uid = old_photo, old_uid
            if photo_file_id is not None:
                photo, uid = photo_file_id, photo_unique_id
            elif remove_photo:
                photo, uid = None, None
            fields: dict[str, str | int] = {
                "title": new_title,
                "body": new_body,
                "category": category or p.category,
                "region": region or p.region,
                "budget": budget if budget is not None else p.budget,
            }
            has_photo = photo is not None
            decided = rules.decide_edit(  # decide first: no content row for a refused edit
                rnd,
                p,
                user_id=user_id,
                fields=fields,
                content_c=UNCOMMITTED,
                has_photo=has_photo,
                now=now,
            )
            stored: dict[str, JSON] = {
                "title": old.get("title"),
                "body": old.get("body"),
                "category": p.category,
                "region": p.region,
                "budget": p.budget,
            }
            same_photo = uid == old_uid if uid and old_uid else photo == old_photo
            if fields == stored and same_photo:  # after the rules' refusals
                raise e.NothingChanged(proposal=proposal_id)  # rolls back: nothing is written
            data = content(new_title, new_body, photo, uid)
            new_ref, commit = self._store_content(
                conn, owner=user_id, kind="proposal", data=data, now=now
            )
            event = dataclasses.replace(decided, content_c=commit)
            conn.execute(
                sa.update(t.proposals)
                .where(t.proposals.c.proposal_id == proposal_id)
                .values(
                    category=event.category,
                    region=event.region,
                    budget=event.budget,
                    content_ref=new_ref,
                    has_photo=has_photo,
                    updated_at=now,
                )
            )
            return self.proposal_plan(p, "resident", user_id, event)

        self._run(plan, request_id=request_id)
        return self.proposal(proposal_id, viewer=user_id)

    def proposal_to_change(self, user_id: int, proposal_id: str) -> ProposalCard:
        """Return the author's proposal as they see it, if they may still edit or withdraw it
        now (what the edit and withdraw screens check before they ask anything; the command
        itself checks again).

        Raises:
            ProposalNotFound, and what :func:`rules.require_author_open` raises (NotAuthor,
            ProposalInactive, ProposalIsHidden, PhaseClosed, DeadlinePassed, RoundFinished).
        """
        with self._engine.connect() as conn:
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            rules.require_author_open(rnd, p, user_id, self._now(), "edit")
            return repo.card(conn, proposal_id, user_id)

    def withdraw_proposal(
        self, user_id: int, proposal_id: str, *, request_id: str | None = None
    ) -> Receipt:
        """Withdraw the author's proposal before the submission deadline."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            p = repo.proposal_state(conn, proposal_id)
            rnd = repo.round_state(conn, p.round_id)
            event = rules.decide_withdraw(rnd, p, user_id=user_id, now=now)
            conn.execute(
                sa.update(t.proposals)
                .where(t.proposals.c.proposal_id == proposal_id)
                .values(withdrawn=True, updated_at=now)
            )
            return self.proposal_plan(p, "resident", user_id, event)

        return self._run(plan, request_id=request_id).receipt

    def toggle_endorsement(
        self,
        user_id: int,
        proposal_id: str,
        *,
        button: str | None = None,
        issue: Sequence[tuple[str, dict[str, JSON]]] = (),
        ttl_s: int = 3600,
        request_id: str | None = None,
    ) -> Toggled:
        """Endorse, or take back the person's endorsement; return the card as it is now.

        ``button`` (the pressed single-use token) is used up and tokens for ``issue`` (the
        redrawn card's buttons) are stored in the same transaction as the ledger entry.
        Raises what :meth:`endorse` / :meth:`withdraw_endorsement` raise, and ButtonExpired
        when another press used ``button`` first.

        One statement before the writer (the request's outcome, the proposal, its round, the
        person's endorsement and the button) decides which of the two it is and decides it
        early (see Base._run). The card comes from the writer's count, whose UPDATE returns
        the card's columns as the transaction leaves them (what :meth:`proposal` would read
        after the commit); only a retried request, which counted nothing now, reads it after
        the commit.
        """
        rows = repo.button_rows(user_id, issue, self._now() + ttl_s)
        press = PressWrites(user_id=user_id, token=button, rows=rows, request_id=request_id)
        with self._read_once() as conn:
            early, endorsed = self._toggle_ahead(conn, user_id, proposal_id, press)
        toggle = self.withdraw_endorsement if endorsed else self.endorse
        toggle(user_id, proposal_id, request_id=request_id, press=press, decided=Decided(early))
        if rows and not press.applied:  # a retried request: the first attempt's tokens
            with self._begin() as conn:  # are lost with its reply, issue them again
                repo.insert_buttons(conn, rows)
        tokens = [str(row["token"]) for row in rows]
        if press.counted is None:  # a retry (or a database that cannot return the columns)
            return Toggled(card=self.proposal(proposal_id, viewer=user_id), tokens=tokens)
        return Toggled(card=press.counted.card(user_id, endorsed=not endorsed), tokens=tokens)

    def _toggle_ahead(
        self, conn: sa.Connection, user_id: int, proposal_id: str, press: PressWrites
    ) -> tuple[Ahead | Done | None, bool]:
        """Return the early decision of a press (as Base._decide_ahead) and whether the
        person endorses the proposal (then it is a withdrawal).

        One statement on ``conn`` (no transaction needed); only when it finds no proposal, or
        the person not registered, further reads choose the error, and the refused early
        decision leaves the command to be decided under the lock.
        """
        request_id = press.request_id
        found, button, outcome = repo.press_state(
            conn, user_id, proposal_id, press.token, request_id
        )
        if outcome is not None:
            return recorded(outcome), False
        if found is None:  # no such proposal: a recorded outcome still comes first
            stored = self._stored(conn, request_id)
            if stored is not None:
                return stored, False
        endorsed = found is not None and found[3] is not None
        now = self._now()
        try:
            state = self._endorse_found(conn, found, user_id, proposal_id, registered=not endorsed)
            if endorsed:
                early = self._withdraw_ahead(user_id, proposal_id, state, press, now, request_id)
            else:
                early = self._endorse_ahead(user_id, proposal_id, state, press, now, request_id)
            press.check_row(button, now)
        except e.ParticipationError:
            return None, endorsed
        return early, endorsed

    def _endorse_state(
        self, conn: sa.Connection, user_id: int, proposal_id: str, *, registered: bool
    ) -> tuple[ProposalState, RoundState, int | None]:
        """Return (the proposal, its round, since when the person endorses it or None), read
        in one statement, for an endorsement or its withdrawal.

        Raises as the separate look-ups did, in their order: NotRegistered (when
        ``registered`` is required), ProposalNotFound, RoundNotFound.
        """
        found = repo.endorse_state(conn, user_id, proposal_id)
        return self._endorse_found(conn, found, user_id, proposal_id, registered=registered)

    def _endorse_found(
        self,
        conn: sa.Connection,
        found: repo.EndorseState | None,
        user_id: int,
        proposal_id: str,
        *,
        registered: bool,
    ) -> tuple[ProposalState, RoundState, int | None]:
        """:meth:`_endorse_state` on what :func:`repo.endorse_state` returned."""
        if found is None or (registered and not found[0]):
            if registered:
                self._require_resident(conn, user_id)
            p = repo.proposal_state(conn, proposal_id)
            repo.round_state(conn, p.round_id)
            raise AssertionError("a proposal and its round exist but were not found")
        return found[1], found[2], found[3]

    def endorse(
        self,
        user_id: int,
        proposal_id: str,
        *,
        request_id: str | None = None,
        press: PressWrites | None = None,
        decided: Decided | None = None,
    ) -> Receipt:
        """Endorse (gongam) a proposal: once per resident, never one's own.

        ``press``: button writes made in the same transaction (see :meth:`toggle_endorsement`);
        ``decided``: the early decision made by the caller's read (not read again).
        """
        return self._endorsement(user_id, proposal_id, True, request_id, press, decided)

    def _endorsement(
        self,
        user_id: int,
        proposal_id: str,
        endorse: bool,
        request_id: str | None,
        press: PressWrites | None,
        decided: Decided | None,
    ) -> Receipt:
        """Run an endorsement (``endorse``) or its withdrawal: decided on the caller's read
        (``decided``), else on a read ahead of the writer, else again under the lock."""
        decide_ahead = self._endorse_ahead if endorse else self._withdraw_ahead

        def ahead(conn: sa.Connection, now: int) -> Ahead:
            state = self._endorse_state(conn, user_id, proposal_id, registered=endorse)
            early = decide_ahead(user_id, proposal_id, state, press, now, request_id)
            if press is not None:
                press.check(conn, now)
            return early

        make_plan = self._endorse_plan if endorse else self._withdraw_plan
        plan = make_plan(user_id, proposal_id, press)
        if decided is not None:
            return self._run_decided(plan, decided.early, request_id).receipt
        return self._run(plan, request_id=request_id, ahead=ahead).receipt

    def _endorse_plan(
        self, user_id: int, proposal_id: str, press: PressWrites | None
    ) -> Callable[[sa.Connection, int], Plan]:
        """An endorsement decided under the lock."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            if press is not None:
                press.apply(conn, now)
            p, rnd, since = self._endorse_state(conn, user_id, proposal_id, registered=True)
            already = since is not None
            event = rules.decide_endorse(rnd, p, user_id=user_id, already=already, now=now)
            row = (proposal_id, user_id, p.round_id, now)
            conn.exec_driver_sql(driver.sql(conn, driver.INSERT_ENDORSEMENT), row)
            _count(conn, proposal_id, 1, press)
            return self.proposal_plan(p, "resident", user_id, event)

        return plan

    def _endorse_ahead(
        self,
        user_id: int,
        proposal_id: str,
        state: tuple[ProposalState, RoundState, int | None],
        press: PressWrites | None,
        now: int,
        request_id: str | None,
    ) -> Ahead:
        """An endorsement decided before the writer on ``state`` (:meth:`_endorse_state`); the
        caller checks the button."""
        p, rnd, since = state
        event = rules.decide_endorse(rnd, p, user_id=user_id, already=since is not None, now=now)

        def claim(conn: sa.Connection, now: int) -> bool:
            row = (proposal_id, user_id, p.round_id, now, user_id, proposal_id, False, False,
                   p.round_id, rnd.phase, proposal_id, user_id, request_id)  # fmt: skip
            undo = (driver.DELETE_ENDORSEMENT, (proposal_id, user_id))
            return claim_press(conn, now, press, (driver.ENDORSE_CLAIM, row), undo)

        return Ahead(
            plan=self.proposal_plan(p, "resident", user_id, event),
            claim=claim,
            writes=lambda conn, now: self._after_toggle(conn, proposal_id, 1, press),
            valid_until=rnd.rules.deadlines.endorsement_ends,
            claims_request=True,
        )

    def _after_toggle(
        self, conn: sa.Connection, proposal_id: str, delta: int, press: PressWrites | None
    ) -> None:
        _count(conn, proposal_id, delta, press)
        if press is not None:
            press.store(conn)

    def withdraw_endorsement(
        self,
        user_id: int,
        proposal_id: str,
        *,
        request_id: str | None = None,
        press: PressWrites | None = None,
        decided: Decided | None = None,
    ) -> Receipt:
        """Take back an endorsement until the endorsement phase ends (``press``,
        ``decided``: as :meth:`endorse`)."""
        return self._endorsement(user_id, proposal_id, False, request_id, press, decided)

    def _withdraw_plan(
        self, user_id: int, proposal_id: str, press: PressWrites | None
    ) -> Callable[[sa.Connection, int], Plan]:
        """A withdrawal decided under the lock."""

        def plan(conn: sa.Connection, now: int) -> Plan:
            if press is not None:
                press.apply(conn, now)
            p, rnd, since = self._endorse_state(conn, user_id, proposal_id, registered=False)
            event = rules.decide_unendorse(rnd, p, endorsed=since is not None, now=now)
            row = (proposal_id, user_id)
            conn.exec_driver_sql(driver.sql(conn, driver.DELETE_ENDORSEMENT), row)
            _count(conn, proposal_id, -1, press)
            return self.proposal_plan(p, "resident", user_id, event)

        return plan

    def _withdraw_ahead(
        self,
        user_id: int,
        proposal_id: str,
        state: tuple[ProposalState, RoundState, int | None],
        press: PressWrites | None,
        now: int,
        request_id: str | None,
    ) -> Ahead:
        """A withdrawal decided before the writer on ``state`` (:meth:`_endorse_state`);
        the caller checks the button."""
        p, rnd, since = state
        event = rules.decide_unendorse(rnd, p, endorsed=since is not None, now=now)

        def claim(conn: sa.Connection, now: int) -> bool:
            row = (proposal_id, user_id, since, p.round_id, rnd.phase, request_id)
            undo = (driver.INSERT_ENDORSEMENT, (proposal_id, user_id, p.round_id, since))
            return claim_press(conn, now, press, (driver.WITHDRAW_CLAIM, row), undo)

        return Ahead(
            plan=self.proposal_plan(p, "resident", user_id, event),
            claim=claim,
            writes=lambda conn, now: self._after_toggle(conn, proposal_id, -1, press),
            valid_until=rnd.rules.deadlines.endorsement_ends,
            claims_request=True,
        )

    # --- reading ------------------------------------------------------------------------------
    def proposal(self, proposal_id: str, *, viewer: int | None = None) -> ProposalCard:
        """Return one proposal card as ``viewer`` sees it.  Raises ProposalNotFound."""
        with self._engine.connect() as conn:
            return repo.card(conn, proposal_id, viewer)

    def has_endorsed(self, user_id: int, proposal_id: str) -> bool:
        """Return whether the person endorses the proposal now (one indexed lookup)."""
        with self._engine.connect() as conn:
            return repo.exists(conn, t.endorsements, proposal_id=proposal_id, user_id=user_id)

    def proposals(
        self,
        round_id: str,
        *,
        viewer: int | None = None,
        category: str | None = None,
        region: str | None = None,
        sort: str = "endorsements",
        offset: int = 0,
        limit: int = 10,
        include_hidden: bool = False,
    ) -> ProposalPage:
        """Return a page of the round's live proposals, filtered and sorted."""
        if sort not in SORTS:
            raise e.InvalidInput(field="sort")
        p = t.proposals.c
        q = sa.select(t.proposals).where(p.round_id == round_id, p.withdrawn.is_(False))
        if not include_hidden:
            q = q.where(p.hidden.is_(False))
        if category is not None:
            q = q.where(p.category == category)
        if region is not None:
            q = q.where(p.region == region)
        with self._engine.connect() as conn:
            total = int(
                conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            )
            order = (
                (p.endorsements.desc(), p.number.desc())
                if sort == "endorsements"
                else (p.number.desc(),)
            )
            page = q.order_by(*order).offset(max(offset, 0)).limit(max(1, min(limit, 50)))
            items = repo.cards(conn, page, viewer)
        key = {r.proposal_id: i for i, r in enumerate(items)}
        items.sort(key=lambda c: key[c.proposal_id])
        if sort == "endorsements":
            items.sort(key=lambda c: (-c.endorsements, -c.number))
        else:
            items.sort(key=lambda c: -c.number)
        return ProposalPage(items=items, total=total, offset=offset, limit=limit)

    def my_proposals(self, user_id: int, round_id: str | None = None) -> list[ProposalCard]:
        """Return the person's proposals, newest first."""
        p = t.proposals.c
        q = sa.select(t.proposals).where(p.author_id == user_id)
        if round_id is not None:
            q = q.where(p.round_id == round_id)
        with self._engine.connect() as conn:
            items = repo.cards(conn, q, user_id)
        return sorted(items, key=lambda c: (c.created_at, c.number), reverse=True)

    def my_endorsements(self, user_id: int, round_id: str | None = None) -> list[ProposalCard]:
        """Return the proposals the person endorsed, newest endorsement first."""
        en = t.endorsements.c
        ids = sa.select(en.proposal_id).where(en.user_id == user_id)
        if round_id is not None:
            ids = ids.where(en.round_id == round_id)
        q = sa.select(t.proposals).where(t.proposals.c.proposal_id.in_(ids))
        with self._engine.connect() as conn:
            items = repo.cards(conn, q, user_id)
        return sorted(items, key=lambda c: (c.created_at, c.number), reverse=True)

    def my_receipts(self, user_id: int, *, limit: int = 20) -> list[ReceiptView]:
        """Return the person's receipts, newest first (block: ``ledger.block_of(index)``)."""
        r, p = t.receipts.c, t.proposals.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.receipts, p.number)
                .outerjoin(t.proposals, p.proposal_id == r.subject)
                .where(r.user_id == user_id)
                .order_by(r.ledger_index.desc())
                .limit(limit)
            ).all()
        return [
            ReceiptView(
                index=row.ledger_index,
                leaf_hash=row.leaf_hash,
                kind=row.kind,
                round_id=row.round_id,
                subject=row.subject,
                created_at=row.created_at,
                proposal_number=row.number,
            )
            for row in rows
        ]


def content(title: str, body: str, photo: str | None, photo_uid: str | None) -> dict[str, JSON]:
    """Return a proposal's content (stored beside the ledger; the entry holds its commitment):
    the texts, the photo's Telegram file id and its ``file_unique_id`` (None when unknown)."""
    return {"title": title, "body": body, "photo": photo, "photo_uid": photo_uid}


def _text(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def kst(epoch: int) -> dt.datetime:
    """Return an epoch as an aware datetime in KST (for callers that format deadlines)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone(dt.timedelta(hours=9)))
