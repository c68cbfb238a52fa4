"""The ledger: signed, hash-chained entries in an RFC 6962 Merkle tree with C2SP checkpoints.

See README.md for the public API; `ledger.errors` holds every error it raises.
"""

from ledger.batch import Appender
from ledger.batch import Receipt
from ledger.checkpoint import Checkpoint
from ledger.keys import LedgerKey
from ledger.keys import Verifier
from ledger.log import Block
from ledger.log import Ledger

__all__ = ["Appender", "Block", "Checkpoint", "Ledger", "LedgerKey", "Receipt", "Verifier"]
