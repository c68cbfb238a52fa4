"""Bot API request parameters from a query string, a form, multipart or a JSON body.

Telegram accepts all four (https://core.telegram.org/bots/api#making-requests). Form values are
strings, and structured values (``reply_markup``, ``allowed_updates``) arrive JSON-encoded;
python-telegram-bot sends exactly that. A JSON body gives typed values directly. Each accessor
converts one parameter to the type Telegram documents and raises Telegram's error when it cannot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field

from sandbox.errors import ApiError
from sandbox.errors import bad_request


@dataclass
class Upload:
    """A file sent in a multipart request."""

    filename: str
    mimetype: str
    data: bytes


@dataclass
class Params:
    """The parameters of one call, typed on access."""

    values: dict[str, object]
    uploads: dict[str, Upload] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Return whether ``name`` was sent and is not empty."""
        value = self.values.get(name)
        return value is not None and value != ""

    def text(self, name: str, *, required: str | None = None) -> str | None:
        """Return ``name`` as a string; ``required`` is the error detail when it is missing."""
        value = self.values.get(name)
        if value is None or value == "":
            if required is not None:
                raise bad_request(required)
            return None
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def integer(self, name: str, *, required: str | None = None) -> int | None:
        """Return ``name`` as an integer."""
        value = self.values.get(name)
        if value is None or value == "":
            if required is not None:
                raise bad_request(required)
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        """Return ``name`` as a boolean (``true``/``1``/JSON true)."""
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in ("true", "1", "yes")

    def structure(self, name: str, *, error: str) -> object | None:
        """Return ``name`` decoded from JSON when it came as a string."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                decoded: object = json.loads(value)
            except ValueError:
                raise bad_request(error) from None
            return decoded
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        """Return a chat id: an integer, or a ``@channelusername``."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raw = str(value).strip()
        if raw.startswith("@"):
            return raw
        try:
            return int(raw)
        except ValueError:
            raise bad_request("chat not found") from None


def collect(
    args: dict[str, str],
    form: dict[str, str],
    json_body: object,
    uploads: dict[str, Upload],
) -> Params:
    """Merge the sources the way Telegram does: body values override the query string."""
    values: dict[str, object] = dict(args)
    values.update(form)
    if json_body is not None:
        if not isinstance(json_body, dict):
            raise ApiError(400, "Bad Request: invalid JSON object in the request body")
        values.update(json_body)
    return Params(values, uploads)
