"""The gateway's own tables: processed updates (when an ack failed), posted digests, scheduler runs.

They live in the same database as the ledger and the domain and are created by the Alembic
migrations (`migrations/`), like theirs.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

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
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                posted_digests.update()
                .where(posted_digests.c.block_number == block_number)
                .values(state=state, message_id=message_id, updated_at=_now())
            )
            if not updated.rowcount:
                conn.execute(
                    posted_digests.insert().values(
                        block_number=block_number,
                        state=state,
                        message_id=message_id,
                        updated_at=_now(),
                    )
                )


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
        when = at or _now()
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                job_runs.update().where(job_runs.c.job_id == job_id).values(last_run_at=when)
            )
            if not updated.rowcount:
                conn.execute(job_runs.insert().values(job_id=job_id, last_run_at=when))


# --- results publication (gateway/results.py): which parts of a round's results were posted ---

results_posts = sa.Table(
    "gateway_results_posts",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("part", sa.String(32), primary_key=True),  # "intro-1", "table-2", "chart", ...
    sa.Column("state", sa.String(16), nullable=False),  # "posting" | "posted"
    sa.Column("message_id", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class ResultsPosts:
    """Which messages of a round's published results are in the public channel."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def states(self, round_id: str) -> dict[str, str]:
        """Return ``{part: state}`` of the round's result messages."""
        c = results_posts.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(c.part, c.state).where(c.round_id == round_id))
            return {str(part): str(state) for part, state in rows}

    def mark(self, round_id: str, part: str, state: str, message_id: int | None = None) -> None:
        """Record that `part` is being posted ("posting") or is in the channel ("posted")."""
        c = results_posts.c
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                results_posts.update()
                .where(c.round_id == round_id, c.part == part)
                .values(state=state, message_id=message_id, updated_at=_now())
            )
            if not updated.rowcount:
                conn.execute(
                    results_posts.insert().values(
                        round_id=round_id,
                        part=part,
                        state=state,
                        message_id=message_id,
                        updated_at=_now(),
                    )
                )
