"""The public ledger API's response bodies, as plain dicts/strings built from a `Ledger`.

The web layer maps each function to a route and `OutOfRange`/`InvalidProof` to HTTP 400
with `error_body(err)`:

    GET /ledger/checkpoint                  text/plain   checkpoint_text(log)
    GET /ledger/vkey                        text/plain   vkey_text(log)
    GET /ledger/entries?start=&end=         JSON         entries_body(log, start, end)
    GET /ledger/proof/inclusion?index=&size= JSON        inclusion_body(log, index, size)
    GET /ledger/proof/consistency?from=&to= JSON         consistency_body(log, old, new)
    GET /ledger/blocks?start=&limit=        JSON         blocks_body(log, start, limit)
"""

from __future__ import annotations

from ledger.canonical import JSON
from ledger.errors import LedgerError
from ledger.errors import OutOfRange
from ledger.hashing import hash_leaf
from ledger.log import Ledger

MAX_BLOCKS = 1_000


def checkpoint_text(log: Ledger) -> str | None:
    """Return the newest signed checkpoint note, or None (HTTP 404) before the first seal."""
    checkpoint = log.checkpoint()
    return None if checkpoint is None else checkpoint.text


def vkey_text(log: Ledger) -> str:
    """Return the verifier keys, one per line: the first key, then each key rotated to."""
    return "".join(vkey + "\n" for vkey in log.vkeys())


def entries_body(log: Ledger, start: int, end: int) -> dict[str, JSON]:
    """Return `{"start": s, "entries": ["<leaf>", ...]}`: at most 1,000 leaves from `start`."""
    leaves = log.entries(start, end)
    return {"start": start, "entries": [leaf.decode("utf-8") for leaf in leaves]}


def inclusion_body(log: Ledger, index: int, size: int) -> dict[str, JSON]:
    """Return `{"index", "size", "leaf_hash", "path"}` proving entry `index` in tree `size`."""
    path = log.inclusion_proof(index, size)
    leaves = log.entries(index, index + 1)
    return {
        "index": index,
        "size": size,
        "leaf_hash": hash_leaf(leaves[0]).hex(),
        "path": [h.hex() for h in path],
    }


def consistency_body(log: Ledger, old_size: int, new_size: int) -> dict[str, JSON]:
    """Return `{"from", "to", "path"}` proving tree `old_size` is a prefix of `new_size`."""
    path = log.consistency_proof(old_size, new_size)
    return {"from": old_size, "to": new_size, "path": [h.hex() for h in path]}


def blocks_body(log: Ledger, start: int = 0, limit: int = 100) -> dict[str, JSON]:
    """Return `{"blocks": [{"number","start","end","root","checkpoint","sealed_at"}, ...]}`."""
    if start < 0 or not 0 < limit <= MAX_BLOCKS:
        raise OutOfRange(f"blocks start must be >= 0 and limit within 1..{MAX_BLOCKS}")
    blocks: list[JSON] = [
        {
            "number": b.number,
            "start": b.start,
            "end": b.end,
            "root": b.root.hex(),
            "checkpoint": b.checkpoint_text,
            "sealed_at": b.sealed_at.isoformat().replace("+00:00", "Z"),
        }
        for b in log.blocks(start, limit)
    ]
    return {"blocks": blocks}


def receipt_body(log: Ledger, index: int) -> dict[str, JSON]:
    """Return what a resident needs to check one entry: the leaf, its block and a proof.

    The proof is against the block that sealed the entry (`checkpoint` is that block's
    signed note); `block` is None and `path` empty while the entry is not sealed yet.
    """
    leaves = log.entries(index, index + 1)
    if not leaves:
        raise OutOfRange(f"no entry {index}")
    block = log.block_of(index)
    body: dict[str, JSON] = {"index": index, "leaf": leaves[0].decode("utf-8"), "block": None}
    if block is not None:
        body["block"] = block.number
        body["size"] = block.end
        body["checkpoint"] = block.checkpoint_text
        body["path"] = [h.hex() for h in log.inclusion_proof(index, block.end)]
    return body


def error_body(err: LedgerError) -> dict[str, JSON]:
    """Return the one error shape, `{"code", "message"}`, for a ledger error."""
    return {"code": type(err).__name__, "message": str(err)}


def int_arg(value: str | None, name: str, default: int | None = None) -> int:
    """Parse a query parameter as a non-negative decimal integer.

    Raises:
        OutOfRange: missing (and no default), or not a canonical non-negative integer.
    """
    if value is None or value == "":
        if default is None:
            raise OutOfRange(f"query parameter {name!r} is required")
        return default
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise OutOfRange(f"query parameter {name!r} must be a non-negative integer")
    return int(value)
