"""A resident's data erasure, and their return, on the database of a big review day.

`Residents.erase_personal_data` (participation/store/erasure.py `bury`) runs inside the
ledger's write transaction: while it runs no press in the whole system can commit. Returning
(`register`, which calls `unbury`) re-keys the same rows back, in its own write transaction.

Set-up: through the service, an official, a round in the 공감 phase and a round in review
(10 proposals each, an on-site session for the hall) and a few dozen residents who press
(공감, online likes, on-site scores); then, straight into the tables with one INSERT ...
SELECT per table, a big day (default sizes, `--scale` multiplies them): 100,000 residents,
1,000,000 button tokens, 300,000 endorsements, 200,000 likes, 200,000 outbox rows, 500,000
receipts, 20,000 on-site scores of 2,000 people present, 10,000 enrollments (11,000 codes),
136 judges with their scores, invites, paper tallies. The residents erased and returning
have rows in every one of those tables. On PostgreSQL (`--db postgresql`: a fresh database on
127.0.0.1:5432, dropped after) the tables are ANALYZEd after loading, as autovacuum would;
SQLite gets no ANALYZE (the runtime never runs one).

Figures, against baselines measured in the same run on the same database:
- one 공감 press's write transaction (`toggle_endorsement` with a pressed token and the card's
  six new tokens: the ledger writer's transaction from BEGIN to COMMIT), and one primary-key
  SELECT of a resident;
- the write transaction of one erasure and of one return (registration), median of `--runs`;
- EXPLAIN QUERY PLAN (SQLite) / EXPLAIN (PostgreSQL) of every statement of one erasure and one
  return: which scan a table;
- for each index of `NEW_INDEXES` the code declares, the same presses (공감, like, on-site
  score: each inserts its row and six tokens) and erasures with the index dropped and created
  again, in alternating rounds: the insert cost on the hot path.

    .venv/bin/python bench/bench_erasure.py                  # SQLite, the big day (~1 min)
    .venv/bin/python bench/bench_erasure.py --db postgresql  # the same on PostgreSQL
    .venv/bin/python bench/bench_erasure.py --scale 0.1      # a tenth of every table
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from support.pgdb import create_pg_database  # noqa: E402
from support.pgdb import drop_pg_database  # noqa: E402

from ledger import Ledger  # noqa: E402
from ledger import LedgerKey  # noqa: E402
from participation.domain.events import KINDS  # noqa: E402
from participation.domain.round import Deadlines  # noqa: E402
from participation.domain.round import RoundRules  # noqa: E402
from participation.service import ParticipationService  # noqa: E402
from participation.store import tables as t  # noqa: E402

OFFICIAL, CLERK = 9_000_001, 9_000_002
AUTHOR_BASE = 8_000_000_001
PRESSER_BASE = 7_300_000_001  # residents pressing through the service
RES = 7_200_000_001  # bulk residents: RES .. RES + residents - 1; the erased ones come first
PAST, ENDORSE, REVIEW = "benchp", "benche", "benchv"
PROPOSALS = 10
PRESSERS = 30  # per kind of press
JUDGES, INVITES, TALLIES = 136, 300, 68
# Indexes added for the erasure on tables a press writes: the bench drops and re-creates them
# to measure what they cost a press. Names absent from the code's tables are skipped.
NEW_INDEXES = ("pt_button_user", "pt_outbox_user", "pt_enrollment_code_user")
SIZES = {
    "residents": 100_000,
    "buttons": 1_000_000,
    "endorsements": 300_000,
    "likes": 200_000,
    "outbox": 200_000,
    "receipts": 500_000,
    "present": 2_000,  # each scores all 10 proposals on site
    "enrollments": 10_000,
}


def log(text: str) -> None:
    print(text, flush=True)


# ------------------------------------------------------------------------------ set-up


def service_setup(svc: ParticipationService) -> tuple[str, dict[str, list[int]]]:
    """Open the rounds through the service; return the hall's session and the pressers."""
    now = int(time.time())
    day = 86_400
    rules = RoundRules(
        title="bench erasure",
        deadlines=Deadlines(
            submission_ends=now + day, endorsement_ends=now + 2 * day, review_ends=now + 3 * day
        ),
    )
    svc.grant_first_official(OFFICIAL)
    svc.join_as_official(CLERK, svc.invite_official(OFFICIAL, role="clerk"))
    for n, round_id in enumerate((ENDORSE, REVIEW)):
        svc.create_round(OFFICIAL, rules, round_id=round_id)
        svc.open_round(OFFICIAL, round_id)
        for k in range(PROPOSALS):
            author = AUTHOR_BASE + n * PROPOSALS + k
            svc.register(author, region="suwon", consent_version="2017-02")
            svc.submit_proposal(
                author, round_id, title=f"proposal {k}", body="x" * 200,
                category=rules.categories[k % len(rules.categories)], region="suwon",
                budget=1_500_000,
            )  # fmt: skip
        svc.advance_round(OFFICIAL, round_id)  # -> endorsement
    svc.advance_round(OFFICIAL, REVIEW)  # -> review
    session = svc.open_onsite_session(OFFICIAL, REVIEW)
    groups = len(svc.round(REVIEW).groups)
    pressers = {kind: [PRESSER_BASE + n * 1000 + i for i in range(PRESSERS)]
                for n, kind in enumerate(("endorse", "like", "onsite"))}  # fmt: skip
    for kind, users in pressers.items():
        for uid in users:
            svc.register(uid, region="suwon", consent_version="2017-02")
            if kind == "like" and groups:
                svc.choose_group(uid, REVIEW, 1)
            if kind == "onsite":
                svc.check_in(uid, svc.onsite_code(session))
    return session, pressers


def bulk_load(engine: sa.Engine, session: str, sizes: dict[str, int]) -> dict[str, int]:
    """Fill the tables of the big day with one INSERT ... SELECT each; return the row counts."""
    pg = engine.dialect.name == "postgresql"
    n = sizes["residents"]
    now = int(time.time())

    def series(count: int) -> str:
        if pg:
            return f"generate_series(0, {count - 1}) AS g(i)"
        return (f"(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s "
                f"WHERE i < {count - 1}) SELECT i FROM s) AS g")  # fmt: skip

    js = "CAST('{}' AS JSON)" if pg else "'{}'"
    scores = "CAST('{\"a\": 4}' AS JSON)" if pg else "'{\"a\": 4}'"
    present, enrolled = sizes["present"], sizes["enrollments"]
    codes = enrolled + enrolled // 10
    assert sizes["endorsements"] <= PROPOSALS * n and sizes["likes"] <= PROPOSALS * n
    rows = {  # table: (count, columns, select list over i)
        "pt_resident": (n, "user_id, region, locale, consent_version, registered_at, "
                        "notifications, subscribed, blocked",
                        f"{RES} + i, 'suwon', 'ko', '2017-02', {now}, TRUE, TRUE, FALSE"),
        "pt_button": (sizes["buttons"], "token, user_id, action, args, expires_at, used_at",
                      f"'b' || ((i * 2654435761) % 4294967296), {RES} + i % {n}, "
                      f"'browse.endorse', {js}, {now + 3600} - i % 86400, NULL"),
        "pt_endorsement": (sizes["endorsements"], "proposal_id, user_id, round_id, created_at",
                           f"'{ENDORSE}-' || (1 + i / {n}), {RES} + i % {n}, '{ENDORSE}', "
                           f"{now}"),
        "pt_like": (sizes["likes"], "round_id, user_id, proposal_id",
                    f"'{REVIEW}', {RES} + i % {n}, '{REVIEW}-' || (1 + i / {n})"),
        "pt_outbox": (sizes["outbox"], "user_id, key, params, broadcast_id, state, attempts, "
                      "created_at, claimed_at, sent_at",
                      f"{RES} + i % {n}, 'participation.notice.broadcast', {js}, 1 + i / {n}, "
                      f"'sent', 1, {now}, {now}, {now}"),
        "pt_receipt": (sizes["receipts"], "user_id, round_id, kind, subject, ledger_index, "
                       "leaf_hash, created_at",
                       f"{RES} + i % {n}, '{ENDORSE}', 'proposal.endorsed', '{ENDORSE}-1', i, "
                       f"'{'ab' * 32}', {now}"),
        "pt_presence": (present, "session_id, user_id, at", f"'{session}', {RES} + i, {now}"),
        "pt_onsite_score": (present * PROPOSALS,
                            "round_id, user_id, proposal_id, session_id, score",
                            f"'{REVIEW}', {RES} + i % {present}, "
                            f"'{REVIEW}-' || (1 + i / {present}), '{session}', 1 + i % 5"),
        "pt_enrollment": (enrolled, "round_id, user_id, community, role, online_group",
                          f"'{REVIEW}', {RES} + i, 'c' || (i / 9), 'voter', 1"),
        "pt_enrollment_code": (codes, "code_hash, round_id, community, role, slot, user_id, "
                               "used_at",
                               f"'h' || i, '{REVIEW}', 'c' || (i / 9), 'voter', i % 9, "
                               f"CASE WHEN i < {enrolled} THEN {RES} + i END, "
                               f"CASE WHEN i < {enrolled} THEN {now} END"),
        "pt_judge": (JUDGES, "round_id, user_id, pseudonym, group_no, joined_at",
                     f"'{REVIEW}', {RES} + i, 'j:' || i, 1, {now}"),
        "pt_judge_score": (JUDGES * PROPOSALS, "round_id, user_id, proposal_id, scores, "
                           "updated_at",
                           f"'{REVIEW}', {RES} + i % {JUDGES}, "
                           f"'{REVIEW}-' || (1 + i / {JUDGES}), {scores}, {now}"),
        "pt_recusal": (JUDGES, "round_id, user_id, proposal_id",
                       f"'{REVIEW}', {RES} + i, '{REVIEW}-1'"),
        "pt_invite": (INVITES, "code_hash, kind, round_id, role, group_no, expires_at, "
                      "created_by, used_by, used_at",
                      f"'i' || i, 'judge', '{REVIEW}', 'judge', 1, {now}, {OFFICIAL}, "
                      f"CASE WHEN i < {JUDGES} THEN {RES} + i END, "
                      f"CASE WHEN i < {JUDGES} THEN {now} END"),
        "pt_paper_tally": (TALLIES, "tally_id, round_id, session_id, proposal_id, ballots, "
                           "points, sheet_sha256, entered_by, confirmed_by, corrects, superseded",
                           f"'t' || i, '{REVIEW}', '{session}', '{REVIEW}-' || (1 + i % 10), "
                           f"10, 35, '{'e' * 64}', {CLERK}, {OFFICIAL}, NULL, FALSE"),
        "pt_broadcast": (2, "created_by, key, params, total, created_at",
                         f"{OFFICIAL}, 'participation.notice.broadcast', {js}, {n}, {now}"),
    }  # fmt: skip
    counts = {}
    with engine.begin() as conn:
        for table, (count, columns, select) in rows.items():
            sql = f"INSERT INTO {table} ({columns}) SELECT {select} FROM {series(count)}"
            conn.exec_driver_sql(sql.replace("%", "%%") if pg else sql)  # psycopg: %% is %
        # An earlier round, closed: one more round whose rows the erasure may have to visit.
        r = t.rounds.c
        old = conn.execute(sa.select(t.rounds).where(r.round_id == REVIEW)).mappings().one()
        conn.execute(sa.insert(t.rounds).values(dict(old, round_id=PAST, phase="closed", seq=0)))
        for table in rows:
            counts[table] = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    settle(engine)
    return counts


# ------------------------------------------------------------------------------ measuring


class Writer:
    """Times the ledger writer's transactions (connect, BEGIN, statements, COMMIT) and its
    INSERT statements by table, and records the statements it runs while `capture` is set."""

    def __init__(self, log: Ledger) -> None:
        commit: Any = log._commit  # a bench may look inside
        run = commit._run
        self.times: list[float] = []
        self.inserts: dict[str, float] = {}  # table: seconds in INSERTs into it, this call
        self.capture: list[tuple[str, Any]] | None = None

        def timed(batch: Any) -> None:
            start = time.perf_counter()
            try:
                run(batch)
            finally:
                self.times.append(time.perf_counter() - start)

        commit._run = timed

        def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any,
                   many: bool) -> None:  # fmt: skip
            if not _in_writer():
                return
            if self.capture is not None and not many:
                self.capture.append((statement, params))
            conn.info["bench_start"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any,
                  many: bool) -> None:  # fmt: skip
            if _in_writer() and (m := INSERT_INTO.match(statement)):
                took = time.perf_counter() - conn.info.pop("bench_start")
                self.inserts[m[1]] = self.inserts.get(m[1], 0.0) + took

        event.listen(log.engine, "before_cursor_execute", before)
        event.listen(log.engine, "after_cursor_execute", after)

    def last(self, fn: Callable[[], object]) -> float:
        """Run `fn` (one write transaction); return its writer time in ms (`inserts` holds
        its INSERTs' times)."""
        before = len(self.times)
        self.inserts = {}
        fn()
        assert len(self.times) == before + 1, "expected exactly one write transaction"
        return self.times[-1] * 1000


INSERT_INTO = re.compile(r"\s*INSERT INTO (\w+)", re.IGNORECASE)


def _in_writer() -> bool:
    return threading.current_thread().name.startswith("ledger-writer")


class Presses:
    """The three hot presses, each with a pressed token and six tokens issued."""

    def __init__(self, svc: ParticipationService, writer: Writer, pressers: dict) -> None:
        self.svc, self.writer, self.pressers = svc, writer, pressers
        self.turn = {"endorse": 0, "like": 0, "onsite": 0}

    def press(self, kind: str) -> float:
        """Press once; return the writer time (ms). Each person presses each proposal twice
        in a row (공감 then taken back, like then unlike, a score then another)."""
        k = self.turn[kind]
        self.turn[kind] = k + 1
        users = self.pressers[kind]
        uid, lap = users[k % len(users)], k // len(users)
        round_id = ENDORSE if kind == "endorse" else REVIEW
        pid = f"{round_id}-{1 + (lap // 2) % PROPOSALS}"
        action = {"endorse": "browse.endorse", "like": "online.like", "onsite": "onsite.score"}
        six = [(action[kind], {"r": round_id, "p": f"{round_id}-{m}"}) for m in range(1, 7)]
        token = self.svc.issue_buttons(uid, [(action[kind], {"r": round_id, "p": pid})])[0]

        def one() -> object:
            if kind == "endorse":
                return self.svc.toggle_endorsement(uid, pid, button=token, issue=six)
            if kind == "like":
                return self.svc.toggle_like(uid, pid, button=token, issue=lambda b: six)
            score = 1 + lap % 5  # never the score the person gave this proposal last
            return self.svc.press_onsite_score(uid, pid, score, button=token, issue=lambda b: six)

        return self.writer.last(one)


def pk_lookups(engine: sa.Engine, count: int, residents: int) -> list[float]:
    r = t.residents.c
    query = sa.select(r.user_id, r.locale).where(r.user_id == sa.bindparam("u"))
    out = []
    with engine.connect() as conn:
        for k in range(count):
            start = time.perf_counter()
            conn.execute(query, {"u": RES + (k * 7919) % residents}).first()
            out.append((time.perf_counter() - start) * 1000)
    return out


SCANNED = {  # the table a step of a plan reads whole: EXPLAIN QUERY PLAN, EXPLAIN
    False: re.compile(r"^SCAN (?!CONSTANT)(\w+)"),
    True: re.compile(r"Seq Scan on (\w+)"),
}


def explain(engine: sa.Engine, statements: list[tuple[str, Any]]) -> list[str]:
    """Return one line per statement: its plan, marking what scans a table."""
    pg = engine.dialect.name == "postgresql"
    lines = []
    sizes: dict[str, int] = {}
    with engine.connect() as conn:

        def size_of(table: str) -> str:
            if table not in sizes and table in t.metadata.tables:
                sizes[table] = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            return f"{sizes[table]:,} rows" if table in sizes else "?"

        for statement, params in statements:
            verb = statement.split(None, 1)[0].upper()
            if verb not in ("SELECT", "UPDATE", "DELETE", "INSERT"):
                continue
            prefix = "EXPLAIN (COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(prefix + statement, params).all()
            plan = [str(row[0] if pg else row[-1]).strip() for row in rows]
            scanned = [m[1] for p in plan if (m := SCANNED[pg].search(p))]
            shape = " ".join(statement.split())
            lines.append(f"    {'SCAN ' if scanned else '     '}{shape[:100]}")
            if scanned:
                lines.append(
                    f"           scans {', '.join(f'{s} ({size_of(s)})' for s in scanned)}"
                )
            if plan:
                lines.append(f"           -> {' | '.join(plan)[:160]}")
        conn.rollback()
    return lines


def settle(engine: sa.Engine) -> None:
    """After bulk writes: SQLite copies the WAL into the database now, not in the commit of
    whatever transaction comes next (PostgreSQL: ANALYZE, as autovacuum would)."""
    raw = engine.raw_connection()  # SQLite's is in autocommit (ledger.store.make_engine)
    try:
        if engine.dialect.name == "sqlite":
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        else:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("ANALYZE")
            raw.driver_connection.autocommit = False
    finally:
        raw.close()


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every table's size")
    parser.add_argument("--runs", type=int, default=5, help="erasures (and returns) timed")
    parser.add_argument("--presses", type=int, default=40, help="presses of each kind per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds without/with NEW_INDEXES")
    parser.add_argument("--keep", action="store_true", help="keep the database for a look")
    args = parser.parse_args()
    sizes = {k: max(1, int(v * args.scale)) for k, v in SIZES.items()}
    sizes["present"] = min(sizes["present"], sizes["residents"])
    sizes["enrollments"] = min(sizes["enrollments"], sizes["residents"])
    work = ROOT / "var" / "bench" / f"erasure-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    sqlite_url = f"sqlite:///{work / 'bench.db'}"
    url = create_pg_database("bench_erasure") if args.db == "postgresql" else sqlite_url
    key = LedgerKey.from_seed("bench-erasure", bytes(32))
    ledger = Ledger.open(url, key, "bench.example/erasure", kinds=KINDS)
    try:
        svc = ParticipationService(ledger, pepper=b"bench-pepper-0123456789",
                                   clock=lambda: datetime.now(UTC))  # fmt: skip
        svc.create_tables()
        engine = ledger.engine
        start = time.perf_counter()
        session, pressers = service_setup(svc)
        took_service = time.perf_counter() - start
        counts = bulk_load(engine, session, sizes)
        log(f"{args.db}; set-up {time.perf_counter() - start:.1f} s "
            f"(service {took_service:.1f} s); rows:")  # fmt: skip
        log("  " + ", ".join(f"{name[3:]} {count:,}" for name, count in counts.items()))
        writer = Writer(ledger)
        presses = Presses(svc, writer, pressers)
        for kind in presses.turn:  # warm every path once
            presses.press(kind)
        victims = iter(range(sizes["residents"]))

        def erase_and_return(capture: bool = False) -> tuple[float, float, list[str]]:
            uid = RES + next(victims)
            writer.capture = [] if capture else None
            erase = writer.last(lambda: svc.erase_personal_data(uid))
            erased_statements = writer.capture or []
            writer.capture = [] if capture else None
            back = writer.last(lambda: svc.register(uid, region="suwon", consent_version="v2"))
            returned_statements = writer.capture or []
            writer.capture = None
            plans: list[str] = []
            if capture:
                plans += ["  one erasure's write transaction:"]
                plans += explain(engine, erased_statements)
                plans += ["  one return's (registration) write transaction:"]
                plans += explain(engine, returned_statements)
            return erase, back, plans

        _, _, plans = erase_and_return(capture=True)  # and a warm-up
        base_pk = pk_lookups(engine, 300, sizes["residents"])
        base_press: list[float] = []
        erasures: list[float] = []
        returns: list[float] = []
        for _ in range(args.runs):
            base_press += [presses.press("endorse") for _ in range(5)]
            erase, back, _ = erase_and_return()
            erasures.append(erase)
            returns.append(back)
        bp, bk = med(base_press), med(base_pk)
        log(
            f"baseline: one 공감 press's write transaction {bp:.2f} ms (median of "
            f"{len(base_press)}); one primary-key SELECT {bk:.3f} ms (median of {len(base_pk)})"
        )
        for name, times in (("erasure", erasures), ("return (registration)", returns)):
            m = med(times)
            log(f"{name:22s} write transaction {m:8.1f} ms median "
                f"({', '.join(f'{x:.1f}' for x in times)}) = {m / bp:7.1f}x a press, "
                f"{m / bk:9.0f}x a PK SELECT")  # fmt: skip
        for line in plans:
            log(line)
        compare_indexes(engine, presses, erase_and_return, args)
    finally:
        ledger.close()
        if args.keep:
            log(f"kept: {url}")
        elif args.db == "postgresql":
            drop_pg_database(url)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def compare_indexes(
    engine: sa.Engine,
    presses: Presses,
    erase_and_return: Callable[[], tuple[float, float, list[str]]],
    args: argparse.Namespace,
) -> None:
    """Presses and erasures without and with the indexes of NEW_INDEXES, alternating."""
    indexes = [i for table in t.metadata.tables.values() for i in table.indexes
               if i.name in NEW_INDEXES]  # fmt: skip
    if not indexes:
        log("no index of NEW_INDEXES in the code: nothing to compare")
        return
    names = ", ".join(sorted(str(i.name) for i in indexes))
    log(f"without/with {names}: {args.rounds} alternating rounds, {args.presses} presses of "
        f"each kind and 2 erasures + returns per round (writer ms, medians)")  # fmt: skip
    kinds = ("endorse", "like", "onsite")
    figures = (*(f for k in kinds for f in (k, f"{k} INSERT")), "erasure", "return")
    seen: dict[bool, dict[str, list[float]]] = {s: {k: [] for k in figures} for s in (False, True)}
    for r in range(args.rounds):
        state = r % 2 == 1  # without first: they exist after the set-up
        with engine.begin() as conn:
            for index in indexes:
                index.create(conn) if state else index.drop(conn)
        settle(engine)
        for kind in kinds:  # uncounted: the first presses after the DDL
            presses.press(kind)
        for _ in range(args.presses):
            for kind in kinds:
                seen[state][kind].append(presses.press(kind))
                token_rows = presses.writer.inserts.get("pt_button", float("nan"))
                seen[state][f"{kind} INSERT"].append(token_rows * 1000)
        for _ in range(2):
            erase, back, _ = erase_and_return()
            seen[state]["erasure"].append(erase)
            seen[state]["return"].append(back)
    if args.rounds % 2:  # leave them as the code declares them
        with engine.begin() as conn:
            for index in indexes:
                index.create(conn)
    label = {f"{k} INSERT": "  its INSERT of 6 tokens" for k in kinds}
    label |= {"endorse": "공감 press", "like": "like press", "onsite": "on-site score press"}
    for what in figures:
        without, with_ = med(seen[False][what]), med(seen[True][what])
        log(f"  {label.get(what, what):24s} without {without:8.3f} ms   with {with_:8.3f} ms"
            f"   ratio {with_ / without:5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
