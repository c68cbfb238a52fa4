"""The gateway's own tables: processed updates (when an ack failed), posted digests, scheduler runs.

They live in the same database as the ledger and the domain and are created by the Alembic
migrations (`migrations/`), like theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ledger.store import write_transaction

metadata = sa.MetaData()

processed_updates = sa.Table(
    "gateway_processed_updates",
    metadata,
    sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

posted_digests = sa.Table(
    "gateway_posted_digests",
    metadata,
    sa.Column("block_number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),  # "posting" | "posted"
    sa.Column("message_id", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

job_runs = sa.Table(
    "gateway_job_runs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def put(engine: Engine, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Set `values` on the row of `key` in `table`, inserting it when there is none, in one
    write transaction (an UPDATE first: the row is there on every mark after the first)."""
    with write_transaction(engine) as conn:
        where = [table.c[column] == value for column, value in key.items()]
        if not conn.execute(table.update().where(*where).values(**values)).rowcount:
            conn.execute(table.insert().values(**key, **values))


class ProcessedUpdates:
    """Update_ids whose effects are committed but whose stream entry Redis failed to
    acknowledge (gateway.worker): a replay of such an entry is acknowledged without running.
    Normally the acknowledgement itself is the record, and nothing is written here."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def contains(self, update_id: int) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(processed_updates.c.update_id).where(
                    processed_updates.c.update_id == update_id
                )
            ).first()
        return found is not None

    def add(self, update_id: int) -> None:
        """Record `update_id` as applied; recording it twice is fine."""
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(
                    processed_updates.insert().values(update_id=update_id, processed_at=_now())
                )
        except IntegrityError:
            pass

    def prune(self, older_than: timedelta) -> int:
        """Forget ids older than `older_than` (Telegram never redelivers after 24 h)."""
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                processed_updates.delete().where(
                    processed_updates.c.processed_at < _now() - older_than
                )
            )
        return int(result.rowcount or 0)


class DigestLog:
    """Which blocks have had their digest posted to the public channel."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def state(self, block_number: int) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(posted_digests.c.state).where(
                    posted_digests.c.block_number == block_number
                )
            ).first()
        return None if row is None else str(row[0])

    def posted_numbers(self) -> set[int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(posted_digests.c.block_number).where(posted_digests.c.state == "posted")
            )
            return {int(r[0]) for r in rows}

    def mark(self, block_number: int, state: str, message_id: int | None = None) -> None:
        put(self._engine, posted_digests, {"block_number": block_number},
             {"state": state, "message_id": message_id, "updated_at": _now()})  # fmt: skip


class JobRuns:
    """When each scheduled job last ran, so a restarted clock catches up exactly once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def last_run(self, job_id: str) -> datetime | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(job_runs.c.last_run_at).where(job_runs.c.job_id == job_id)
            ).first()
        if row is None:
            return None
        value: datetime = row[0]
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def record(self, job_id: str, at: datetime | None = None) -> None:
        put(self._engine, job_runs, {"job_id": job_id}, {"last_run_at": at or _now()})


# --- results publication (gateway/results.py): which parts of a round's results were posted ---

results_posts = sa.Table(
    "gateway_results_posts",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("part", sa.String(32), primary_key=True),  # "intro-1", "table-2", "chart", ...
    sa.Column("state", sa.String(16), nullable=False),  # "posting" | "posted" | "gone"
    sa.Column("message_id", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the chat Telegram answered with; NULL: posted before migration 0007, in PUBLIC_CHANNEL
    sa.Column("chat_id", sa.BigInteger, nullable=True),
    # a digest of what the post shows now (ResultsPublisher.shown); NULL: not known
    sa.Column("shown", sa.String(64), nullable=True),
)

# per round, the digest of what the clock last found needing no edit (gateway/results_edits.py)
results_checked = sa.Table(
    "gateway_results_checked",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("checked", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# per proposal whose title a notice may not show (or showed until restored), what the clock
# last found and until when it looks at its delivered notices again (gateway/notice_edits.py)
notice_subjects = sa.Table(
    "gateway_notice_subjects",
    metadata,
    sa.Column("proposal_id", sa.String(48), primary_key=True),
    sa.Column("withheld", sa.String(40), nullable=False),  # "" (shown), "hidden:<r>", "erased"
    sa.Column("recheck_until", sa.BigInteger, nullable=False),  # epoch seconds
)


@dataclass(frozen=True, slots=True)
class ResultsPost:
    """One recorded message of a round's results in the public channel."""

    round_id: str
    part: str
    state: str  # "posting" | "posted" | "gone" (deleted from the channel: nothing to edit)
    message_id: int | None
    chat_id: int | None
    shown: str | None


class ResultsPosts:
    """Which messages of a round's published results are in the public channel, and what
    each shows (a digest: the posts' texts are residents' titles, never stored here)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def states(self, round_id: str) -> dict[str, str]:
        """Return ``{part: state}`` of the round's result messages."""
        c = results_posts.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(c.part, c.state).where(c.round_id == round_id))
            return {str(part): str(state) for part, state in rows}

    def mark(
        self,
        round_id: str,
        part: str,
        state: str,
        message_id: int | None = None,
        *,
        chat_id: int | None = None,
        shown: str | None = None,
    ) -> None:
        """Record that `part` is being posted ("posting") or is in the channel ("posted"),
        with the chat and message Telegram answered with and the digest of what it shows."""
        values = {"state": state, "message_id": message_id, "chat_id": chat_id, "shown": shown}
        put(self._engine, results_posts, {"round_id": round_id, "part": part},
             {**values, "updated_at": _now()})  # fmt: skip

    def posts(self) -> list[ResultsPost]:
        """Return every recorded results message, by round and part."""
        c = results_posts.c
        query = sa.select(c.round_id, c.part, c.state, c.message_id, c.chat_id, c.shown)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(c.round_id, c.part)).all()
        return [ResultsPost(*row) for row in rows]

    def edited(self, post: ResultsPost, shown: str | None, *, gone: bool = False) -> None:
        """Record that `post` shows `shown` now (edited, or found already so), or with
        `gone` that it is no longer in the channel; only while it is still that message."""
        c = results_posts.c
        values: dict[str, object] = {"shown": shown, "updated_at": _now()}
        if gone:
            values["state"] = "gone"
        with write_transaction(self._engine) as conn:
            conn.execute(
                results_posts.update()
                .where(
                    c.round_id == post.round_id,
                    c.part == post.part,
                    c.state == "posted",
                    c.message_id == post.message_id,
                )
                .values(**values)
            )

    def checked(self) -> dict[str, str]:
        """Return, per round, the digest of what was last found needing no edit."""
        c = results_checked.c
        with self._engine.connect() as conn:
            return {str(r): str(d) for r, d in conn.execute(sa.select(c.round_id, c.checked))}

    def check(self, round_id: str, digest: str) -> None:
        """Record that the round's posts needed no edit (any more) as of `digest`."""
        put(self._engine, results_checked, {"round_id": round_id},
             {"checked": digest, "updated_at": _now()})  # fmt: skip
