"""Canonical JSON: byte-identical to the `rfc8785` package, strict when parsing."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from ledger import canonical
from ledger.errors import MalformedEntry
from ledger.errors import NonCanonicalEncoding

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
keys = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-canonical.MAX_INT, canonical.MAX_INT) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
@example({"b": 1, "a": [True, None, "ö€"]})
@example({"s": '\u0000\u001f\u007f\u2028"\\/\ud7a3\U0001f600'})
@example({"": -(2**53 - 1), "z": 2**53 - 1})
def test_encoding_is_byte_identical_to_rfc8785(value: canonical.JSON) -> None:
    assert canonical.encode(value) == rfc8785.dumps(value)


@given(json_values)
def test_canonical_encoding_round_trips(value: canonical.JSON) -> None:
    assert canonical.decode(canonical.encode(value)) == value


@given(st.dictionaries(keys, json_values, min_size=2, max_size=5))
def test_reordered_or_spaced_variants_are_rejected(value: dict[str, canonical.JSON]) -> None:
    reordered = json.dumps(dict(reversed(list(value.items()))), ensure_ascii=False,
                           separators=(",", ":")).encode()  # fmt: skip
    spaced = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
    for variant in (reordered, spaced):
        if variant != canonical.encode(value):
            with pytest.raises(NonCanonicalEncoding):
                canonical.decode(variant)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',
        b'{"a":1.5}',
        b'{"a":1e3}',
        b'{"a":9007199254740992}',
        b'{"a":NaN}',
        b'{"\xc3\xb6":1}',
        b"\xff",
        b'"\\ud800"',
        b'{"a":1',
        b'{"a":"\\u00e9"}',
        b' {"a":1}',
        b'{"a":-0}',
    ],
    ids=["duplicate", "float", "exponent", "too-big", "nan", "non-ascii-key", "bad-utf8",
         "lone-surrogate", "truncated", "needless-escape", "leading-space", "minus-zero"],
)  # fmt: skip
def test_decode_rejects_what_is_not_canonical(data: bytes) -> None:
    with pytest.raises(MalformedEntry):
        canonical.decode(data)


@pytest.mark.parametrize(
    "value",
    [1.0, {"a": 0.5}, 2**53, -(2**53), {1: "x"}, {"ö": 1}, ("t",), {"s": "\ud800"}, b"x"],
    ids=["float", "nested-float", "too-big", "too-small", "int-key", "non-ascii-key", "tuple",
         "lone-surrogate", "bytes"],
)  # fmt: skip
def test_encode_refuses_values_outside_the_subset(value: object) -> None:
    with pytest.raises(MalformedEntry):
        canonical.encode(value)  # type: ignore[arg-type]
