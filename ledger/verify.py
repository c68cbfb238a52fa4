"""Verify an export directory (or a running instance) from the outside.

Checks every leaf's canonical form and Ed25519 signature (in parallel over chunks of lines),
the `seq`/`prev` chain, the chain of keys (`ledger.key_rotated` entries, starting from the
trusted vkey), and the Merkle root and size of every checkpoint: the newest one must cover
exactly the exported entries, and older ones must be prefixes of them (consistency).
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import multiprocessing
import os
import sys
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.checkpoint import Checkpoint
from ledger.checkpoint import open_checkpoint
from ledger.entry import ROTATION_KIND
from ledger.entry import ZERO_PREV
from ledger.entry import parse_leaf
from ledger.errors import LedgerError
from ledger.errors import MalformedEntry
from ledger.hashing import HASH_SIZE
from ledger.hashing import Hash
from ledger.keys import Verifier
from ledger.messages import Message
from ledger.notefile import read_note
from ledger.tree import append_leaf
from ledger.tree import root_of_frontier

ROTATION_MARK = b'"kind":"' + ROTATION_KIND.encode() + b'"'
PARALLEL_FROM = 4_000  # below this many bytes per process, one process is faster
Schedule = list[tuple[int, str]]  # (first index signed, vkey), oldest first
Problem = tuple[str, dict[str, object]]  # (failure code, its parameters)
Name = str | Message  # what a checkpoint is called in a failure: a caller's name, or a Message


class VerificationFailed(LedgerError):
    """The export does not verify; `index` is the first bad entry when one is to blame.

    `code` names the kind of failure and `params` its details: the text is the catalog
    message `ledger.failed.<code>` (`text(locale)`, Korean or English); `str(err)` and
    `reason` are the English text, as before.
    """

    def __init__(self, code: str, *, index: int | None = None, **params: object) -> None:
        self.code = code
        self.index = index
        self.params = params
        self.message = Message.of(f"ledger.failed.{code}", **params)
        self.reason = self.message.text("en")
        super().__init__(
            self.message
            if index is None
            else Message.of("ledger.failed.at_index", index=index, reason=self.message)
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_failed, (self.code, self.index, self.params))


def _failed(code: str, index: int | None, params: dict[str, object]) -> VerificationFailed:
    return VerificationFailed(code, index=index, **params)


@dataclass(frozen=True, slots=True)
class Report:
    """What a successful verification established."""

    size: int
    root: Hash
    checkpoint_sizes: tuple[int, ...]
    key_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Chunk:
    first: int
    count: int
    hashes: bytes
    first_prev: str
    error: tuple[int, str, dict[str, object]] | None


def verify_export(
    directory: str | Path,
    *,
    vkey: str | None = None,
    checkpoints: Sequence[str] | Mapping[Name, str] = (),
    processes: int | None = None,
) -> Report:
    """Verify the export in `directory`; return a Report or raise VerificationFailed.

    `vkey` overrides the directory's `vkey` file (pass the key you trust, obtained out of
    band); `checkpoints` are texts of older checkpoints the caller holds, or a mapping from
    where each came from (e.g. its file, or a `Message` naming it) to its text: a failure
    names it.
    """
    root_dir = Path(directory)
    trusted = vkey if vkey is not None else _read(root_dir / "vkey")
    try:
        first_key = Verifier.from_vkey(trusted.strip().splitlines()[0])
    except MalformedEntry as err:
        raise VerificationFailed("vkey_unusable", detail=err.said) from err
    except IndexError as err:  # nothing but whitespace
        raise VerificationFailed(
            "vkey_unusable", detail=Message.of("ledger.error.vkey_empty")
        ) from err
    path = root_dir / "entries.jsonl"
    with _mapped(path) as data:  # a memory map: exports larger than RAM are fine
        schedule = _key_schedule(data, first_key)
        chunks = _check_lines(path, data, schedule, processes or os.cpu_count() or 1)
    hashes = _join(chunks)
    notes: list[tuple[Message, str]] = [
        (Message.of("ledger.checkpoint.export"), _read(root_dir / "checkpoint", note=True))
    ]
    folder = root_dir / "checkpoints"
    if folder.is_dir():
        notes += [
            (Message.of("ledger.checkpoint.export_file", name=p.name), _read(p, note=True))
            for p in sorted(folder.glob("*.txt"))
        ]
    notes += named_checkpoints(checkpoints)
    sizes, root = _check_checkpoints(notes, hashes, schedule)
    key_ids = tuple(Verifier.from_vkey(v).key_id for _, v in schedule)
    return Report(len(hashes) // HASH_SIZE, root, sizes, key_ids)


@contextlib.contextmanager
def _mapped(path: Path) -> Iterator[bytes]:
    if not path.exists() or path.stat().st_size == 0:
        yield b""
        return
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        yield m  # type: ignore[misc]  # mmap offers the bytes methods used here


def _read(path: Path, *, note: bool = False) -> str:
    """Return the text of the export's file `path`; with `note`, the checkpoint note in it
    as `ledger.notefile` reads a copy (an editor may have dropped its final newline): the
    tolerance is here, in the reading layer; `open_checkpoint` then checks it strictly."""
    try:
        return read_note(path) if note else path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise VerificationFailed("file_missing", name=path.name) from err
    except UnicodeDecodeError as err:
        raise VerificationFailed("file_not_utf8", name=path.name) from err


def _key_schedule(data: bytes, first: Verifier) -> Schedule:
    """Find `ledger.key_rotated` entries (their signatures are checked with the rest)."""
    schedule: Schedule = [(0, first.vkey)]
    at = data.find(ROTATION_MARK)
    counted, index = 0, 0  # newlines before `counted`, counted a slice at a time
    while at >= 0:
        start = data.rfind(b"\n", 0, at) + 1
        stop = data.find(b"\n", at)
        index += data[counted:start].count(b"\n")
        counted = start
        try:
            leaf = parse_leaf(data[start : stop if stop >= 0 else len(data)])
            vkey = leaf.entry.body.get("vkey")
            if leaf.entry.kind == ROTATION_KIND and isinstance(vkey, str):
                Verifier.from_vkey(vkey)  # an unusable key is reported at its index later
                schedule.append((index + 1, vkey))
        except LedgerError:
            pass  # reported, at its index, by the line checks
        at = data.find(ROTATION_MARK, stop if stop >= 0 else len(data))
    return schedule


def _check_lines(path: Path, data: bytes, schedule: Schedule, processes: int) -> list[_Chunk]:
    pieces = max(1, min(processes * 4, len(data) // PARALLEL_FROM))
    jobs = [(str(path), begin, end, first, schedule) for begin, end, first in bounds(data, pieces)]
    if processes <= 1 or len(jobs) <= 1:
        return [_check_chunk(job) for job in jobs]
    method = "fork" if sys.platform == "linux" and sys.version_info < (3, 12) else "forkserver"
    with multiprocessing.get_context(method).Pool(processes) as pool:
        return pool.map(_check_chunk, jobs, chunksize=1)


def bounds(data: bytes, pieces: int) -> list[tuple[int, int, int]]:
    """Split `data` into about `pieces` runs of whole lines: (begin, end, index of first line)."""
    out: list[tuple[int, int, int]] = []
    start, first = 0, 0
    for i in range(1, pieces + 1):
        if start >= len(data):
            break
        target = max(start, len(data) * i // pieces)
        stop = len(data) if i == pieces else data.find(b"\n", target) + 1
        if stop <= start:  # no newline after the target: this piece runs to the end
            stop = len(data)
        out.append((start, stop, first))
        first += data[start:stop].count(b"\n")
        start = stop
    return out


def _check_chunk(job: tuple[str, int, int, int, Schedule]) -> _Chunk:
    """Check lines [begin, end) of the file: canonical form, shape, seq, prev, key, signature."""
    path, begin, end, first, schedule = job
    with open(path, "rb") as handle:
        handle.seek(begin)
        lines = handle.read(end - begin).split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        lines[-1] = lines[-1] + b"\x00"  # no final newline: make the last line fail to parse
    since = [s for s, _ in schedule]
    verifiers = [Verifier.from_vkey(v) for _, v in schedule]
    out, prev, first_prev = bytearray(), "", ""
    for offset, line in enumerate(lines):
        index = first + offset
        try:
            leaf = parse_leaf(line)
        except MalformedEntry as err:
            return _Chunk(first, offset, bytes(out), first_prev, (index, *_plain(err, line)))
        entry = leaf.entry
        problem: Problem | None = None
        if entry.seq != index:
            problem = ("seq_mismatch", {"seq": entry.seq, "line": index})
        elif offset and entry.prev != prev:
            problem = ("chain_broken", {})
        if offset == 0:
            first_prev = entry.prev
        verifier = verifiers[bisect.bisect_right(since, index) - 1]
        if problem is None and leaf.key_id != verifier.key_id:
            problem = ("wrong_key", {"found": leaf.key_id, "current": verifier.key_id})
        if problem is None:
            try:
                verifier.verify(leaf.entry_bytes, leaf.signature)
            except LedgerError:
                problem = ("bad_signature", {"key": verifier.key_id})
        if problem is None and entry.kind == ROTATION_KIND:
            problem = _check_rotation(entry.body, index, schedule)
        if problem is not None:
            return _Chunk(first, offset, bytes(out), first_prev, (index, *problem))
        out += leaf.leaf_hash
        prev = leaf.leaf_hash.hex()
    return _Chunk(first, len(lines), bytes(out), first_prev, None)


def _check_rotation(body: object, index: int, schedule: Schedule) -> Problem | None:
    if (
        not isinstance(body, dict)
        or set(body) != {"vkey"}
        or (index + 1, body["vkey"]) not in (schedule)
    ):
        return ("rotation_body", {})
    try:
        Verifier.from_vkey(str(body["vkey"]))
    except MalformedEntry as err:
        return ("rotation_unusable", {"detail": err.what})
    return None


def _plain(err: MalformedEntry, line: bytes) -> Problem:
    if line.endswith(b"\x00"):
        return ("no_final_newline", {})
    if not line:
        return ("empty_line", {})
    return ("malformed_leaf", {"detail": err.what})


def _join(chunks: list[_Chunk]) -> bytes:
    errors = [chunk.error for chunk in chunks if chunk.error is not None]
    previous = ZERO_PREV
    for chunk in chunks:  # the links between chunks
        if chunk.count and chunk.first_prev != previous:
            errors.append((chunk.first, "chain_broken", {}))
            break
        if chunk.error is not None:
            break
        previous = chunk.hashes[-HASH_SIZE:].hex()
    if errors:
        index, code, params = min(errors, key=lambda error: error[0])
        raise VerificationFailed(code, index=index, **params)
    return b"".join(chunk.hashes for chunk in chunks)


def named_checkpoints(
    checkpoints: Sequence[str] | Mapping[Name, str],
) -> list[tuple[Message, str]]:
    """Return (name, text) for checkpoints held by the caller, named by where they came from
    (a mapping's keys: a Message, or a text shown as it is) or, for bare texts, "held
    checkpoint N" from 1 in the order given."""
    if isinstance(checkpoints, Mapping):
        return [
            (name if isinstance(name, Message) else Message.of("ledger.checkpoint.named",
                                                               name=str(name)), text)
            for name, text in checkpoints.items()
        ]  # fmt: skip
    return [
        (Message.of("ledger.checkpoint.held", n=n), text) for n, text in enumerate(checkpoints, 1)
    ]


def _check_checkpoints(
    notes: list[tuple[Message, str]], hashes: bytes, schedule: Schedule
) -> tuple[tuple[int, ...], Hash]:
    size = len(hashes) // HASH_SIZE
    since = [s for s, _ in schedule]
    opened: list[Checkpoint] = []
    for what, text in notes:
        try:
            # A checkpoint of size n is signed by the key that would sign entry n.
            sizes = _claimed_size(text)
            verifier = Verifier.from_vkey(schedule[bisect.bisect_right(since, sizes) - 1][1])
            opened.append(open_checkpoint(text, verifier))
        except LedgerError as err:
            raise VerificationFailed("checkpoint_unverified", what=what, detail=err.said) from err
    newest = opened[0]
    if any(cp.origin != newest.origin for cp in opened):
        raise VerificationFailed("origins_differ")
    if newest.size != size:
        index = min(size, newest.size)
        code = "entries_missing" if size < newest.size else "entries_uncovered"
        raise VerificationFailed(code, index=index, size=size, checkpoint=newest.size)
    wanted = sorted({cp.size for cp in opened})
    if wanted[-1] > size:
        raise VerificationFailed("checkpoint_newer", index=size, checkpoint=wanted[-1], size=size)
    roots = _roots_at(hashes, wanted)
    for cp in sorted(opened, key=lambda c: c.size):
        if roots[cp.size] != cp.root:
            raise VerificationFailed(
                "root_mismatch",
                index=max(cp.size - 1, 0),
                size=cp.size,
                root=roots[cp.size].hex(),
                claimed=cp.root.hex(),
            )
    return tuple(wanted), roots[size]


def _claimed_size(text: str) -> int:
    lines = text.split("\n")
    if len(lines) < 2 or not lines[1].isdigit():
        raise MalformedEntry(Message.of("ledger.error.not_checkpoint"))
    return int(lines[1])


def _roots_at(hashes: bytes, sizes: list[int]) -> dict[int, Hash]:
    frontier: list[Hash] = []
    roots: dict[int, Hash] = {}
    pending = list(reversed(sizes))
    n = 0
    while pending:
        while pending and pending[-1] == n:
            roots[pending.pop()] = root_of_frontier(frontier)
        if not pending:
            break
        append_leaf(frontier, n, Hash(hashes[n * HASH_SIZE : (n + 1) * HASH_SIZE]))
        n += 1
    return roots
