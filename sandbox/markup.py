"""``reply_markup`` validation: inline keyboards, reply keyboards, removal and force-reply.

Spec: https://core.telegram.org/bots/api#inlinekeyboardmarkup and #replykeyboardmarkup.
Telegram refuses ``callback_data`` outside 1-64 bytes with ``BUTTON_DATA_INVALID`` and a button
with only text in an inline keyboard; plain strings in reply keyboards become ``{"text": ...}``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sandbox.errors import bad_request
from sandbox.model import JSON

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MAX_BUTTONS = 100


def read_markup(raw: object) -> JSON | None:
    """Return the validated, normalized markup, or None when none was sent.

    Raises:
        ApiError: 400 with Telegram's text for the first problem found.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        return {"inline_keyboard": _inline_rows(raw["inline_keyboard"])}
    if "keyboard" in raw:
        out: JSON = {"keyboard": _reply_rows(raw["keyboard"])}
        for key in ("is_persistent", "resize_keyboard", "one_time_keyboard", "selective"):
            if raw.get(key):
                out[key] = True
        if raw.get("input_field_placeholder"):
            out["input_field_placeholder"] = str(raw["input_field_placeholder"])[:64]
        return out
    if raw.get("remove_keyboard") is True:
        return {"remove_keyboard": True}
    if raw.get("force_reply") is True:
        out = {"force_reply": True}
        if raw.get("input_field_placeholder"):
            out["input_field_placeholder"] = str(raw["input_field_placeholder"])[:64]
        return out
    raise bad_request("can't parse reply keyboard markup JSON object")


def _rows(raw: object, what: str) -> list[list[object]]:
    if not isinstance(raw, list) or not all(isinstance(row, list) for row in raw):
        raise bad_request(f'field "{what}" of the {_NAMES[what]} must be an Array of Arrays')
    if sum(len(row) for row in raw) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    return raw


_NAMES = {"inline_keyboard": "InlineKeyboardMarkup", "keyboard": "ReplyKeyboardMarkup"}


def _inline_rows(raw: object) -> list[list[JSON]]:
    rows: list[list[JSON]] = []
    for row in _rows(raw, "inline_keyboard"):
        out_row: list[JSON] = []
        for button in row:
            if not isinstance(button, dict):
                raise bad_request(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            out_row.append(_inline_button(button))
        rows.append(out_row)
    return rows


def _inline_button(button: dict[str, object]) -> JSON:
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [key for key in _INLINE_ACTIONS if key in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(str(data).encode("utf-8")) if isinstance(data, str) else 0
        if not 1 <= size <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = str(button["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "tg") or (
            parts.scheme != "tg" and not parts.netloc
        ):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return dict(button)


def _reply_rows(raw: object) -> list[list[JSON]]:
    rows: list[list[JSON]] = []
    for row in _rows(raw, "keyboard"):
        out_row: list[JSON] = []
        for button in row:
            item = {"text": button} if isinstance(button, str) else button
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise bad_request(
                    "can't parse keyboard button: KeyboardButton must be a String or an Object"
                )
            if not str(item["text"]).strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            out_row.append(dict(item))
        rows.append(out_row)
    return rows
