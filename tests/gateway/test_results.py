"""Results publication: the ledger entry, its sealing block, the channel posts, exactly once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from telegram import Bot

from gateway import store
from gateway.broadcast import OutboxSender
from gateway.results import CHUNK_BUDGET
from gateway.results import MESSAGE_LIMIT
from gateway.results import ResultsPublisher
from gateway.results import pack
from gateway.settings import SANDBOX_TOKEN
from i18n.catalog import Catalog
from ledger import Ledger
from participation import report
from participation.__main__ import recount
from participation.domain import errors as e
from participation.service import ParticipationService
from participation.tally import Results
from tests.participation.conftest import PEPPER
from tests.participation.conftest import START
from tests.participation.conftest import Clock
from tests.participation.conftest import open_ledger
from tests.participation.scenario import ADMIN
from tests.participation.scenario import CLERK
from tests.participation.scenario import ROUND
from tests.participation.scenario import run_round

CHANNEL = "@gg_ledger"
BASE = "https://ttabok.example"


class HeldService(ParticipationService):
    """The service, with publication held back while the scenario plays the round."""

    hold = True

    def publish_results(self, official_id: int, round_id: str) -> Any:
        if self.hold:
            return None
        return super().publish_results(official_id, round_id)


class Crash(BaseException):
    """The process dies here."""


class CrashingBot(Bot):
    """Dies right after its `after`-th successful send to the channel (not yet recorded)."""

    def __init__(self, *args: Any, after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._left = after

    async def _sent(self, message: Any) -> Any:
        self._left -= 1
        if self._left == 0:
            raise Crash()
        return message

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await self._sent(await super().send_message(*args, **kwargs))

    async def send_photo(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await self._sent(await super().send_photo(*args, **kwargs))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A round played to its results phase (not yet published), shared by the tests."""
    tmp = tmp_path_factory.mktemp("results")
    clock = Clock(START)
    log = open_ledger(f"sqlite:///{tmp / 'ledger.db'}", clock)
    svc = HeldService(log, pepper=PEPPER, clock=clock)
    svc.create_tables()
    store.metadata.create_all(log.engine)
    run_round(svc, clock)
    svc.hold = False
    yield {"svc": svc, "ledger": log, "tmp": tmp}
    log.close()


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from sandbox.server import SandboxServer

    server = SandboxServer("127.0.0.1", 0, personas=False).start()
    for uid in (ADMIN, CLERK):
        server.users.create(f"official{uid}", user_id=uid)
        server.send_text(uid, "/start")
    yield server
    server.stop()


async def publish(world: dict[str, Any], sandbox: Any, *, bot_class: type[Bot] = Bot,
                  official: int = ADMIN, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
    bot_kwargs = {k: kwargs.pop(k) for k in ("after",) if k in kwargs}
    async with bot_class(SANDBOX_TOKEN, base_url=sandbox.api_base_url, **bot_kwargs) as bot:
        publisher = ResultsPublisher(
            world["svc"], world["ledger"], bot, Catalog.load(),
            store.ResultsPosts(world["ledger"].engine), channel=CHANNEL, base_url=BASE,
        )  # fmt: skip
        return await publisher.publish(official, ROUND, **kwargs)


def pre_lines(posts: list[dict[str, Any]]) -> list[str]:
    """Return the lines of every preformatted block of the channel, in order."""
    out: list[str] = []
    for post in posts:
        text = post.get("text") or ""
        for entity in post.get("entities") or []:
            if entity["type"] == "pre":  # offsets in UTF-16 units; all BMP here
                start = entity["offset"]
                out.extend(text[start : start + entity["length"]].split("\n"))
    return out


# The tests below run in order on one round: first publication, then retries.


def test_a_clerk_may_not_publish(world, sandbox):
    with pytest.raises(e.NotOfficial):
        asyncio.run(publish(world, sandbox, official=CLERK))
    assert world["svc"].results(ROUND) is None


def test_a_crash_mid_posting_is_completed_by_the_retry_without_duplicates(world, sandbox):
    with pytest.raises(Crash):
        asyncio.run(publish(world, sandbox, bot_class=CrashingBot, after=2))
    assert len(sandbox.channel_posts(CHANNEL)) == 2
    summary = asyncio.run(publish(world, sandbox))
    posts = sandbox.channel_posts(CHANNEL)
    # The 2nd post was delivered but not recorded ("posting"): it is posted again, once.
    assert summary["posted"][0] == "table-1" and "intro-1" not in summary["posted"]
    assert len(posts) == 2 + len(summary["posted"])
    world["summary"] = summary


def test_the_channel_shows_the_table_the_tally_cli_recomputes(world, sandbox):
    summary = asyncio.run(publish(world, sandbox))
    assert summary["posted"] == []  # everything was posted before: nothing again
    log: Ledger = world["ledger"]
    log.export(world["tmp"] / "export")
    lines = (world["tmp"] / "export" / "entries.jsonl").read_bytes().splitlines()
    recomputed, published = recount(lines, ROUND)
    assert published is not None and published["results_sha256"] == recomputed.sha256()
    assert Results.from_payload(world["svc"].results(ROUND)) == recomputed
    # what the publisher posts is exactly the CLI's table
    assert summary["index"] == published["seq"]
    world["table"] = report.text_table(recomputed, Catalog.load(), "ko").split("\n")


def test_the_results_entry_is_sealed_and_the_footer_names_its_block(world):
    log: Ledger = world["ledger"]
    summary = world["summary"]
    block = log.block_of(summary["index"])
    assert block is not None and block.number == summary["block"]
    assert block.start <= summary["index"] < block.end
    assert summary["verify_url"] == (
        f"{BASE}/verify?i={summary['index']}&h={summary['leaf_hash']}&b={summary['block']}"
    )


def test_posts_are_html_under_telegram_limits_with_every_part(world, sandbox):
    # a fresh sandbox sees the whole publication re-rendered: post every part to it
    posts_before = sandbox.channel_posts(CHANNEL)
    assert posts_before == []
    engine = world["ledger"].engine
    with engine.begin() as conn:
        conn.execute(store.results_posts.delete())
    summary = asyncio.run(publish(world, sandbox))
    posts = sandbox.channel_posts(CHANNEL)
    names = summary["posted"]
    assert names[0] == "intro-1" and names[-2:] == ["chart", "footer"]
    assert len(posts) == len(names)
    assert all(len(p.get("text") or p.get("caption") or "") <= MESSAGE_LIMIT for p in posts)
    (photo,) = [p for p in posts if p.get("photo")]
    assert photo["photo"][:8] == b"\x89PNG\r\n\x1a\n"
    assert pre_lines(posts) == world["table"]
    # residents know proposals by number ("#3", on their cards): the table and the list of
    # selected proposals name them so, not by the ledger's id ("small2017-3")
    results = Results.from_payload(world["svc"].results(ROUND))
    assert [line.split()[1] for line in world["table"][2:]] == [
        f"#{row.number}" for row in results.rows
    ]
    intro = posts[0]["text"]
    for row in results.rows:
        if row.selected:
            assert f"{row.rank}위 #{row.number} " in intro
    texts = [post.get("text") or "" for post in posts]
    assert not any(proposal in text for text in texts for proposal in results.ranking)
    footer = posts[-1]["html"]
    assert f"{summary['block']:,}" in footer and "/verify?i=" in footer
    assert f"{BASE}/results/{ROUND}.csv" in footer
    assert f'href="{BASE}/results/{ROUND}"' in footer  # the results page, for readers


def test_the_official_gets_csv_and_xlsx_each_time(world, sandbox):
    asyncio.run(publish(world, sandbox))
    docs = [m for m in sandbox.messages(ADMIN) if m.get("document")]
    names = sorted(d["document"]["file_name"] for d in docs)
    assert names == [f"{ROUND}.csv", f"{ROUND}.xlsx"]
    csv = next(d for d in docs if d["document"]["file_name"].endswith(".csv"))
    assert csv["document_bytes"].startswith("\ufeff".encode())


async def drain(sandbox: Any, svc: ParticipationService) -> None:
    async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
        await OutboxSender(svc, bot, Catalog.load(), per_second=200).drain(budget_s=20)


def test_each_resident_reads_the_announcement_in_their_own_language(world, sandbox):
    svc, catalog = world["svc"], Catalog.load()
    readers = {7_300_000_001: "ko", 7_300_000_002: "en"}
    for uid, locale in readers.items():
        sandbox.users.create(f"resident{uid}", user_id=uid)
        sandbox.send_text(uid, "/start")
        svc.register(uid, region="suwon", consent_version="v1", locale=locale)
        svc.update_settings(uid, subscribed=True)
    asyncio.run(publish(world, sandbox, announce=True))
    asyncio.run(drain(sandbox, svc))
    asyncio.run(publish(world, sandbox, announce=True))  # asked again: nothing new to send
    asyncio.run(drain(sandbox, svc))
    count = f"{len(svc.results(ROUND)['selected']):,}"
    title = svc.round(ROUND).title
    for uid, locale in readers.items():
        got = [m.get("text") for m in sandbox.messages(uid)]
        assert got == [
            catalog.text(
                locale, "participation.notice.results", title=title, count=count, channel=CHANNEL
            )
        ]
    assert "The results of" in got[0] and "Gyeonggi" in got[0]  # the English one, framed


def test_the_announcement_is_queued_once_however_often_asked(world, sandbox):
    first = asyncio.run(publish(world, sandbox, announce=True))
    again = asyncio.run(publish(world, sandbox, announce=True))
    assert first["broadcast"] is not None and first["broadcast"] == again["broadcast"]


def test_pack_keeps_every_line_in_order_within_the_budget():
    lines = [f"{n:05d} " + "가" * (n % 90) for n in range(900)]
    groups = pack(lines)
    assert [line for g in groups for line in g] == lines
    assert all(len("\n".join(g)) <= CHUNK_BUDGET for g in groups)
    assert len(groups) > 1


def test_titles_are_escaped_in_the_channel_html(world):
    svc = world["svc"]
    results = Results.from_payload(svc.results(ROUND))
    first = results.selected[0]
    publisher = ResultsPublisher(svc, world["ledger"], Bot(SANDBOX_TOKEN), Catalog.load(),
                                 store.ResultsPosts(world["ledger"].engine), channel=CHANNEL,
                                 base_url=BASE)  # fmt: skip
    links = publisher.links(ROUND, 1, "ab" * 32, 1)
    parts = publisher.parts(results, {first: "<b>우리 & 마을</b>"}, 1, 1, links)
    intro = dict(parts)["intro-1"]
    assert "&lt;b&gt;우리 &amp; 마을&lt;/b&gt;" in intro


def test_published_results_are_public_files_equal_to_the_tally(world):
    import io

    import redis
    from openpyxl import load_workbook

    from tests.webhook.conftest import make_app

    unused = redis.Redis.from_url("redis://127.0.0.1:1")  # the routes never touch Redis
    web = make_app(unused, participation=world["svc"]).test_client()
    results = Results.from_payload(world["svc"].results(ROUND))
    csv = web.get(f"/results/{ROUND}.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    # one charset parameter: it was "text/csv; charset=utf-8; charset=utf-8"
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = csv.get_data().decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + len(results.rows)
    assert [line.split(",")[1] for line in lines[1:]] == list(results.ranking)
    xlsx = web.get(f"/results/{ROUND}.xlsx?lang=en")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).worksheets[0]
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == list(results.ranking)
    assert web.get("/results/nosuchround.csv").status_code == 404
    assert web.get(f"/results/{ROUND}.pdf").status_code == 404


def test_the_footer_gives_the_recount_commands_to_copy_as_they_run(world):
    """A channel reader told 'python -m participation tally' got a command that fails as
    copied (no export directory, and nothing said how to get one); the footer now gives the
    two commands, this server's address and the round filled in, each to tap and copy."""
    svc = world["svc"]
    results = Results.from_payload(svc.results(ROUND))
    publisher = ResultsPublisher(svc, world["ledger"], Bot(SANDBOX_TOKEN), Catalog.load(),
                                 store.ResultsPosts(world["ledger"].engine), channel=CHANNEL,
                                 base_url=BASE)  # fmt: skip
    links = publisher.links(ROUND, 1, "ab" * 32, 1)
    footer = dict(publisher.parts(results, {}, 1, 1, links))["footer"]
    codes = re.findall(r"<code>([^<]*)</code>", footer)
    assert codes[:2] == [  # then the title check's (the next test)
        f"python -m ledger verify --url {BASE} --out ttabok-ledger",
        f"python -m participation tally ttabok-ledger --round {ROUND}",
    ]


def footer_of(world: dict[str, Any]) -> str:
    svc = world["svc"]
    results = Results.from_payload(svc.results(ROUND))
    publisher = ResultsPublisher(svc, world["ledger"], Bot(SANDBOX_TOKEN), Catalog.load(),
                                 store.ResultsPosts(world["ledger"].engine), channel=CHANNEL,
                                 base_url=BASE)  # fmt: skip
    links = publisher.links(ROUND, 1, "ab" * 32, 1)
    return dict(publisher.parts(results, {}, 1, 1, links))["footer"]


def test_the_footer_says_how_to_check_the_titles_as_the_results_page_does(world):
    """The channel's results post told readers how to recount but not how to check the titles
    it lists against the ledger; it now gives, after the recount, the two commands the results
    page shows (report.openings_commands), this server and the round filled in."""
    footer = footer_of(world)
    codes = re.findall(r"<code>([^<]*)</code>", footer)
    assert codes == [
        *report.recount_commands(BASE, ROUND),
        f"curl -fsS -o openings.json {BASE}/results/{ROUND}/openings.json",
        "python -m participation tally ttabok-ledger --openings openings.json",
    ]
    said = Catalog.load().text("ko", "gateway.results.openings")
    assert said in footer and said.endswith("니다.")  # the channel's formal Korean (합쇼체)
    assert footer.index(said) > footer.index(codes[1])  # after the recount, as on the page


def test_the_footer_with_the_title_check_stays_within_one_message():
    """The longest round id the web accepts and a long public address still fit Telegram's
    4,096 characters (counted after entity parsing, so on the text without tags)."""
    catalog = Catalog.load()
    base = "https://" + "a" * 200 + ".example"
    round_id = "r" * 32
    for locale in ("ko", "en"):
        publisher = ResultsPublisher(None, None, Bot(SANDBOX_TOKEN), catalog, None,
                                     channel=CHANNEL, base_url=base, locale=locale)  # fmt: skip
        links = publisher.links(round_id, 10**9, "ab" * 32, 10**6)
        footer = publisher.footer(round_id, 10**9, 10**6, links)
        shown = re.sub(r"<[^>]+>", "", footer)
        assert len(shown) <= MESSAGE_LIMIT
        assert f"{base}/results/{round_id}/openings.json" in shown


def test_a_title_hidden_after_publication_is_withheld_in_posts_and_files(world, sandbox):
    """Hiding after the publication is moderation of content: the row stays (rank and money
    are published), its title does not. A re-rendered post (a retry) and the official's files
    show the placeholder with the reason, as the results page and the openings do. Runs last:
    it hides a selected proposal of the shared round."""
    import csv
    import io

    svc, catalog = world["svc"], Catalog.load()
    results = Results.from_payload(svc.results(ROUND))
    row = results.rows[0]
    title = svc.proposal(row.proposal).title
    svc.hide_proposal(ADMIN, row.proposal, "abuse")
    placeholder = catalog.text("ko", "report.title.hidden",
                               reason=catalog.text("ko", "participation.reason.abuse"))  # fmt: skip
    publisher = ResultsPublisher(svc, world["ledger"], Bot(SANDBOX_TOKEN), catalog,
                                 store.ResultsPosts(world["ledger"].engine), channel=CHANNEL,
                                 base_url=BASE)  # fmt: skip
    titles = publisher.titles(results)
    assert titles[row.proposal] == placeholder
    intro = dict(publisher.parts(results, titles, 1, 1, publisher.links(ROUND, 1, "ab" * 32, 1)))
    assert f"{row.rank}위 #{row.number} {placeholder}" in intro["intro-1"]
    assert title not in intro["intro-1"]

    async def send() -> None:
        async with Bot(SANDBOX_TOKEN, base_url=sandbox.api_base_url) as bot:
            await ResultsPublisher(svc, world["ledger"], bot, catalog,
                                   store.ResultsPosts(world["ledger"].engine), channel=CHANNEL,
                                   base_url=BASE).send_files(ADMIN, ROUND)  # fmt: skip

    asyncio.run(send())
    sent = [m for m in sandbox.messages(ADMIN) if m.get("document")]
    data = next(m for m in sent if m["document"]["file_name"].endswith(".csv"))
    lines = list(csv.reader(io.StringIO(data["document_bytes"].decode("utf-8-sig"))))
    assert [line[3] for line in lines if line[1] == row.proposal] == [placeholder]
    assert len(lines) == 1 + len(results.rows)
