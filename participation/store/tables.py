"""The projection tables (prefix ``pt_``) the bot and the web layer read.

One ``MetaData`` (:data:`metadata`) for the runtime's Alembic migrations; :func:`create_all`
for tests and the embedded run. Times are UTC epoch seconds (``BigInteger``). Telegram user
ids live here (needed to message people) and never in the ledger.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_uid = sa.BigInteger  # Telegram user ids exceed 2**31


rounds = sa.Table(
    "pt_round",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("rules", sa.JSON, nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("results", sa.JSON, nullable=True),
    sa.Column("results_index", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("phase_changed_at", sa.BigInteger, nullable=False),
)

residents = sa.Table(
    "pt_resident",
    metadata,
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("region", sa.String(32), nullable=True),
    sa.Column("locale", sa.String(8), nullable=False),
    sa.Column("consent_version", sa.String(32), nullable=True),
    sa.Column("registered_at", sa.BigInteger, nullable=True),
    sa.Column("notifications", sa.Boolean, nullable=False),
    sa.Column("subscribed", sa.Boolean, nullable=False),
    sa.Column("blocked", sa.Boolean, nullable=False),
)

officials = sa.Table(
    "pt_official",
    metadata,
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("granted_at", sa.BigInteger, nullable=False),
)

invites = sa.Table(
    "pt_invite",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("round_id", sa.String(32), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("group_no", sa.Integer, nullable=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", _uid, nullable=False),
    sa.Column("used_by", _uid, nullable=True),
    sa.Column("used_at", sa.BigInteger, nullable=True),
)

communities = sa.Table(
    "pt_community",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("community", sa.String(32), primary_key=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("content_ref", sa.String(40), nullable=False),
)

enrollment_codes = sa.Table(
    "pt_enrollment_code",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("round_id", sa.String(32), nullable=False, index=True),
    sa.Column("community", sa.String(32), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("user_id", _uid, nullable=True),
    sa.Column("used_at", sa.BigInteger, nullable=True),
    sa.Index("pt_enrollment_code_user", "user_id"),  # erasure (participation.store.erasure)
)

enrollments = sa.Table(
    "pt_enrollment",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("community", sa.String(32), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("online_group", sa.Integer, nullable=True),
)

proposals = sa.Table(
    "pt_proposal",
    metadata,
    sa.Column("proposal_id", sa.String(48), primary_key=True),
    sa.Column("round_id", sa.String(32), nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("author_id", _uid, nullable=False, index=True),
    sa.Column("community", sa.String(32), nullable=True),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("budget", sa.BigInteger, nullable=False),
    sa.Column("content_ref", sa.String(40), nullable=False),
    sa.Column("has_photo", sa.Boolean, nullable=False),
    sa.Column("withdrawn", sa.Boolean, nullable=False, default=False),
    sa.Column("hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("hide_reason", sa.String(32), nullable=True),
    sa.Column("shortlisted", sa.Boolean, nullable=False, default=False),
    sa.Column("group_no", sa.Integer, nullable=True),
    sa.Column("endorsements", sa.Integer, nullable=False, default=0),
    sa.Column("selected", sa.Boolean, nullable=True),
    sa.Column("answer_ref", sa.String(40), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("round_id", "number", name="pt_proposal_round_number"),
)

contents = sa.Table(
    "pt_content",
    metadata,
    sa.Column("ref", sa.String(40), primary_key=True),
    sa.Column("owner_id", _uid, nullable=True, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("data", sa.JSON, nullable=True),  # NULL once erased
    sa.Column("salt", sa.String(64), nullable=True),  # NULL once erased
    sa.Column("commitment", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("erased_at", sa.BigInteger, nullable=True),
)

endorsements = sa.Table(
    "pt_endorsement",
    metadata,
    sa.Column("proposal_id", sa.String(48), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("round_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("pt_endorsement_user", "user_id"),
)

judges = sa.Table(
    "pt_judge",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("pseudonym", sa.String(40), nullable=False),
    sa.Column("group_no", sa.Integer, nullable=True),
    sa.Column("joined_at", sa.BigInteger, nullable=False),
)

judge_scores = sa.Table(
    "pt_judge_score",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("proposal_id", sa.String(48), primary_key=True),
    sa.Column("scores", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

recusals = sa.Table(
    "pt_recusal",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("proposal_id", sa.String(48), primary_key=True),
)

sessions = sa.Table(
    "pt_onsite_session",
    metadata,
    sa.Column("session_id", sa.String(16), primary_key=True),
    sa.Column("round_id", sa.String(32), nullable=False),
    sa.Column("group_no", sa.Integer, nullable=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("open", sa.Boolean, nullable=False),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
    # when it was closed (the closing action's moment: see OnsiteSession.open_at); NULL: open
    sa.Column("closed_at", sa.BigInteger, nullable=True),
    # 1, 2, ... per round in the order of opening (NULL only if a backfill ever missed one)
    sa.Column("number", sa.Integer, nullable=True),
)

presences = sa.Table(
    "pt_presence",
    metadata,
    sa.Column("session_id", sa.String(16), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    # The onsite.checked_in entry that made the row: it orders check-ins made in the same
    # second (the later entry is the later check-in) and answers a scan again with its receipt,
    # also after the person erased their receipts. NULL: checked in before migration 0009 and
    # the receipt was gone by then.
    sa.Column("ledger_index", sa.BigInteger, nullable=True),
    sa.Column("leaf_hash", sa.String(64), nullable=True),
)

onsite_scores = sa.Table(
    "pt_onsite_score",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("proposal_id", sa.String(48), primary_key=True),
    sa.Column("session_id", sa.String(16), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
)

paper_tallies = sa.Table(
    "pt_paper_tally",
    metadata,
    sa.Column("tally_id", sa.String(16), primary_key=True),
    sa.Column("round_id", sa.String(32), nullable=False, index=True),
    sa.Column("session_id", sa.String(16), nullable=False),
    sa.Column("proposal_id", sa.String(48), nullable=False),
    sa.Column("ballots", sa.Integer, nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("sheet_sha256", sa.String(64), nullable=False),
    sa.Column("entered_by", _uid, nullable=False),
    sa.Column("confirmed_by", _uid, nullable=True),
    sa.Column("corrects", sa.String(16), nullable=True),
    sa.Column("superseded", sa.Boolean, nullable=False),
)

likes = sa.Table(
    "pt_like",
    metadata,
    sa.Column("round_id", sa.String(32), primary_key=True),
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("proposal_id", sa.String(48), primary_key=True),
)

receipts = sa.Table(
    "pt_receipt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", _uid, nullable=False, index=True),
    sa.Column("round_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(48), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("leaf_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

requests = sa.Table(
    "pt_request",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("leaf_hash", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(48), nullable=False),
)

conversations = sa.Table(
    "pt_conversation",
    metadata,
    sa.Column("user_id", _uid, primary_key=True, autoincrement=False),
    sa.Column("step", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

buttons = sa.Table(
    "pt_button",
    metadata,
    sa.Column("token", sa.String(16), primary_key=True),
    sa.Column("user_id", _uid, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("used_at", sa.BigInteger, nullable=True),
    sa.Index("pt_button_user", "user_id"),  # erasure
)

outbox = sa.Table(
    "pt_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", _uid, nullable=False),
    sa.Column("key", sa.String(80), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("broadcast_id", sa.Integer, nullable=True, index=True),
    sa.Column("state", sa.String(8), nullable=False),  # pending|claimed|sent|blocked|failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("claimed_at", sa.BigInteger, nullable=True),
    sa.Column("sent_at", sa.BigInteger, nullable=True),
    # a delivered notice about a proposal: which, the message, and what its text showed of
    # the proposal ("title", "hidden:<reason>", "erased"; "gone": deleted), so the gateway
    # edits it when that changes (gateway/notice_edits.py); NULL before migration 0010
    sa.Column("proposal", sa.String(48), nullable=True),
    sa.Column("message_id", sa.BigInteger, nullable=True),
    sa.Column("shown", sa.String(40), nullable=True),
    sa.Index("pt_outbox_state", "state", "id"),
    sa.Index("pt_outbox_user", "user_id"),  # erasure; a blocked person's pending notices
    sa.Index("pt_outbox_proposal", "proposal"),
)

broadcasts = sa.Table(
    "pt_broadcast",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_by", _uid, nullable=False),
    sa.Column("key", sa.String(80), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# An erased person's rows name them by a tombstone id (a negative number made with the pepper,
# see participation.store.erasure); this holds the tombstones in use, so that registering again
# is one primary-key lookup here, not a scan of the tables that may hold the tombstone.
tombstones = sa.Table(
    "pt_tombstone",
    metadata,
    sa.Column("tombstone", _uid, primary_key=True, autoincrement=False),
    sa.Column("erased_at", sa.BigInteger, nullable=False),
)


def create_all(engine: sa.Engine) -> None:
    """Create every ``pt_`` table that does not exist yet (tests and the embedded run)."""
    metadata.create_all(engine)
