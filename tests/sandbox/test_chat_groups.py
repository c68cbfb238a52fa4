"""The web chat's group endpoints, through Flask's test client: create a group, join it, add
the bot, write there, and read it back with the senders' names."""

from __future__ import annotations

from flask.testing import FlaskClient

from sandbox.personas import PRESETS
from sandbox.server import SandboxServer

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
MINJI, JUNHO = PRESETS[0][3], PRESETS[1][3]


def test_create_join_add_the_bot_and_write_in_a_group(
    web: FlaskClient, server: SandboxServer
) -> None:
    bot = server.world.bot_for_token(TOKEN)
    made = web.post(f"/sandbox/api/groups/{MINJI}", json={"title": "연천 주민 모임"})
    assert made.status_code == 201
    group_id = made.get_json()["id"]
    assert group_id < 0 and made.get_json()["type"] == "group"
    listed = web.get(f"/sandbox/api/groups/{JUNHO}").get_json()["groups"]
    assert [(g["chat"]["id"], g["member"], g["bot_member"]) for g in listed] == [
        (group_id, False, False)
    ]
    assert web.get(f"/sandbox/api/group/{JUNHO}/{group_id}").status_code == 400  # not in it
    assert web.post(f"/sandbox/api/group/{JUNHO}/{group_id}/join", json={}).status_code == 200
    assert web.post(f"/sandbox/api/group/{JUNHO}/{group_id}/bot", json={}).status_code == 200
    again = web.post(f"/sandbox/api/group/{MINJI}/{group_id}/bot", json={})
    assert again.status_code == 400  # already there
    text = {"text": "/my@ttabok_sandbox_bot"}
    assert web.post(f"/sandbox/api/group/{MINJI}/{group_id}/text", json=text).status_code == 200
    kinds = [next(k for k in u if k != "update_id") for u in bot.updates]
    assert kinds == ["my_chat_member", "message", "message"]
    web.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": group_id, "text": "개인 대화로 와요"})
    state = web.get(f"/sandbox/api/group/{MINJI}/{group_id}").get_json()
    assert state["bot_member"] is True and state["chat"]["title"] == "연천 주민 모임"
    shown = [(m["from_name"], m["text"]) for m in state["messages"]]
    assert shown[-2:] == [
        ("김민지", "/my@ttabok_sandbox_bot"),
        ("따복 샌드박스", "개인 대화로 와요"),
    ]
    assert state["messages"][0]["group_chat_created"] is True
    assert state["messages"][1]["new_chat_members"][0]["id"] == JUNHO
    assert state["messages"][2]["new_chat_members"][0]["is_bot"] is True


def test_group_requests_are_checked(web: FlaskClient) -> None:
    assert web.post(f"/sandbox/api/groups/{MINJI}", json={"title": " "}).status_code == 400
    assert web.post("/sandbox/api/groups/1", json={"title": "모임"}).status_code == 400
    assert web.post(f"/sandbox/api/group/{MINJI}/-4/bot", json={}).status_code == 400
    made = web.post(f"/sandbox/api/groups/{MINJI}", json={"title": "모임"}).get_json()
    empty = web.post(f"/sandbox/api/group/{MINJI}/{made['id']}/text", json={"text": ""})
    assert empty.status_code == 400


def test_the_page_has_the_group_tab_in_both_languages(web: FlaskClient) -> None:
    korean = web.get("/sandbox").get_data(as_text=True)
    assert 'data-tab="group"' in korean and ">그룹<" in korean
    assert ">Groups<" in web.get("/sandbox?lang=en").get_data(as_text=True)
