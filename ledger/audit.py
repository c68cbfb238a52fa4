"""Continuous self-audit of a stored log, for a readiness check.

`LedgerAudit.check()` is cheap and incremental: it verifies only the entries appended since
its previous call (canonical form, `seq`, `prev` chain, key chain, Ed25519 signature), checks
the Merkle root of every block sealed meanwhile against the root it computed itself from the
leaves (and the block's signed checkpoint), checks that the stored subtree hashes give the
same root, and re-checks a few random older entries by an inclusion proof against its own
root (so a changed, deleted or swapped old row is caught sooner or later). `check(full=True)`
starts again from entry 0 (a full audit, on demand). Failures raise
`ledger.verify.VerificationFailed` with the index of the first bad entry, as `verify` does.
Spec of the proofs: RFC 9162 §2.1.3.2.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol

from ledger.checkpoint import open_checkpoint
from ledger.entry import ROTATION_KIND
from ledger.entry import ZERO_PREV
from ledger.entry import parse_leaf
from ledger.errors import LedgerError
from ledger.hashing import Hash
from ledger.keys import Verifier
from ledger.proof import verify_inclusion
from ledger.tree import append_leaf
from ledger.tree import root_of_frontier
from ledger.verify import VerificationFailed

PAGE = 1_000


class AuditedLog(Protocol):
    """What the audit reads (`ledger.Ledger` has it)."""

    def size(self) -> int: ...
    def entries(self, start: int, end: int) -> list[bytes]: ...
    def blocks(self, start: int = 0, limit: int = 100) -> Sequence[_Block]: ...
    def root(self, size: int | None = None) -> Hash: ...
    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...
    def vkeys(self) -> list[str]: ...


class _Block(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def root(self) -> Hash: ...
    @property
    def checkpoint_text(self) -> str: ...


@dataclass
class _State:
    size: int = 0
    prev: str = ZERO_PREV
    frontier: list[Hash] = field(default_factory=list)
    verifier: Verifier | None = None
    next_block: int = 1


class LedgerAudit:
    """Verify a log as it grows; thread-safe (one check at a time)."""

    def __init__(
        self,
        log: AuditedLog,
        *,
        trusted_vkey: str | None = None,
        budget: int = 5_000,
        samples: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        """`trusted_vkey` is the log's first key (default: as stored in the log's own table).

        At most `budget` new entries are verified per call (the rest on the next calls), and
        `samples` older entries are re-checked.
        """
        self._log, self._trusted = log, trusted_vkey
        self._budget, self._samples = budget, samples
        self._rng = rng or random.Random()
        self._state = _State()
        self._lock = threading.Lock()

    @property
    def verified(self) -> int:
        """Return how many entries are verified so far."""
        return self._state.size

    def check(self, *, full: bool = False) -> int:
        """Verify what is new (everything with `full`); return the size verified so far.

        Raises:
            VerificationFailed: a bad entry (with its index), root or checkpoint.
        """
        with self._lock:
            if full:
                self._state = _State()
            try:
                return self._check(self._state, None if full else self._budget)
            except VerificationFailed:
                self._state = _State()  # the next check starts over and reports it again
                raise

    # -- internals -----------------------------------------------------------------------

    def _check(self, st: _State, budget: int | None) -> int:
        log = self._log
        if st.verifier is None:
            first = self._trusted or log.vkeys()[0]
            try:
                st.verifier = Verifier.from_vkey(first)
            except LedgerError as err:
                raise VerificationFailed("vkey_unusable", detail=err.said) from err
        size = log.size()
        if size < st.size:
            raise VerificationFailed("log_shrank", index=size, old=st.size, new=size)
        self._sample(st)
        target = size if budget is None else min(size, st.size + budget)
        blocks = self._blocks_until(st, target)
        while st.size < target:
            leaves = log.entries(st.size, min(target, st.size + PAGE))
            if not leaves:
                raise VerificationFailed("entry_missing", index=st.size)
            for leaf in leaves:
                self._verify_leaf(st, leaf)
                while blocks and blocks[0].end == st.size:
                    self._verify_block(st, blocks.pop(0))
        if blocks:
            raise VerificationFailed(
                "block_past_end", index=st.size, block=blocks[0].number, end=blocks[0].end
            )
        if st.size and log.root(st.size) != root_of_frontier(st.frontier):
            raise VerificationFailed("stored_hashes", index=st.size - 1, size=st.size)
        return st.size

    def _verify_leaf(self, st: _State, leaf: bytes) -> None:
        index = st.size
        assert st.verifier is not None
        try:
            parsed = parse_leaf(leaf)
        except LedgerError as err:
            raise VerificationFailed("malformed_leaf", index=index, detail=err.said) from err
        entry = parsed.entry
        if entry.seq != index:
            raise VerificationFailed("seq_mismatch", index=index, seq=entry.seq, line=index)
        if entry.prev != st.prev:
            raise VerificationFailed("chain_broken", index=index)
        if parsed.key_id != st.verifier.key_id:
            raise VerificationFailed(
                "wrong_key", index=index, found=parsed.key_id, current=st.verifier.key_id
            )
        try:
            st.verifier.verify(parsed.entry_bytes, parsed.signature)
        except LedgerError as err:
            raise VerificationFailed("bad_signature", index=index, key=st.verifier.key_id) from err
        if entry.kind == ROTATION_KIND:
            try:
                st.verifier = Verifier.from_vkey(str(entry.body.get("vkey")))
            except LedgerError as err:
                raise VerificationFailed("rotation_unusable", index=index, detail=err.said) from err
        append_leaf(st.frontier, index, parsed.leaf_hash)
        st.prev = parsed.leaf_hash.hex()
        st.size = index + 1

    def _blocks_until(self, st: _State, target: int) -> list[_Block]:
        found: list[_Block] = []
        start = st.next_block
        while True:
            page = self._log.blocks(start, 100)
            found += [b for b in page if b.end <= target]
            if len(page) < 100 or page[-1].end > target:
                return found
            start = page[-1].number + 1

    def _verify_block(self, st: _State, block: _Block) -> None:
        assert st.verifier is not None
        where = max(block.end - 1, 0)
        if block.number != st.next_block:
            raise VerificationFailed("block_missing", index=where, block=st.next_block)
        try:
            checkpoint = open_checkpoint(block.checkpoint_text, st.verifier)
        except LedgerError as err:
            raise VerificationFailed(
                "block_checkpoint", index=where, block=block.number, detail=err.said
            ) from err
        ours = root_of_frontier(st.frontier)
        if checkpoint.size != block.end or checkpoint.root != ours or block.root != ours:
            raise VerificationFailed(
                "block_root",
                index=where,
                size=block.end,
                root=ours.hex(),
                block=block.number,
                claimed=checkpoint.root.hex(),
            )
        st.next_block = block.number + 1

    def _sample(self, st: _State) -> None:
        """Re-check random verified entries: each must still prove into our own root."""
        if not st.size or not self._samples:
            return
        root = root_of_frontier(st.frontier)
        for _ in range(self._samples):
            index = self._rng.randrange(st.size)
            leaves = self._log.entries(index, index + 1)
            if not leaves:
                raise VerificationFailed("entry_missing", index=index)
            try:
                parsed = parse_leaf(leaves[0])
                if parsed.entry.seq != index:
                    raise VerificationFailed(
                        "seq_mismatch", index=index, seq=parsed.entry.seq, line=index
                    )
                path = self._log.inclusion_proof(index, st.size)
                verify_inclusion(parsed.leaf_hash, index, st.size, path, root)
            except VerificationFailed:
                raise
            except LedgerError as err:
                raise VerificationFailed("entry_changed", index=index, detail=err.said) from err
