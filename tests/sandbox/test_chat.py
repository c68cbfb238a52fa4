"""The web chat's page and JSON endpoints, through Flask's test client."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from PIL import Image

from sandbox.personas import PRESETS
from sandbox.server import SandboxServer

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def test_page_is_korean_by_default_and_english_on_request(web: FlaskClient) -> None:
    korean = web.get("/sandbox").get_data(as_text=True)
    assert '<html lang="ko">' in korean and "누구로 대화할까요?" in korean
    english = web.get("/sandbox?lang=en").get_data(as_text=True)
    assert "Who are you chatting as?" in english


def test_presets_cover_every_role_with_stable_ids(web: FlaskClient) -> None:
    people = web.get("/sandbox/api/personas").get_json()["personas"]
    assert {p["role"] for p in people} == {"resident", "judge", "official"}
    assert [p["id"] for p in people] == [uid for *_, uid in PRESETS]


def test_add_persona_and_refuse_unknown_roles(web: FlaskClient) -> None:
    made = web.post("/sandbox/api/personas", json={"first_name": "도윤", "role": "judge"})
    assert made.status_code == 201 and made.get_json()["role"] == "judge"
    refused = web.post("/sandbox/api/personas", json={"first_name": "x", "role": "king"})
    assert refused.status_code == 400


def test_text_photo_contact_and_link_reach_the_bot_as_updates(
    web: FlaskClient, server: SandboxServer
) -> None:
    uid = PRESETS[0][3]
    assert web.post(f"/sandbox/api/chat/{uid}/text", json={"text": "/start"}).status_code == 200
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    photo = {"photo": (io.BytesIO(buffer.getvalue()), "p.jpg"), "caption": "사진"}
    assert web.post(f"/sandbox/api/chat/{uid}/photo", data=photo).status_code == 200
    assert web.post(f"/sandbox/api/chat/{uid}/contact", json={}).status_code == 200
    link = {"link": "https://t.me/ttabok_sandbox_bot?start=j_7"}
    assert web.post(f"/sandbox/api/chat/{uid}/link", json=link).status_code == 200
    bot = server.world.bot_for_token(TOKEN)
    kinds = [next(k for k in u if k != "update_id") for u in bot.updates]
    assert kinds == ["message"] * 4
    assert bot.updates[-1]["message"]["text"] == "/start j_7"  # type: ignore[index]
    state = web.get(f"/sandbox/api/chat/{uid}").get_json()
    assert state["messages"][1]["photo_url"].startswith("/sandbox/file/")
    assert "photo" not in state["messages"][1]  # bytes stay on the server
    assert web.get(state["messages"][1]["photo_url"]).status_code == 200


def test_pictures_or_files_picked_together_go_as_an_album(
    web: FlaskClient, server: SandboxServer
) -> None:
    uid = PRESETS[0][3]

    def jpeg(shade: int) -> io.BytesIO:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (shade, 0, 0)).save(buffer, format="JPEG")
        return io.BytesIO(buffer.getvalue())

    photos = {"photo": [(jpeg(n), f"p{n}.jpg") for n in range(3)], "caption": "세 장"}
    assert web.post(f"/sandbox/api/chat/{uid}/album", data=photos).status_code == 200
    files = {"document": [(io.BytesIO(b"a,suwon\n"), "a.csv"), (io.BytesIO(b"b"), "b.txt")]}
    assert web.post(f"/sandbox/api/chat/{uid}/album", data=files).status_code == 200
    one = {"photo": [(jpeg(1), "p.jpg")]}
    assert web.post(f"/sandbox/api/chat/{uid}/album", data=one).status_code == 400
    assert web.post(f"/sandbox/api/chat/{uid}/album", data={}).status_code == 400
    sent = [u["message"] for u in server.world.bot_for_token(TOKEN).updates]
    groups = [m["media_group_id"] for m in sent]
    assert len(sent) == 5 and len(set(groups[:3])) == 1 and len(set(groups[3:])) == 1
    assert [m.get("caption") for m in sent[:3]] == ["세 장", None, None]
    assert [m["document"]["file_name"] for m in sent[3:]] == ["a.csv", "b.txt"]


def test_bad_link_and_missing_button_answer_400(web: FlaskClient) -> None:
    uid = PRESETS[0][3]
    bad = web.post(f"/sandbox/api/chat/{uid}/link", json={"link": "https://example.org"})
    assert bad.status_code == 400
    press = web.post(f"/sandbox/api/chat/{uid}/press", json={"message_id": 1, "data": "x"})
    assert press.status_code == 400


def test_block_toggles_and_channels_list_posts(web: FlaskClient, server: SandboxServer) -> None:
    uid = PRESETS[0][3]
    web.post(f"/sandbox/api/chat/{uid}/text", json={"text": "/start"})
    web.post(f"/sandbox/api/chat/{uid}/block", json={"blocked": True})
    assert web.get(f"/sandbox/api/chat/{uid}").get_json()["blocked"] is True
    sent = web.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": "@gg_ledger", "text": "블록 1"})
    assert sent.get_json()["ok"]
    channels = web.get("/sandbox/api/channels").get_json()["channels"]
    assert channels[0]["chat"]["username"] == "gg_ledger"
    assert channels[0]["posts"][0]["text"] == "블록 1"


def test_data_dir_keeps_state_across_restarts(tmp_path: object) -> None:
    first = SandboxServer(data_dir=str(tmp_path)).start()
    uid = int(first.users.create(first_name="유지")["id"])
    first.send_text(uid, "/start")
    first.stop()
    second = SandboxServer(data_dir=str(tmp_path))
    try:
        assert second.users.get(uid)["first_name"] == "유지"
        assert second.messages(uid, incoming=True)[0]["text"] == "/start"
    finally:
        second.world.stop()
