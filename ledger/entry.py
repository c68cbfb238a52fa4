"""Entries and their signed envelopes (the leaves of the tree).

An entry is `{"v":1,"seq":N,"ts":"2017-02-23T10:00:00.000Z","kind":"a.b","actor":"r:..",
"round":"..." or null,"body":{...},"prev":"<hex leaf hash of entry N-1>"}`, and its leaf is
the canonical `{"entry":{...},"key":"<name>+<8 hex>","sig":"<base64 Ed25519 over the entry's
canonical bytes>"}`. The leaf's bytes are what the tree hashes and what one export line holds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from ledger import canonical
from ledger.canonical import JSON
from ledger.errors import InvalidKind
from ledger.errors import MalformedEntry
from ledger.hashing import Hash
from ledger.hashing import hash_leaf
from ledger.keys import LedgerKey
from ledger.messages import Message

VERSION = 1
ZERO_PREV = "0" * 64  # `prev` of entry 0
ROTATION_KIND = "ledger.key_rotated"  # owned by the ledger: body {"vkey": "<new verifier key>"}
KIND_PATTERN = re.compile(r"[a-z]+(\.[a-z_]+)+")
TS_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
HEX_PATTERN = re.compile(r"[0-9a-f]{64}")
LEAF_KEYS = frozenset({"entry", "key", "sig"})
ENTRY_KEYS = frozenset({"v", "seq", "ts", "kind", "actor", "round", "body", "prev"})
LEAF_HEAD = b'{"entry":'
LEAF_KEY_MARK = b',"key":"'


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded entry."""

    seq: int
    ts: str
    kind: str
    actor: str
    round: str | None
    body: dict[str, JSON]
    prev: str


@dataclass(frozen=True, slots=True)
class SignedLeaf:
    """A decoded leaf: the entry, the exact bytes that were signed, the key and signature."""

    entry: Entry
    entry_bytes: bytes
    key_id: str
    signature: bytes
    leaf_hash: Hash


def format_ts(when: datetime) -> str:
    """Return `when` as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`. Requires an aware datetime.

    Raises:
        MalformedEntry: a naive datetime.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise MalformedEntry("entry time must be an aware datetime")
    return when.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def check_kind(kind: str, allowed: Collection[str] | None = None) -> None:
    """Check that `kind` is a dotted lowercase name, and one of `allowed` when given.

    Raises:
        InvalidKind: otherwise.
    """
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise InvalidKind(f"kind {kind!r} is not a dotted lowercase name like 'proposal.submitted'")
    if allowed is not None and kind not in allowed and kind != ROTATION_KIND:
        raise InvalidKind(f"kind {kind!r} is not one of this log's kinds")


def make_entry(
    *, seq: int, ts: str, kind: str, actor: str, round: str | None, body: JSON, prev: str
) -> dict[str, JSON]:
    """Return the entry object, checking every field's type.

    Raises:
        MalformedEntry: a field of the wrong type or shape (InvalidKind for the kind).
    """
    check_kind(kind)
    check_content(actor, round, body)
    if not TS_PATTERN.fullmatch(ts) or not HEX_PATTERN.fullmatch(prev) or seq < 0:
        raise MalformedEntry("entry needs seq >= 0, a UTC millisecond ts and a hex prev")
    return entry_object(seq, ts, kind, actor, round, body, prev)


def check_content(actor: str, round: str | None, body: JSON) -> None:
    """Check the caller-supplied fields of an entry (the ledger fills in the rest).

    Raises:
        MalformedEntry: an empty actor, a round that is not a string, a body that is not an
            object of canonical JSON.
    """
    if not isinstance(actor, str) or not actor:
        raise MalformedEntry("actor must be a non-empty string")
    if round is not None and not isinstance(round, str):
        raise MalformedEntry("round must be a string or None")
    if not isinstance(body, dict):
        raise MalformedEntry("body must be a JSON object")
    canonical.check(body)


def entry_object(
    seq: int, ts: str, kind: str, actor: str, round: str | None, body: JSON, prev: str
) -> dict[str, JSON]:
    """Return the entry object for fields already checked (see `make_entry`)."""
    return {
        "v": VERSION,
        "seq": seq,
        "ts": ts,
        "kind": kind,
        "actor": actor,
        "round": round,
        "body": body,
        "prev": prev,
    }


def sign_entry(entry: dict[str, JSON], key: LedgerKey) -> tuple[bytes, Hash]:
    """Return the canonical leaf bytes of `entry` signed by `key`, and the leaf hash.

    Requires an entry built by `make_entry` (which checks every field).

    Raises:
        MalformedEntry: a lone surrogate in a string.
    """
    entry_bytes = canonical.encode_checked(entry)
    signature = base64.b64encode(key.sign(entry_bytes))
    # Keys "entry" < "key" < "sig" are already in canonical order; the strings need encoding.
    leaf = b"".join((LEAF_HEAD, entry_bytes, _key_field(key.key_id), b',"sig":"', signature, b'"}'))
    return leaf, hash_leaf(leaf)


@functools.lru_cache(maxsize=64)
def _key_field(key_id: str) -> bytes:
    return b',"key":' + canonical.encode(key_id)


def parse_leaf(leaf: bytes, index: int | None = None) -> SignedLeaf:
    """Decode and check the shape of one leaf (not its signature, which needs the key).

    Raises:
        NonCanonicalEncoding: bytes that are not the canonical encoding of the leaf.
        MalformedEntry: any field missing, extra, or of the wrong type or shape.
    """
    try:
        value = canonical.decode(leaf)
    except MalformedEntry as err:
        raise type(err)(err.what, index=index) from err
    if not isinstance(value, dict) or value.keys() != LEAF_KEYS:
        raise MalformedEntry(Message.of("ledger.error.leaf_fields"), index=index)
    raw, key_id, sig = value["entry"], value["key"], value["sig"]
    if not isinstance(raw, dict) or raw.keys() != ENTRY_KEYS:
        raise MalformedEntry(Message.of("ledger.error.entry_fields"), index=index)
    if not isinstance(key_id, str) or not isinstance(sig, str):
        raise MalformedEntry(Message.of("ledger.error.leaf_key_sig"), index=index)
    try:
        signature = binascii.a2b_base64(sig, strict_mode=True)
    except (binascii.Error, ValueError) as err:
        raise MalformedEntry(Message.of("ledger.error.sig_not_base64"), index=index) from err
    if len(signature) != 64 or binascii.b2a_base64(signature, newline=False) != sig.encode():
        raise MalformedEntry(Message.of("ledger.error.sig_not_canonical"), index=index)
    entry = _entry(raw, index)
    entry_bytes = leaf[len(LEAF_HEAD) : leaf.rindex(LEAF_KEY_MARK)]
    return SignedLeaf(entry, entry_bytes, key_id, signature, hash_leaf(leaf))


def _entry(raw: dict[str, JSON], index: int | None) -> Entry:
    seq, ts, kind, actor = raw["seq"], raw["ts"], raw["kind"], raw["actor"]
    round_, body, prev = raw["round"], raw["body"], raw["prev"]
    if raw["v"] != VERSION or type(raw["v"]) is not int:
        raise MalformedEntry(
            Message.of("ledger.error.entry_version", version=repr(raw["v"]), expected=VERSION),
            index=index,
        )
    if type(seq) is not int or seq < 0:
        raise MalformedEntry(Message.of("ledger.error.seq_not_count"), index=index)
    if not isinstance(ts, str) or not TS_PATTERN.fullmatch(ts):
        raise MalformedEntry(Message.of("ledger.error.ts_format"), index=index)
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise InvalidKind(Message.of("ledger.error.kind_format", kind=repr(kind)), index=index)
    if not isinstance(actor, str) or not actor:
        raise MalformedEntry(Message.of("ledger.error.actor_empty"), index=index)
    if round_ is not None and not isinstance(round_, str):
        raise MalformedEntry(Message.of("ledger.error.round_type"), index=index)
    if not isinstance(body, dict):
        raise MalformedEntry(Message.of("ledger.error.body_type"), index=index)
    if not isinstance(prev, str) or not HEX_PATTERN.fullmatch(prev):
        raise MalformedEntry(Message.of("ledger.error.prev_format"), index=index)
    return Entry(seq, ts, kind, actor, round_, body, prev)
