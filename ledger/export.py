"""Write a log's export directory: everything an outsider needs to verify it.

entries.jsonl        one leaf per line: exactly the bytes that were hashed, then "\\n"
checkpoint           the newest signed checkpoint (covers every line of entries.jsonl)
checkpoints/N.txt    the checkpoint of every block N
vkey                 the log's first verifier key (rotations are entries in the chain)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import Engine

from ledger import store
from ledger.checkpoint import Checkpoint


def export_log(engine: Engine, log_id: int, origin: str, directory: Path) -> Checkpoint | None:
    """Write the export of the log up to its newest block; return that block's Checkpoint.

    Entries appended after the newest block are left out, so that the export is exactly
    what its checkpoint covers. Files are written under temporary names, then renamed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "checkpoints").mkdir(exist_ok=True)
    with engine.connect() as conn:
        head = store.read_head(conn, log_id)
        blocks = store.read_blocks(conn, log_id)
        end = blocks[-1].end if blocks else 0
        _write(directory / "entries.jsonl", store.iter_leaves(conn, log_id, end))
    for block in blocks:
        _write(directory / "checkpoints" / f"{block.number}.txt", [block.checkpoint.encode()], b"")
    _write(directory / "vkey", [head.initial_vkey.encode()])
    if not blocks:
        (directory / "checkpoint").unlink(missing_ok=True)
        return None
    last = blocks[-1]
    _write(directory / "checkpoint", [last.checkpoint.encode()], b"")
    return Checkpoint(origin, last.end, last.root, last.checkpoint, last.number)


def _write(path: Path, chunks: Iterable[bytes], end: bytes = b"\n") -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            handle.write(end)
    os.replace(tmp, path)
