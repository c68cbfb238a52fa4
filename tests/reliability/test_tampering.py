"""Tampering with the database of a running instance is reported, with the index.

A changed, deleted or reordered ledger row and a swapped signing key are each reported by
`python -m ledger verify` (on a fresh `python -m ledger export`, with the vkey held from
before) and by the web process' readiness check: `/readyz` audits new entries on every call
and re-checks a sample of old ones; `/readyz?full=1` re-verifies everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.__main__ import migrate
from gateway.settings import Settings
from gateway.wiring import Runtime
from ledger import LedgerKey
from ledger.store import entries
from ledger.store import keys
from ledger.store import logs
from ledger.verify import VerificationFailed
from tests.gateway.support import RedisServer
from tests.reliability.stack import OFFICIAL
from tests.reliability.stack import ROOT
from tests.reliability.stack import ROUND
from tests.reliability.stack import round_rules
from webhook.app import create_app

REGION = "yeoncheon"


@dataclass
class Instance:
    tmp: Path
    env: dict[str, str]
    rt: Runtime
    client: Any  # the Flask test client of the web app
    vkey: str  # the verifier key an auditor kept from before

    def readyz(self, full: bool = False) -> tuple[int, dict[str, Any]]:
        answer = self.client.get("/readyz?full=1" if full else "/readyz")
        return answer.status_code, answer.get_json()

    def cli_verify(self) -> subprocess.CompletedProcess[str]:
        out = self.tmp / f"export-{len(list(self.tmp.glob('export-*')))}"
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        db = self.env["DATABASE_URL"]
        run = lambda *a: subprocess.run(  # noqa: E731
            [sys.executable, "-m", "ledger", *a], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        exported = run("export", "--db", db, "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        return run("verify", str(out), "--vkey", self.vkey, "--processes", "1", "--locale", "en")

    def leaf(self, seq: int) -> bytes:
        return self.rt.ledger.entries(seq, seq + 1)[0]

    def set_leaf(self, seq: int, leaf: bytes) -> None:
        with self.rt.engine.begin() as conn:
            conn.execute(sa.update(entries).where(entries.c.seq == seq).values(leaf=leaf))

    def activity(self, residents: range) -> None:
        """Residents register and endorse; the clock's seal closes a block."""
        svc = self.rt.service
        for uid in residents:
            svc.register(uid, region=REGION, consent_version="2017-02")
            svc.endorse(uid, self.proposal)
        self.rt.ledger.seal()

    proposal: str = ""


def start_instance(tmp: Path, redis_url: str, key_file: Path | None = None) -> Runtime:
    env = {
        "VAR_DIR": str(tmp / "var"), "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite",
        "REDIS_URL": redis_url, "LOG_LEVEL": "warning",
        **({"LEDGER_KEY_FILE": str(key_file)} if key_file else {}),
    }  # fmt: skip
    return Runtime(Settings.from_env(env))


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    server = RedisServer(tmp_path / "redis").start()
    db = f"sqlite:///{tmp_path}/db.sqlite"
    migrate(db)
    rt = start_instance(tmp_path, server.url)
    svc = rt.service
    svc.grant_first_official(OFFICIAL)
    rules = round_rules()
    svc.create_round(OFFICIAL, rules, round_id=ROUND)
    svc.open_round(OFFICIAL, ROUND)
    svc.register(8_200_000, region=REGION, consent_version="2017-02")
    card = svc.submit_proposal(
        8_200_000, ROUND, title="t", body="b" * 20, category=rules.categories[0], region=REGION,
        budget=1_000_000,
    )  # fmt: skip
    env = {"DATABASE_URL": db}
    inst = Instance(tmp_path, env, rt, None, rt.ledger.vkeys()[0], card.proposal_id)
    inst.activity(range(8_200_001, 8_200_011))
    inst.client = create_app(rt.webhook_deps()).test_client()
    try:
        assert inst.readyz() == (200, {"status": "ok", "checks": inst.readyz()[1]["checks"]})
        assert "ledger" in inst.readyz()[1]["checks"]
        assert rt.ledger_check().audit.verified == rt.ledger.size()
        yield inst
    finally:
        rt.close()
        server.kill()


def assert_reported(inst: Instance, index: int, words: str, *, full: bool = True) -> None:
    status, body = inst.readyz(full=full)
    assert status == 503 and body["failed"]["ledger"] == "VerificationFailed", body
    assert body["details"]["ledger"]["index"] == index, body
    assert words in body["details"]["ledger"]["reason"], body
    verified = inst.cli_verify()
    assert verified.returncode == 1, verified.stdout
    assert f"FAILED: index {index}: " in verified.stderr and words in verified.stderr


def test_a_changed_row_is_reported_with_its_index(instance: Instance):
    leaf = instance.leaf(12)
    assert b'"kind":"proposal.endorsed"' in leaf
    instance.set_leaf(
        12, leaf.replace(b'"kind":"proposal.endorsed"', b'"kind":"proposal.withdrawn"')
    )
    assert_reported(instance, 12, "signature does not verify")


def test_a_deleted_row_is_reported_where_the_gap_is(instance: Instance):
    with instance.rt.engine.begin() as conn:
        conn.execute(sa.delete(entries).where(entries.c.seq == 9))
    assert_reported(instance, 9, "missing")


def test_reordered_rows_are_reported_at_the_first(instance: Instance):
    a, b = instance.leaf(6), instance.leaf(7)
    instance.set_leaf(6, b)
    instance.set_leaf(7, a)
    assert_reported(instance, 6, "seq 7")


def test_the_cheap_check_catches_an_old_row_changed_by_sampling(instance: Instance):
    size = instance.rt.ledger.size()
    audit = instance.rt.ledger_check().audit
    audit._samples = size * 4  # noqa: SLF001  (sample so much that every row is seen)
    leaf = instance.leaf(3)
    instance.set_leaf(3, leaf.replace(b'"seq":3', b'"seq":3 '))
    status, body = instance.readyz()
    assert status == 503 and body["details"]["ledger"]["index"] == 3, body


def test_a_swapped_signing_key_is_reported_at_the_first_entry_it_signed(instance: Instance):
    """Someone swaps the key file and the stored current key, without a signed rotation."""
    tmp, rt = instance.tmp, instance.rt
    size = rt.ledger.size()
    mallory = LedgerKey.generate("mallory")
    mallory.to_file(tmp / "mallory.key")
    with rt.engine.begin() as conn:
        conn.execute(sa.update(logs).values(current_vkey=mallory.vkey))
        conn.execute(sa.insert(keys).values(log_id=1, since_seq=size, vkey=mallory.vkey))
    rt.close()
    swapped = start_instance(tmp, rt.settings.redis_url, key_file=tmp / "mallory.key")
    try:
        assert swapped.ledger.vkeys()[-1] == mallory.vkey  # the process starts and signs
        swapped.check_signing_key()  # the key file and the stored key agree: not enough
        instance.rt = swapped
        instance.client = create_app(swapped.webhook_deps()).test_client()
        instance.activity(range(8_200_100, 8_200_103))
        # the cheap check (a fresh process: it verifies from the start) and the full one
        status, body = instance.readyz()
        assert status == 503 and body["details"]["ledger"]["index"] == size, body
        assert "mallory" in body["details"]["ledger"]["reason"]
        assert_reported(instance, size, "mallory")
    finally:
        swapped.close()


def test_new_forged_entries_are_caught_by_the_cheap_check(instance: Instance):
    """After a good check, rows appended behind the ledger's back fail the next cheap check."""
    size = instance.rt.ledger.size()
    forged = instance.leaf(size - 1).replace(b'"seq":' + str(size - 1).encode(),
                                               b'"seq":' + str(size).encode())  # fmt: skip
    with instance.rt.engine.begin() as conn:
        conn.execute(
            sa.insert(entries).values(log_id=1, seq=size, leaf=forged, leaf_hash=bytes(32))
        )
        conn.execute(sa.update(logs).values(size=size + 1))
    status, body = instance.readyz()
    assert status == 503 and body["details"]["ledger"]["index"] == size, body


def test_the_audit_catches_up_in_steps_and_follows_a_key_rotation(tmp_path: Path):
    """A legitimate rotation is not tampering: the audit moves to the new key with the log."""
    from ledger import Ledger
    from ledger.audit import LedgerAudit

    first, second = LedgerKey.generate("first"), LedgerKey.generate("second")
    log = Ledger.open(f"sqlite:///{tmp_path}/l.db", first, "test.example/log")
    try:
        for n in range(10):
            log.append("proposal.endorsed", "r:a", "r1", {"n": n})
            if n % 3 == 2:
                log.seal()
        log.rotate(second)
        log.close()
        log = Ledger.open(f"sqlite:///{tmp_path}/l.db", second, "test.example/log")
        for n in range(5):
            log.append("proposal.endorsed", "r:a", "r1", {"n": n})
        log.seal()
        audit = LedgerAudit(log, trusted_vkey=first.vkey, budget=4)
        steps = []
        while not steps or steps[-1] < log.size():
            steps.append(audit.check())
        assert steps == [4, 8, 12, 16] and log.size() == 16
        assert audit.check(full=True) == 16
        with pytest.raises(VerificationFailed) as caught:
            LedgerAudit(log, trusted_vkey=second.vkey).check()
        assert caught.value.index == 0  # trusting only the new key: the old entries fail
    finally:
        log.close()
