"""Audit a running instance over its public API: download, then verify like an export.

Fetches /ledger/vkey, /ledger/checkpoint, /ledger/entries (paged), /ledger/blocks, and
checks the server's consistency proof between every two successive blocks and an
inclusion proof for the first and last entry of each block. A server that answers 429 or 503
(its per-client rate limit, a restart) is waited for as its `Retry-After` asks (at most
`MAX_WAIT_S` a time, `MAX_RETRIES` times a request), so an audit of a large log finishes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.checkpoint import parse_checkpoint
from ledger.errors import LedgerError
from ledger.hashing import Hash
from ledger.hashing import parse_hash
from ledger.messages import Message
from ledger.proof import verify_consistency
from ledger.proof import verify_inclusion
from ledger.verify import Name
from ledger.verify import Report
from ledger.verify import VerificationFailed
from ledger.verify import named_checkpoints
from ledger.verify import verify_export

TIMEOUT_S = 30.0
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRIES = 8
MAX_WAIT_S = 60.0
_CHECKPOINT_FILE = re.compile(r"[0-9]+\.txt")  # an export's checkpoints/N.txt
_sleep: Callable[[float], None] = time.sleep  # tests count the waits instead


def verify_url(
    base: str,
    *,
    vkey: str | None = None,
    checkpoints: Sequence[str] | Mapping[Name, str] = (),
    processes: int | None = None,
    out: Path | None = None,
) -> Report:
    """Download the log at `base` (e.g. http://host:8080) and verify it completely.

    `vkey` is the verifier key you trust; by default the first key the server lists.
    `checkpoints` are texts of older checkpoints you hold (e.g. from the public channel), or
    a mapping from where each came from to its text: the served log must extend each of them.
    `out`, when given, receives the verified download as an export directory (entries.jsonl,
    checkpoint, checkpoints/N.txt, vkey), the input of `python -m participation tally`;
    nothing is written there unless everything verified. A folder that already holds an
    export has its checkpoints/N.txt replaced by the served ones (an older export, perhaps
    of another server, would otherwise leave checkpoints that no longer verify); other files
    there are left alone.

    Raises:
        VerificationFailed: anything that does not verify, or a server that misbehaves.
    """
    base = base.rstrip("/")
    served_vkey = _get(base, "/ledger/vkey").decode()
    note = _get(base, "/ledger/checkpoint").decode()
    try:
        _, size, _ = parse_checkpoint(note[: note.index("\n\n") + 1])
    except LedgerError as err:
        raise VerificationFailed("server_checkpoint", detail=err.said) from err
    except ValueError as err:  # no blank line: not a signed note
        detail = Message.of("ledger.error.note_blank")
        raise VerificationFailed("server_checkpoint", detail=detail) from err
    blocks = _blocks(base)
    with tempfile.TemporaryDirectory(prefix="ledger-audit-") as tmp:
        folder = Path(tmp)
        with (folder / "entries.jsonl").open("wb") as handle:
            start = 0
            while start < size:
                page = _json(base, "/ledger/entries", start=start, end=size)
                leaves = page.get("entries")
                if page.get("start") != start or not isinstance(leaves, list) or not leaves:
                    raise VerificationFailed("server_no_entries", index=start)
                for leaf in leaves[: size - start]:
                    handle.write(str(leaf).encode("utf-8") + b"\n")
                start += min(len(leaves), size - start)
        (folder / "checkpoint").write_text(note, encoding="utf-8")
        (folder / "vkey").write_text(served_vkey.splitlines()[0] + "\n", encoding="utf-8")
        (folder / "checkpoints").mkdir()
        sealed = [b for b in blocks if int(b["end"]) <= size]
        for block in sealed:
            name = f"{int(block['number'])}.txt"
            (folder / "checkpoints" / name).write_text(str(block["checkpoint"]), encoding="utf-8")
        older: dict[Name, str] = {
            Message.of("ledger.checkpoint.server_block", block=int(b["number"])): str(
                b["checkpoint"]
            )
            for b in sealed
        }
        older.update(dict(named_checkpoints(checkpoints)))
        report = verify_export(folder, vkey=vkey, checkpoints=older, processes=processes)
        leaves_file = (folder / "entries.jsonl").read_bytes().split(b"\n")
        _check_proofs(base, blocks, size, leaves_file)
        if out is not None:
            stale = out / "checkpoints"
            if stale.is_dir():
                for old in stale.iterdir():
                    if old.is_file() and _CHECKPOINT_FILE.fullmatch(old.name):
                        old.unlink()
            shutil.copytree(folder, out, dirs_exist_ok=True)
    return report


def _check_proofs(base: str, blocks: list[dict[str, Any]], size: int, leaves: list[bytes]) -> None:
    from ledger.hashing import hash_leaf

    previous: dict[str, Any] | None = None
    for block in blocks:
        end = int(block["end"])
        if end > size:
            break
        root = parse_hash(str(block["root"]))
        for index in {int(block["start"]), end - 1}:
            proof = _json(base, "/ledger/proof/inclusion", index=index, size=end)
            path = _proof_path(proof, "/ledger/proof/inclusion")
            try:
                verify_inclusion(hash_leaf(leaves[index]), index, end, path, root)
            except LedgerError as err:
                raise VerificationFailed("inclusion_fails", index=index, detail=err.said) from err
        if previous is not None:
            old = int(previous["end"])
            proof = _json(base, "/ledger/proof/consistency", **{"from": old, "to": end})
            path = _proof_path(proof, "/ledger/proof/consistency")
            try:
                verify_consistency(old, end, path, parse_hash(str(previous["root"])), root)
            except LedgerError as err:
                raise VerificationFailed(
                    "blocks_inconsistent",
                    old=previous["number"],
                    new=block["number"],
                    detail=err.said,
                ) from err
        previous = block


def _blocks(base: str) -> list[dict[str, Any]]:
    """Return every block the server lists, each checked to have the API's shape."""
    out: list[dict[str, Any]] = []
    while True:
        page = _json(base, "/ledger/blocks", start=len(out) + 1, limit=1000)
        found = page.get("blocks")
        if not isinstance(found, list) or not found:
            return out
        out.extend(_block(b) for b in found)


_BLOCK_FIELDS: dict[str, type] = {
    "number": int, "start": int, "end": int, "root": str, "checkpoint": str,
}  # fmt: skip


def _block(block: object) -> dict[str, Any]:
    """Return a served block record, or raise VerificationFailed naming its first bad field
    (a server that misbehaves is reported, never a traceback)."""
    if not isinstance(block, dict):
        raise VerificationFailed("server_bad_field", path="/ledger/blocks", field="blocks")
    for name, kind in _BLOCK_FIELDS.items():
        value = block.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise VerificationFailed("server_bad_field", path="/ledger/blocks", field=name)
    try:
        parse_hash(block["root"])
    except ValueError as err:
        raise VerificationFailed("server_bad_field", path="/ledger/blocks", field="root") from err
    return block


def _proof_path(proof: dict[str, Any], path: str) -> list[Hash]:
    """Return a served proof's hashes, or raise VerificationFailed."""
    hashes = proof.get("path")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise VerificationFailed("server_bad_field", path=path, field="path")
    try:
        return [parse_hash(h) for h in hashes]
    except ValueError as err:
        raise VerificationFailed("server_bad_field", path=path, field="path") from err


def _json(base: str, path: str, **query: int) -> dict[str, Any]:
    try:
        value = json.loads(_get(base, path + "?" + urllib.parse.urlencode(query)))
    except ValueError as err:
        raise VerificationFailed("not_json", path=path) from err
    if not isinstance(value, dict):
        raise VerificationFailed("not_json_object", path=path)
    return value


def _get(base: str, path: str) -> bytes:
    url = base + path
    for attempt in range(MAX_RETRIES + 1):
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as err:
            if err.code not in RETRY_STATUSES or attempt == MAX_RETRIES:
                raise VerificationFailed("http_error", url=url, status=err.code) from err
            _sleep(retry_delay(err.headers.get("Retry-After"), attempt))
        except OSError as err:
            raise VerificationFailed("fetch_error", url=url, detail=network_problem(err)) from err
    raise AssertionError("unreachable")  # the loop returns or raises


def network_problem(err: OSError) -> Message | str:
    """Return why a server could not be reached: in the catalog's words for the usual causes
    (unknown host, refused, timed out, certificate, reset), else the system's own (English)."""
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, str) or not isinstance(reason, BaseException):
        return str(err)
    causes: tuple[tuple[type[BaseException], str], ...] = (
        (socket.gaierror, "net_unknown_host"),
        (ConnectionRefusedError, "net_refused"),
        (TimeoutError, "net_timeout"),
        (ssl.SSLCertVerificationError, "net_certificate"),
        (ConnectionResetError, "net_reset"),
    )
    for kind, code in causes:
        if isinstance(reason, kind):
            return Message.of(f"ledger.error.{code}")
    return str(err)


def retry_delay(retry_after: str | None, attempt: int) -> float:
    """Return how long to wait before retry `attempt` (0-based): the server's `Retry-After`
    in seconds when it sent one, else 1, 2, 4 ... seconds; never more than `MAX_WAIT_S`."""
    try:
        asked = float(retry_after) if retry_after is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        asked = None
    if asked is None or not asked >= 0:
        asked = float(2**attempt)
    return min(asked, MAX_WAIT_S)
