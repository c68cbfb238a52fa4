"""Interoperability: Go's golang.org/x/mod/sumdb (note and tlog) accepts what we produce."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger import Ledger
from ledger import LedgerKey
from ledger.tree import stored_hash_index
from tests.ledger.conftest import TickingClock

CHECKER = Path(__file__).parent / "go" / "checker.go"
GOPATH = "/usr/share/gocode"


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the Go checker into a temporary directory."""
    go = shutil.which("go")
    missing = go is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/tlog").is_dir()
    if missing:
        message = "go and golang-golang-x-mod-dev are needed for the interoperability check"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (REQUIRE_SERVICES=1)")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(out / "cache"),
           "GOFLAGS": "", "CGO_ENABLED": "0"}  # fmt: skip
    subprocess.run([str(go), "build", "-o", str(out / "checker"), str(CHECKER)],
                   env=env, check=True, capture_output=True, timeout=240)  # fmt: skip
    return out / "checker"


def run(checker: Path, document: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(checker)], input=json.dumps(document), text=True,
                          capture_output=True, timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 37-entry log (with a key rotation) and every kind of proof, as the checker reads them."""
    folder = tmp_path_factory.mktemp("log")
    key = LedgerKey.from_seed("gg.example/ledger", bytes(range(32)))
    with Ledger.open(f"sqlite:///{folder / 'l.db'}", key, "gg.example/ledger",
                     clock=TickingClock()) as log:  # fmt: skip
        for i in range(30):
            log.append("proposal.endorsed", "r:ab", "r1", {"i": i, "t": "공감합니다"})
        new_key = LedgerKey.from_seed("gg.example/ledger-2", bytes(32))
        log.rotate(new_key)
        for i in range(6):
            log.append("proposal.endorsed", "r:cd", None, {"i": i})
        checkpoint = log.seal()
        assert checkpoint is not None
        size = checkpoint.size
        return {
            "vkey": new_key.vkey,
            "checkpoint": checkpoint.text,
            "leaves": [base64.b64encode(leaf).decode() for leaf in log.entries(0, size)],
            "roots": {str(n): log.root(n).hex() for n in (1, 2, 3, 7, 8, 16, 31, size)},
            "inclusion": [
                {"index": i, "size": n, "path": [h.hex() for h in log.inclusion_proof(i, n)]}
                for n in (1, 5, 8, 17, size)
                for i in sorted({0, n // 2, n - 1})
            ],
            "consistency": [
                {"from": m, "to": n, "path": [h.hex() for h in log.consistency_proof(m, n)]}
                for m, n in [(1, 2), (1, 37), (3, 7), (4, 8), (6, 37), (16, 37), (31, 36)]
            ],
            "stored": [[lv, k, stored_hash_index(lv, k)] for lv in range(6) for k in range(40)],
        }


def test_go_sumdb_accepts_our_checkpoint_tree_and_proofs(
    checker: Path, document: dict[str, object]
) -> None:
    result = run(checker, document)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: gg.example/ledger-2 size 37")


@pytest.mark.parametrize("field", ["checkpoint", "inclusion", "consistency", "leaves"])
def test_go_sumdb_rejects_a_flipped_byte(
    checker: Path, document: dict[str, object], field: str
) -> None:
    changed = json.loads(json.dumps(document))
    if field == "checkpoint":
        changed["checkpoint"] = changed["checkpoint"].replace("\n37\n", "\n36\n")
    elif field == "leaves":
        leaf = bytearray(base64.b64decode(changed["leaves"][5]))
        leaf[20] ^= 1
        changed["leaves"][5] = base64.b64encode(bytes(leaf)).decode()
    else:
        path = changed[field][-1]["path"]
        path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    result = run(checker, changed)
    assert result.returncode == 1 and "MISMATCH" in result.stderr


def test_go_sumdb_accepts_the_golden_checkpoint(checker: Path) -> None:
    vectors = Path(__file__).parent / "vectors"
    golden = {
        "vkey": (vectors / "checkpoint.vkey").read_text().strip(),
        "checkpoint": (vectors / "checkpoint.txt").read_text(encoding="utf-8"),
        "leaves": [base64.b64encode(bytes.fromhex(x)).decode() for x in json.loads(
            (vectors / "rfc6962.json").read_text())["leaves"]],
    }  # fmt: skip
    result = run(checker, golden)
    assert result.returncode == 0, result.stderr
