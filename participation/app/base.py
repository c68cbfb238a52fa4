"""Plumbing shared by every part of the service: time, pseudonyms, commitments, commands.

A command is a ``plan(conn, now) -> Plan`` function: it loads state on the ledger's write
connection, calls one pure ``decide_*`` rule, writes the projection rows and returns the event.
:meth:`Base._run` appends that event as one ledger entry (then those of the plan's ``then``,
which follow from it) in the same transaction and records the person's receipt; with a
``request_id`` a retried command returns the first receipt and writes nothing. A plan whose
rule finds the command's effect already in place returns the earlier outcome instead, a
:class:`Done` with ``already`` set (see :func:`earlier`): nothing is appended.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol

import sqlalchemy as sa

from ledger.store import driver_sql
from ledger.store import single_read
from ledger.store import write_transaction
from participation.domain import rules
from participation.domain.errors import ParticipationError
from participation.domain.events import JSON
from participation.domain.events import Event
from participation.domain.model import ProposalState
from participation.domain.ports import Appender
from participation.domain.ports import Clock
from participation.domain.ports import ReceiptLike
from participation.opening import commitment  # the formula outsiders recompute
from participation.store import erasure
from participation.store import repo
from participation.store import tables as t
from participation.views import Receipt

ROLE_PREFIX = {"resident": "r", "judge": "j", "official": "o"}

# When the action being handled was received (epoch seconds), set by whoever received it: the
# gateway's worker sets it from the update's inbox entry for the length of its handling. The
# service judges the action at that moment (rules.judged_at), in the caller's thread: a
# command takes its ``now`` before it queues for the ledger's writer thread.
received_at: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "received_at", default=None
)


class LedgerPort(Protocol):
    """The part of ``ledger.Ledger`` the service uses."""

    @property
    def engine(self) -> sa.Engine: ...

    def write(self, fn: Callable[[sa.Connection, Any], Any], *, savepoint: bool = True) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What a command decided: the event, who did it (pseudonym), and what to remember."""

    event: Event
    actor: str
    round_id: str | None
    subject: str = ""  # the proposal, session, tally ... the receipt is about
    user_id: int | None = None  # whose receipt it is (None: no receipt row)
    after: Callable[[Receipt], None] | None = None  # projection writes needing the index
    # Entries that follow from this one, appended right after it in the same transaction
    # (no receipt or request of their own): the on-site sessions a phase change closes.
    then: tuple[Plan, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Ahead:
    """A command decided before the ledger's writer, on a read of the state.

    ``claim`` runs in the writer, under the log's lock, as the command's first database
    write: a conditional write that also re-checks everything the decision read that can
    have changed since, returning False (having written nothing) when it did change.
    ``writes`` makes the rest of the projection writes; neither may raise a domain error.
    ``valid_until``: the decision holds while the clock is before it (a deadline).
    ``claims_request``: the claim also finds nothing to do when the request has a recorded
    outcome (``NOT EXISTS`` on ``pt_request``), so the writer does not look the request up
    first (a retry then meets the lookup under the lock).
    """

    plan: Plan
    claim: Callable[[sa.Connection, int], bool]
    writes: Callable[[sa.Connection, int], None] | None = None
    valid_until: int | None = None
    claims_request: bool = False


class _StateChanged(Exception):
    """An early decision's claim found the state changed: decide again under the lock."""


_REQUEST_SQL = "SELECT ledger_index, leaf_hash, subject FROM pt_request WHERE request_id = ?"
_REQUEST_INSERT_SQL = (
    "INSERT INTO pt_request (request_id, ledger_index, leaf_hash, subject) VALUES (?, ?, ?, ?)"
)
_RECEIPT_SQL = (
    "INSERT INTO pt_receipt (user_id, round_id, kind, subject, ledger_index, leaf_hash,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """A command's outcome.

    ``already``: the command found its effect in place and appended nothing; ``receipt`` is
    that of the earlier entry that made it (a check-in scanned again). Such an outcome is
    not recorded for its request id: a retry decides again, and finds the same.
    """

    receipt: Receipt
    subject: str
    already: bool = False


def recorded(row: Sequence[Any]) -> Done:
    """Return the outcome recorded for a request from its pt_request columns ``ledger_index,
    leaf_hash, subject``."""
    index, leaf_hash, subject = row
    return Done(receipt=Receipt(index=index, leaf_hash=bytes.fromhex(leaf_hash)), subject=subject)


_EARLIER_SQL = (
    "SELECT ledger_index, leaf_hash, subject FROM pt_receipt WHERE user_id = ? AND kind = ?"
    " AND subject = ? ORDER BY ledger_index DESC LIMIT 1"
)


def earlier(conn: sa.Connection, user_id: int, kind: str, subject: str) -> Done | None:
    """Return the outcome of the person's newest entry of ``kind`` about ``subject``, from
    their receipts, as a plan returns it when that entry's effect still holds (``already``);
    None when they have no such receipt (erased with their data: decide as if new)."""
    row = conn.exec_driver_sql(driver_sql(conn, _EARLIER_SQL), (user_id, kind, subject)).first()
    if row is None:
        return None
    index, leaf_hash, subject = row
    receipt = Receipt(index=index, leaf_hash=bytes.fromhex(leaf_hash))
    return Done(receipt=receipt, subject=subject, already=True)


def append_plan(appender: Appender, p: Plan, key: str | None) -> ReceiptLike:
    """Append the plan's event, deduplicated by ``key`` (the request id), which the caller
    found unused: no pt_request row, so no entry has it either."""
    return appender.append(
        p.event.kind,
        p.actor,
        p.round_id,
        p.event.to_payload(),
        dedup_key=key,
        new_key=key is not None,
    )


def new_code(prefix: str) -> str:
    """Return ``<prefix>_<16 base32 chars>`` (80 random bits), a Telegram deep-link payload."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return f"{prefix}_{raw}"


def code_hash(code: str) -> str:
    """Return the stored form of a code: SHA-256 hex (the code itself is never stored)."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


class Base:
    """State and plumbing of :class:`participation.service.ParticipationService`."""

    def __init__(
        self,
        ledger: LedgerPort,
        *,
        pepper: bytes,
        clock: Clock,
        content_salt_key: bytes | None = None,
    ) -> None:
        if len(pepper) < 16:
            raise ValueError("the pseudonym pepper must be at least 16 bytes")
        self._ledger = ledger
        self._engine = ledger.engine
        self._pepper = pepper
        self._clock = clock
        self._salt_key = content_salt_key

    def create_tables(self) -> None:
        """Create the ``pt_`` tables (tests and the embedded run; production uses Alembic)."""
        t.create_all(self._engine)

    def _now(self) -> int:
        """Return the moment the current action is judged at: when it was received (see
        ``received_at``), else the clock's time."""
        return rules.judged_at(self._clock_now(), received_at.get())

    def _clock_now(self) -> int:
        """Return the clock's time: the moment something takes effect (a session's close)."""
        return int(self._clock().timestamp())

    def _begin(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """Open a transaction that will write, outside the ledger's writer (on SQLite it
        begins as the writer: see :func:`ledger.store.write_transaction`)."""
        return write_transaction(self._engine)

    def _read_once(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """Open a connection for a read of one statement, without a transaction (see
        :func:`ledger.store.single_read`)."""
        return single_read(self._engine)

    def _at(self, when: dt.datetime | None) -> int:
        return self._now() if when is None else int(when.timestamp())

    def actor(self, role: str, round_id: str | None, user_id: int) -> str:
        """Return the pseudonym of a person in a role and round (never their Telegram id)."""
        msg = f"{role}\x00{round_id or ''}\x00{user_id}".encode()
        mac = hmac.new(self._pepper, msg, hashlib.sha256).hexdigest()[:32]
        return f"{ROLE_PREFIX[role]}:{mac}"

    def tombstone(self, user_id: int) -> int:
        """Return the id that stands for ``user_id`` in the database once they erased their data.

        ``-(HMAC-SHA256(pepper, "erased" || 0x00 || user id)[:8] >> 2) - 1``: negative (Telegram
        user ids are positive), within 62 bits (a BIGINT), and linkable to the person only with
        the pepper, which already links the ledger's pseudonyms (see participation.store.erasure).
        """
        mac = hmac.new(self._pepper, b"erased\x00" + str(user_id).encode(), hashlib.sha256)
        return -(int.from_bytes(mac.digest()[:8], "big") >> 2) - 1

    def _reclaim(self, conn: sa.Connection, user_id: int) -> None:
        """Give a returning person the rows kept under their tombstone (one primary-key lookup
        when they never erased); call it before reading what they already did."""
        erasure.unbury(conn, user_id, self.tombstone(user_id))

    def proposal_plan(self, p: ProposalState, role: str, user_id: int, event: Event) -> Plan:
        """Return the plan of a person's action on proposal ``p``: their receipt is about it."""
        return Plan(
            event=event,
            actor=self.actor(role, p.round_id, user_id),
            round_id=p.round_id,
            subject=p.proposal_id,
            user_id=user_id,
        )

    def _store_content(
        self, conn: sa.Connection, *, owner: int | None, kind: str, data: dict[str, JSON], now: int
    ) -> tuple[str, str]:
        """Store personal content beside the ledger; return (reference, commitment)."""
        ref = secrets.token_hex(16)
        if self._salt_key is not None:
            salt = hmac.new(self._salt_key, ref.encode(), hashlib.sha256).digest()[:16]
        else:
            salt = secrets.token_bytes(16)
        commit = commitment(salt, data)
        conn.execute(
            sa.insert(t.contents).values(
                ref=ref,
                owner_id=owner,
                kind=kind,
                data=data,
                salt=salt.hex(),
                commitment=commit,
                created_at=now,
            )
        )
        return ref, commit

    def _run(
        self,
        plan: Callable[[sa.Connection, int], Plan | Done],
        *,
        request_id: str | None = None,
        ahead: Callable[[sa.Connection, int], Ahead] | None = None,
    ) -> Done:
        """Decide and append one entry atomically with the projection writes (none when
        ``plan`` returns an earlier outcome, a :class:`Done`: that is the outcome).

        With ``ahead`` the command is first decided outside the ledger's writer, on a read
        of the state, and the writer only runs its ``claim`` (a conditional write that
        re-checks what can have changed) and the writes: the log stays locked for a few
        statements instead of every read. When the early decision refuses, or its claim
        finds the state changed, ``plan`` decides again under the lock (exactly as without
        ``ahead``), so the outcome is the one a serial run would give.
        """
        early = None if ahead is None else self._decide_ahead(ahead, request_id)
        return self._run_decided(plan, early, request_id)

    def _run_decided(
        self,
        plan: Callable[[sa.Connection, int], Plan | Done],
        early: Ahead | Done | None,
        request_id: str | None,
    ) -> Done:
        """:meth:`_run` with the early decision made already: what :meth:`_decide_ahead`
        returns (None: decide under the lock)."""
        if isinstance(early, Done):
            return early
        now = self._now()  # here: the writer's thread does not see ``received_at``
        if early is not None:
            try:
                done: Done = self._ledger.write(
                    lambda conn, appender: self._apply_ahead(
                        conn, appender, early, request_id, now
                    ),
                    savepoint=False,
                )
                return done
            except _StateChanged:
                pass

        def tx(conn: sa.Connection, appender: Appender) -> Done:
            stored = self._stored(conn, request_id)
            if stored is not None:
                return stored
            decided = plan(conn, now)
            if isinstance(decided, Done):  # in place already: no entry, no request row
                return decided
            return self._record(conn, appender, decided, request_id, now)

        done = self._ledger.write(tx)
        return done

    def _run_many(
        self,
        plan: Callable[[sa.Connection, int], list[Plan]],
        *,
        request_id: str | None = None,
    ) -> Done:
        """Decide and append one entry per plan, all in one transaction: every one or none.

        Requires ``plan`` to return at least one plan. The outcome is the first entry's
        receipt with, as its subject, how many entries were appended; with a ``request_id``
        a retry returns that outcome and writes nothing.
        """

        now = self._now()  # here: the writer's thread does not see ``received_at``

        def tx(conn: sa.Connection, appender: Appender) -> Done:
            stored = self._stored(conn, request_id)
            if stored is not None:
                return stored
            plans = plan(conn, now)
            first: Done | None = None
            for n, p in enumerate(plans):
                key = request_id if n == 0 else None  # the dedup key marks the first entry
                r = append_plan(appender, p, key)
                done = self._recorded(conn, p, r, None, now)
                self._follow(conn, appender, p, now)
                first = first or done
            assert first is not None, "a batch has at least one entry"
            if request_id is not None:
                row = (request_id, first.receipt.index, first.receipt.leaf_hash.hex(),
                       str(len(plans)))  # fmt: skip
                conn.exec_driver_sql(driver_sql(conn, _REQUEST_INSERT_SQL), row)
            return Done(receipt=first.receipt, subject=str(len(plans)))

        done: Done = self._ledger.write(tx)
        return done

    def _decide_ahead(
        self, ahead: Callable[[sa.Connection, int], Ahead], request_id: str | None
    ) -> Ahead | Done | None:
        """Return the early decision, the stored outcome of a retried request, or None when
        the early decision refused (the writer decides again, under the lock)."""
        with self._engine.connect() as conn:
            stored = self._stored(conn, request_id)
            if stored is not None:
                return stored
            try:
                return ahead(conn, self._now())
            except ParticipationError:
                return None

    def _apply_ahead(
        self,
        conn: sa.Connection,
        appender: Appender,
        early: Ahead,
        request_id: str | None,
        now: int,
    ) -> Done:
        """The writer's part of an early decision; raises _StateChanged having written nothing
        when the claim finds that the state changed."""
        if not early.claims_request:
            stored = self._stored(conn, request_id)
            if stored is not None:
                return stored
        p = early.plan
        if early.valid_until is not None and now >= early.valid_until:
            raise _StateChanged()
        # No database write yet: the writer undoes this append if we raise. With no pt_request
        # row (looked up above, or re-checked by the claim) no entry has the key either.
        r = append_plan(appender, p, request_id)
        if not early.claim(conn, now):
            raise _StateChanged()
        if early.writes is not None:
            early.writes(conn, now)
        done = self._recorded(conn, p, r, request_id, now)
        self._follow(conn, appender, p, now)
        return done

    def _stored(self, conn: sa.Connection, request_id: str | None) -> Done | None:
        """Return the outcome recorded for ``request_id``, or None."""
        if request_id is None:
            return None
        sql = driver_sql(conn, _REQUEST_SQL)
        row = conn.exec_driver_sql(sql, (request_id,)).first()
        return None if row is None else recorded(row)

    def _record(
        self, conn: sa.Connection, appender: Appender, p: Plan, request_id: str | None, now: int
    ) -> Done:
        """Append the plan's event and record the receipt and the request (under the lock,
        with no row for ``request_id``)."""
        r = append_plan(appender, p, request_id)
        done = self._recorded(conn, p, r, request_id, now)
        self._follow(conn, appender, p, now)
        return done

    def _follow(self, conn: sa.Connection, appender: Appender, p: Plan, now: int) -> None:
        """Append the entries that follow from ``p`` (its ``then``), after ``p``'s own."""
        for q in p.then:
            self._recorded(conn, q, append_plan(appender, q, None), None, now)

    def _recorded(
        self, conn: sa.Connection, p: Plan, r: ReceiptLike, request_id: str | None, now: int
    ) -> Done:
        receipt = Receipt(index=r.index, leaf_hash=bytes(r.leaf_hash))
        if p.after is not None:
            p.after(receipt)
        leaf_hex = receipt.leaf_hash.hex()
        if p.user_id is not None:
            row = (p.user_id, p.round_id or "", p.event.kind, p.subject, receipt.index, leaf_hex,
                   now)  # fmt: skip
            conn.exec_driver_sql(driver_sql(conn, _RECEIPT_SQL), row)
        if request_id is not None:
            row2 = (request_id, receipt.index, leaf_hex, p.subject)
            conn.exec_driver_sql(driver_sql(conn, _REQUEST_INSERT_SQL), row2)
        return Done(receipt=receipt, subject=p.subject)

    def _notify(
        self,
        conn: sa.Connection,
        user_ids: list[int],
        key: str,
        params: dict[str, JSON],
        now: int,
        *,
        broadcast_id: int | None = None,
        duty: bool = False,
    ) -> int:
        """Queue a notification for each person who has notifications on (never an erased
        person's tombstone); return how many. ``duty``: a task of the person's role (a judge
        told that the review began), sent with notifications off too, as reminders are."""
        if not user_ids:
            return 0
        r = t.residents.c
        off = (
            r.blocked.is_(True) if duty else sa.or_(r.notifications.is_(False), r.blocked.is_(True))
        )
        muted = set(
            conn.execute(sa.select(r.user_id).where(r.user_id.in_(user_ids), off)).scalars()
        )
        rows = [
            {
                "user_id": uid,
                "key": key,
                "params": params,
                "broadcast_id": broadcast_id,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for uid in dict.fromkeys(user_ids)
            if uid not in muted and not erasure.is_tombstone(uid)  # erased: no chat
        ]
        if rows:
            conn.execute(sa.insert(t.outbox), rows)
        return len(rows)

    def _notify_audience(
        self, conn: sa.Connection, proposal_id: str, key: str, params: dict[str, JSON], now: int
    ) -> None:
        """Queue ``key`` for the proposal's author and endorsers, about the proposal."""
        self._notify(
            conn, repo.audience(conn, proposal_id), key, notice_about(proposal_id, params), now
        )


def notice_about(proposal_id: str, params: dict[str, JSON]) -> dict[str, JSON]:
    """Return a notice's ``params`` naming the proposal, never its title: the title is
    personal content that a hiding or an erasure withholds, so the outbox's claim and the
    sender read it when the notice goes out (``Support.notice_title``), and an erased title
    leaves no copy among the queued (or sent) notices."""
    return {**params, "proposal": proposal_id}
