"""Canonical JSON: the RFC 8785 (JCS) subset the ledger uses.

Spec: https://www.rfc-editor.org/rfc/rfc8785

Values are `None`, `bool`, integers within ±(2**53 - 1), strings, lists and objects with ASCII
keys. With ASCII keys, Python's `sort_keys` equals the UTF-16 code unit order of §3.2.3, and
`json.dumps(ensure_ascii=False)` escapes exactly what §3.2.2.2 escapes, so the fast C encoder
gives RFC 8785 bytes (a property test checks this against the `rfc8785` package). Floats are
refused: amounts are integer won and times are strings.
"""

from __future__ import annotations

import json
from typing import TypeAlias

from ledger.errors import MalformedEntry
from ledger.errors import NonCanonicalEncoding
from ledger.messages import Message

JSON: TypeAlias = None | bool | int | str | list["JSON"] | dict[str, "JSON"]

MAX_INT = 2**53 - 1  # RFC 8785 §3.2.2.3: integers beyond this lose precision in IEEE 754

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def encode(value: JSON) -> bytes:
    """Return the canonical UTF-8 bytes of `value`.

    Raises:
        MalformedEntry: a float, an integer beyond ±(2**53 - 1), a non-ASCII or non-string key,
            a lone surrogate, or a type JSON cannot hold.
    """
    _check(value)
    try:
        return _dumps(value).encode("utf-8")
    except UnicodeEncodeError as err:
        raise MalformedEntry("string holds a lone surrogate") from err


def check(value: JSON) -> None:
    """Check that `value` can be canonically encoded; see `encode` for what raises."""
    _check(value)


def encode_checked(value: JSON) -> bytes:
    """Return the canonical bytes of a value whose parts were all passed through `check`.

    Raises:
        MalformedEntry: a lone surrogate in a string.
    """
    try:
        return _dumps(value).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError) as err:
        raise MalformedEntry(f"cannot encode: {err}") from err


def decode(data: bytes) -> JSON:
    """Parse canonical bytes strictly and return the value.

    Rejects duplicate keys, floats, out-of-range integers, invalid UTF-8, and any input whose
    canonical re-encoding differs from `data` byte for byte (whitespace, key order, escapes).

    Raises:
        NonCanonicalEncoding: valid JSON that is not in canonical form.
        MalformedEntry: anything that is not JSON of the accepted subset.
    """
    try:
        text = data.decode("utf-8")
        # ASCII input has ASCII keys, and a duplicate key could not survive the byte-for-byte
        # comparison below, so the per-object hook is only needed for non-ASCII input.
        value: JSON = (_ascii_decoder if data.isascii() else _decoder).decode(text)
    except UnicodeDecodeError as err:
        raise MalformedEntry(Message.of("ledger.error.not_utf8")) from err
    except json.JSONDecodeError as err:
        raise MalformedEntry(Message.of("ledger.error.not_json", msg=err.msg, pos=err.pos)) from err
    except RecursionError as err:
        raise MalformedEntry(Message.of("ledger.error.too_deep")) from err
    try:
        again = _dumps(value).encode("utf-8")
    except UnicodeEncodeError as err:
        raise MalformedEntry(Message.of("ledger.error.lone_surrogate")) from err
    if again != data:
        raise NonCanonicalEncoding(Message.of("ledger.error.not_canonical"))
    return value


def _object(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise MalformedEntry(Message.of("ledger.error.duplicate_key"))
    for key in out:
        if not key.isascii():
            raise MalformedEntry(Message.of("ledger.error.key_not_ascii", key=repr(key)))
    return out


def _int(text: str) -> int:
    number = int(text)
    if not -MAX_INT <= number <= MAX_INT:
        raise MalformedEntry(Message.of("ledger.error.int_range", number=text))
    return number


def _no_float(text: str) -> JSON:
    raise MalformedEntry(Message.of("ledger.error.not_integer", number=text))


_decoder = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_no_float, parse_int=_int, parse_constant=_no_float
)
_ascii_decoder = json.JSONDecoder(parse_float=_no_float, parse_int=_int, parse_constant=_no_float)


def _check(value: object, depth: int = 0) -> None:
    if depth > 64:
        raise MalformedEntry("nested too deeply")
    if value is None or value is True or value is False or type(value) is str:
        return
    if type(value) is int:
        if not -MAX_INT <= value <= MAX_INT:
            raise MalformedEntry(f"integer {value} is outside ±(2**53 - 1)")
        return
    if type(value) is list:
        for item in value:
            _check(item, depth + 1)
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise MalformedEntry(f"object key {key!r} is not an ASCII string")
            _check(item, depth + 1)
        return
    if isinstance(value, float):
        raise MalformedEntry(f"number {value!r} is not an integer (floats are not allowed)")
    raise MalformedEntry(f"a {type(value).__name__} cannot be encoded as canonical JSON")
