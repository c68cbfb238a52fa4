"""The web chat in headless Chromium: a resident taps through /start, consent and a first action."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page
from playwright.sync_api import expect
from playwright.sync_api import sync_playwright

from sandbox.personas import PRESETS
from sandbox.server import SandboxServer
from tests.sandbox.conftest import TOKEN
from tests.sandbox.tinybot import ASK_TITLE
from tests.sandbox.tinybot import CONSENT
from tests.sandbox.tinybot import THANKS
from tests.sandbox.tinybot import TinyBot
from tests.support.e2e_bot import jpeg
from tests.support.e2e_bot import jpegs

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RESIDENT_ID = next(uid for _, role, lang, uid in PRESETS if role == "resident" and lang == "ko")
OTHER_RESIDENT_ID = next(
    uid for _, role, lang, uid in PRESETS if role == "resident" and uid != RESIDENT_ID
)
OFFICIAL_ID = next(uid for _, role, _, uid in PRESETS if role == "official")


def tap_through(page: Page, sandbox: SandboxServer) -> None:
    page.goto(f"{sandbox.url}/sandbox")
    page.locator(f'.chip[data-user-id="{RESIDENT_ID}"]').click()
    expect(page.locator(".bot-name")).to_have_text("따복 샌드박스")
    page.get_by_role("button", name="시작하기").click()
    expect(page.locator("#chat .msg").filter(has_text=CONSENT)).to_be_visible()
    page.locator("#chat .inline-keyboard button", has_text="동의").click()
    expect(page.locator("#toast")).to_have_text("고마워요!")
    expect(page.locator("#chat .msg").filter(has_text=THANKS)).to_be_visible()
    expect(page.locator("#chat .inline-keyboard")).to_have_count(0)  # buttons were removed
    page.locator("#reply-keyboard button", has_text="제안하기").click()
    expect(page.locator("#chat .msg").filter(has_text=ASK_TITLE)).to_be_visible()


def scan_the_officials_qr_code(page: Page) -> None:
    page.locator(f'.chip[data-user-id="{OFFICIAL_ID}"]').click()
    page.get_by_role("button", name="시작하기").click()
    page.locator("#text").fill("/qr")
    page.locator("#send").click()
    expect(page.locator("#chat .msg img")).to_be_visible()
    expect(page.locator("#chat .scan-btn")).to_be_visible()  # the picture holds a QR code
    page.locator(f'.chip[data-user-id="{RESIDENT_ID}"]').click()
    page.locator("#menu-button").click()
    page.get_by_role("menuitem", name="QR 코드 스캔").click()
    page.locator("#scan-list img").first.click()
    expect(page.locator("#chat .msg").filter(has_text="(s_42)")).to_be_visible()


def attach_a_file_and_a_photo(page: Page) -> None:
    """The 📎 input sends a picture as a photo and any other file as a document."""
    csv = {"name": "list.csv", "mimeType": "text/csv", "buffer": "햇살마을,수원시\n".encode()}
    page.locator("#photo-input").set_input_files(files=[csv])
    expect(page.locator("#chat .msg .document").filter(has_text="list.csv")).to_be_visible()
    page.locator("#photo-input").set_input_files(
        files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    expect(page.locator("#chat .msg.me img")).to_have_count(1)
    # a phone-sized window shows the whole menu keyboard and the composer, and the newest
    # message once its picture has loaded
    fits = page.evaluate(
        """() => {
          const k = document.getElementById("reply-keyboard");
          const c = document.getElementById("composer");
          const chat = document.getElementById("chat");
          return [k.scrollHeight - k.clientHeight, c.getBoundingClientRect().bottom - innerHeight,
                  chat.scrollHeight - chat.scrollTop - chat.clientHeight];
        }"""
    )
    assert fits[0] <= 1 and fits[1] <= 1 and fits[2] <= 2, fits
    # the bot sends it back: a picture with no QR code gets no "scan this QR code" button
    expect(page.locator("#chat .msg:not(.me) img")).to_have_count(1)
    page.wait_for_timeout(500)  # the picture was decoded
    expect(page.locator("#chat .scan-btn")).to_have_count(1)
    expect(page.locator("#chat .scan-btn")).to_be_hidden()


def pick_two_pictures(page: Page) -> None:
    """Pictures picked together in the 📎 input go as one album, as from Telegram's apps."""
    pictures = [
        {"name": f"p{n}.jpg", "mimeType": "image/jpeg", "buffer": data}
        for n, data in enumerate(jpegs(2))
    ]
    page.locator("#photo-input").set_input_files(files=pictures)
    expect(page.locator("#chat .msg.me img")).to_have_count(3)
    expect(page.locator("#chat .msg:not(.me) img")).to_have_count(3)  # each echoed


def test_resident_taps_through_start_consent_and_first_action(sandbox: SandboxServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        TinyBot(TOKEN, sandbox.api_base_url, sandbox.file_base_url),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 480, "height": 900}, locale="ko-KR")
            tap_through(page, sandbox)
            page.screenshot(path=str(ARTIFACTS / "sandbox-web-chat.png"), full_page=True)
            scan_the_officials_qr_code(page)
            page.screenshot(path=str(ARTIFACTS / "sandbox-qr-scanned.png"), full_page=True)
            attach_a_file_and_a_photo(page)
            pick_two_pictures(page)
        finally:
            browser.close()
    texts = [m["text"] for m in sandbox.messages(RESIDENT_ID)]
    assert texts.index(THANKS) < texts.index(ASK_TITLE)
    assert sandbox.answered_callbacks(RESIDENT_ID)[0]["data"] == "consent:yes"
    scanned = sandbox.messages(RESIDENT_ID, incoming=True)
    assert any(m["text"] == "/start s_42" and m["deep_link"] == "s_42" for m in scanned)
    documents = [m["document"] for m in scanned if m.get("document")]
    assert [(d["file_name"], d["mime_type"]) for d in documents] == [("list.csv", "text/csv")]
    photos = [m for m in scanned if m.get("photo") and not m["outgoing"]]  # went as photos
    assert len(photos) == 3 and photos[0]["media_group_id"] is None  # the one sent alone
    assert photos[1]["media_group_id"] == photos[2]["media_group_id"] is not None


@pytest.mark.parametrize(
    ("lang", "looks_like"), [("en", r"\d{1,2}:\d{2}\s?[AP]M"), ("ko", "오[전후]")]
)
def test_message_times_follow_the_page_language(
    sandbox: SandboxServer, lang: str, looks_like: str
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{sandbox.url}/sandbox?lang={lang}")
            page.locator(f'.chip[data-user-id="{RESIDENT_ID}"]').click()
            sandbox.send_text(RESIDENT_ID, "hello")
            meta = page.locator("#chat .msg .meta").first
            expect(meta).to_have_text(re.compile(looks_like))
            if lang == "en":
                assert not re.search(
                    "[\uac00-\ud7a3]", meta.inner_text()
                )  # no 오후 on an English page
        finally:
            browser.close()


def test_a_resident_creates_a_group_adds_the_bot_and_sees_it_answer_and_leave(
    sandbox: SandboxServer,
) -> None:
    """The 그룹 tab: a new group (its name asked in a prompt), the bot added (Telegram's
    my_chat_member reaches the bot), a message written there, and what the bot does in
    return (a notice and leaveChat, as the real bot's on_group does) shown in the group."""
    api = f"{sandbox.api_base_url}{TOKEN}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 480, "height": 900}, locale="ko-KR")
            page.goto(f"{sandbox.url}/sandbox")
            page.locator(f'.chip[data-user-id="{RESIDENT_ID}"]').click()
            page.get_by_role("tab", name="그룹").click()
            expect(page.locator("#group-note")).to_contain_text("아직 그룹이 없어요")
            page.once("dialog", lambda dialog: dialog.accept("연천 주민 모임"))
            page.get_by_role("button", name="+ 새 그룹").click()
            expect(page.locator("#groups .chip.active")).to_have_text("연천 주민 모임")
            expect(page.locator("#group .service")).to_contain_text(["그룹을 만들었어요"])
            expect(page.locator("#group-note")).to_contain_text("봇이 이 그룹에 없어요")
            page.locator("#group-add-bot").click()
            expect(page.locator("#group .service").last).to_contain_text("봇을 추가했어요")
            expect(page.locator("#group-note")).to_be_hidden()
            page.locator("#text").fill("/help@ttabok_sandbox_bot")
            page.locator("#send").click()
            expect(page.locator("#group .msg.me")).to_have_text(re.compile("/help@"))
            updates = httpx.post(f"{api}/getUpdates", json={"timeout": 0}).json()["result"]
            kinds = [next(k for k in u if k != "update_id") for u in updates]
            assert kinds == ["my_chat_member", "message", "message"]
            group_id = updates[0]["my_chat_member"]["chat"]["id"]
            assert updates[0]["my_chat_member"]["new_chat_member"]["status"] == "member"
            notice = {"chat_id": group_id, "text": "개인 대화에서 만나요"}
            assert httpx.post(f"{api}/sendMessage", json=notice).json()["ok"]
            assert httpx.post(f"{api}/leaveChat", json={"chat_id": group_id}).json()["ok"]
            bot_message = page.locator("#group .msg:not(.me)")
            expect(bot_message).to_contain_text("개인 대화에서 만나요")
            expect(bot_message.locator(".sender")).to_have_text("따복 샌드박스")
            expect(page.locator("#group .service").last).to_have_text("봇이 그룹을 나갔어요.")
            expect(page.locator("#group-add-bot")).to_be_visible()  # may be added again
            page.screenshot(path=str(ARTIFACTS / "sandbox-group.png"), full_page=True)
            page.locator(f'.chip[data-user-id="{OTHER_RESIDENT_ID}"]').click()  # not in it
            expect(page.locator("#group-note")).to_contain_text("이 그룹에 들어가 있지 않아요")
            expect(page.locator("#composer")).to_be_hidden()
            page.locator("#group-join").click()
            expect(page.locator("#group .service").last).to_contain_text("들어왔어요")
            expect(page.locator("#composer")).to_be_visible()
        finally:
            browser.close()
