"""Entries and leaves: shape, canonical bytes, signatures."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest

from ledger import canonical
from ledger.entry import ZERO_PREV
from ledger.entry import check_kind
from ledger.entry import format_ts
from ledger.entry import make_entry
from ledger.entry import parse_leaf
from ledger.entry import sign_entry
from ledger.errors import InvalidKind
from ledger.errors import MalformedEntry
from ledger.errors import NonCanonicalEncoding
from ledger.keys import LedgerKey

KEY = LedgerKey.from_seed("test.example/ledger", bytes(range(32)))
KST = timezone(timedelta(hours=9))


def entry(**changes: object) -> dict[str, canonical.JSON]:
    fields: dict[str, object] = {"seq": 0, "ts": "2017-02-23T10:00:00.000Z",
                                 "kind": "proposal.endorsed", "actor": "r:ab12",
                                 "round": "2017-ttabok", "body": {"proposal": "p-1"},
                                 "prev": ZERO_PREV}  # fmt: skip
    fields.update(changes)
    return make_entry(**fields)  # type: ignore[arg-type]


def test_leaf_is_the_canonical_envelope_and_its_signature_verifies() -> None:
    leaf, leaf_hash = sign_entry(entry(), KEY)
    value = canonical.decode(leaf)
    assert isinstance(value, dict) and list(value) == ["entry", "key", "sig"]
    parsed = parse_leaf(leaf)
    assert parsed.entry_bytes == canonical.encode(value["entry"])
    assert parsed.key_id == KEY.key_id and parsed.leaf_hash == leaf_hash
    KEY.verifier.verify(parsed.entry_bytes, parsed.signature)
    assert parsed.entry.kind == "proposal.endorsed" and parsed.entry.round == "2017-ttabok"


def test_timestamps_are_utc_milliseconds() -> None:
    assert (
        format_ts(datetime(2017, 2, 23, 19, 0, 0, 123456, tzinfo=KST)) == "2017-02-23T10:00:00.123Z"
    )
    with pytest.raises(MalformedEntry):
        format_ts(datetime(2017, 2, 23, 10, 0))
    assert format_ts(datetime(2017, 2, 23, 10, 0, tzinfo=UTC)) == "2017-02-23T10:00:00.000Z"


@pytest.mark.parametrize("kind", ["proposal", "Proposal.x", "a..b", "a.b.", "제안.x", "a-b.c", ""])
def test_malformed_kinds_are_refused(kind: str) -> None:
    with pytest.raises(InvalidKind):
        check_kind(kind)


def test_closed_kind_list_is_enforced_but_rotation_stays_allowed() -> None:
    check_kind("round.opened", {"round.opened"})
    check_kind("ledger.key_rotated", {"round.opened"})
    with pytest.raises(InvalidKind):
        check_kind("round.closed", {"round.opened"})


@pytest.mark.parametrize(
    "changes",
    [{"actor": ""}, {"round": 5}, {"body": []}, {"body": {"x": 0.5}}, {"prev": "0" * 63},
     {"ts": "2017-02-23 10:00:00"}, {"seq": -1}],
    ids=["empty-actor", "int-round", "list-body", "float", "short-prev", "bad-ts", "negative-seq"],
)  # fmt: skip
def test_entry_fields_are_checked(changes: dict[str, object]) -> None:
    with pytest.raises(MalformedEntry):
        entry(**changes)


def test_parse_leaf_rejects_extra_fields_and_non_canonical_bytes() -> None:
    leaf, _ = sign_entry(entry(), KEY)
    with pytest.raises(NonCanonicalEncoding):
        parse_leaf(leaf.replace(b'"entry":', b'"entry": '))
    extra = leaf.replace(b'"sig":', b'"note":"x","sig":')
    with pytest.raises(MalformedEntry, match="exactly"):
        parse_leaf(extra)
    with pytest.raises(MalformedEntry, match="index 7"):
        parse_leaf(leaf[:-1], index=7)
