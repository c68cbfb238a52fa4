"""Telegram-HTML and MarkdownV2 parsing, automatic entities and the web chat's rendering."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.client import parse_deep_link
from sandbox.text import EntityParseError
from sandbox.text import auto_entities
from sandbox.text import parse_html
from sandbox.text import parse_markdown_v2
from sandbox.text import render_html
from sandbox.text import split_like_an_app
from sandbox.text import utf16_len


@given(st.text())
def test_escaped_text_parses_back_to_itself_without_entities(text: str) -> None:
    plain, entities = parse_html(html.escape(text, quote=False))
    assert plain == text and entities == []


@given(st.text(), st.text(min_size=1))
def test_bold_entity_covers_exactly_the_tagged_text_in_utf16_units(before: str, inner: str) -> None:
    source = html.escape(before, quote=False) + "<b>" + html.escape(inner, quote=False) + "</b>"
    plain, entities = parse_html(source)
    assert plain == before + inner
    assert entities == [{"type": "bold", "offset": utf16_len(before), "length": utf16_len(inner)}]


@given(st.text())
def test_rendered_html_is_the_escaped_text_plus_only_our_tags(text: str) -> None:
    rendered = render_html(text, auto_entities(text))
    stripped = re.sub(r'<a href="[^"<>]*"[^<>]*>|</a>', "", rendered).replace("<br>", "\n")
    assert "<" not in stripped and ">" not in stripped
    assert html.unescape(stripped) == text


def test_nested_link_pre_and_code_language() -> None:
    plain, entities = parse_html(
        '<a href="https://t.me/x?start=1">링크</a> '
        '<pre><code class="language-python">x</code></pre>'
    )
    assert plain == "링크 x"
    assert entities[0] == {
        "type": "text_link",
        "url": "https://t.me/x?start=1",
        "offset": 0,
        "length": 2,
    }
    assert {"type": "pre", "language": "python", "offset": 3, "length": 1} in entities


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("가<b", "Unclosed start tag at byte offset 3"),
        ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a"'),
        ("<i>x</b>", 'Unmatched end tag at byte offset 4, expected "</i>", found "</b>"'),
    ],
)
def test_malformed_html_raises_tdlibs_message(source: str, message: str) -> None:
    with pytest.raises(EntityParseError, match=None) as caught:
        parse_html(source)
    assert message in str(caught.value)


def test_numeric_and_named_entities_decode_and_unknown_ones_stay() -> None:
    assert parse_html("&#54620;&#x AC00;&amp;&nbsp;")[0] == "한&#x AC00;&&nbsp;"


def test_markdown_v2_link_and_escapes() -> None:
    plain, entities = parse_markdown_v2(r"[공감\!](https://t.me/b?start=e_1) _기울임_ \*")
    assert plain == "공감! 기울임 *"
    assert entities[0]["url"] == "https://t.me/b?start=e_1"
    assert entities[1]["type"] == "italic"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("*열림", "Can't find end of Bold entity at byte offset 0"),
        ("a-b", "Character '-' is reserved"),
        ("`code", "Can't find end of Code entity"),
    ],
)
def test_markdown_v2_errors(source: str, message: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_markdown_v2(source)
    assert message in str(caught.value)


def test_auto_entities_find_commands_links_mentions_and_hashtags() -> None:
    text = (
        "/start@ttabok_sandbox_bot 보기 https://t.me/ttabok_sandbox_bot?start=p_1 @gg_ledger #공감"
    )
    kinds = [
        (e["type"], text[int(str(e["offset"])) :][: int(str(e["length"]))])
        for e in auto_entities(text)
    ]
    assert kinds == [
        ("bot_command", "/start@ttabok_sandbox_bot"),
        ("url", "https://t.me/ttabok_sandbox_bot?start=p_1"),
        ("mention", "@gg_ledger"),
        ("hashtag", "#공감"),
    ]


def test_render_html_escapes_text_and_links_deep_links() -> None:
    text = "<script> t.me/bot?start=x"
    rendered = render_html(text, auto_entities(text))
    assert rendered.startswith("&lt;script&gt; ")
    assert '<a href="https://t.me/bot?start=x"' in rendered


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://t.me/ttabok_sandbox_bot?start=p_12", ("ttabok_sandbox_bot", "p_12")),
        ("t.me/ttabok_sandbox_bot", ("ttabok_sandbox_bot", None)),
        ("tg://resolve?domain=ttabok_sandbox_bot&start=s-1", ("ttabok_sandbox_bot", "s-1")),
    ],
)
def test_parse_deep_link(link: str, expected: tuple[str, str | None]) -> None:
    assert parse_deep_link(link) == expected


@pytest.mark.parametrize(
    "link",
    ["https://example.org/x", "t.me/ttabok_sandbox_bot?start=a b", "t.me/b?start=" + "x" * 65],
)
def test_parse_deep_link_refuses_what_telegram_would_not_pass_on(link: str) -> None:
    with pytest.raises(ValueError):
        parse_deep_link(link)


@given(st.text(alphabet=st.sampled_from("ab 가\n😀"), max_size=300), st.integers(8, 40))
def test_an_app_splits_a_long_text_into_parts_within_the_limit_losing_only_the_cuts(
    text: str, limit: int
) -> None:
    """Telegram's apps send a text over the limit as several messages; each part fits in
    UTF-16 code units, as the apps count (an emoji outside the BMP is two), and the parts
    are the text in order, less the line break or space dropped at each cut (and a part that
    would be blank, which an app does not send)."""
    parts = split_like_an_app(text, limit)
    assert all(0 < utf16_len(part) <= limit and part.strip() for part in parts)
    joined = "".join(parts)
    assert [c for c in joined if not c.isspace()] == [c for c in text if not c.isspace()]
    rest = iter(text)
    assert all(char in rest for char in joined)  # a subsequence, in order
    if utf16_len(text) <= limit and text.strip():
        assert parts == [text]


def test_an_app_cuts_at_a_line_break_else_a_space_in_the_limits_second_half() -> None:
    assert split_like_an_app("aaaa\nbbbb cccc", 12) == ["aaaa\nbbbb", "cccc"]
    assert split_like_an_app("aaaaaaa\nbb cccc", 12) == ["aaaaaaa", "bb cccc"]
    assert split_like_an_app("a\nbbbbbbbbbbbbbbbb", 12) == ["a\nbbbbbbbbbb", "bbbbbb"]


def test_an_app_counts_an_emoji_outside_the_bmp_as_two_and_never_cuts_one_in_half() -> None:
    """Android's and Desktop's text fields count UTF-16 code units (Java and Qt strings)."""
    assert split_like_an_app("😀" * 5, 8) == ["😀" * 4, "😀"]
    assert split_like_an_app("a" + "😀" * 4, 8) == ["a" + "😀" * 3, "😀"]  # not 7 and a half
    assert split_like_an_app("😀😀 😀😀😀", 8) == ["😀😀", "😀😀😀"]  # the space at unit 4
    assert split_like_an_app("가😀" * 1400, 4096)[0] == "가😀" * 1365 + "가"  # 4,096 units
