"""Message text as Telegram sees it: parse modes, automatic entities, rendering for the web chat.

Telegram turns ``parse_mode="HTML"`` text into plain text plus ``MessageEntity`` objects whose
``offset``/``length`` count UTF-16 code units, and rejects malformed markup with texts such as
``can't parse entities: Unsupported start tag "br" at byte offset 5``. Spec:
https://core.telegram.org/bots/api#html-style (the parser mirrors tdlib's ``parse_html``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

Entity = dict[str, object]

# tag -> entity type; span and tg-emoji need an attribute, checked below
_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")
_URL = re.compile(r"(?<![\w@/])(?:https?://|t\.me/)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")
_HASHTAG = re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")


class EntityParseError(ValueError):
    """Markup that Telegram refuses; the message is Telegram's own wording."""


def split_like_an_app(text: str, limit: int) -> list[str]:
    """Return the messages a Telegram app sends for ``text``: one message holds at most
    ``limit`` UTF-16 code units (the apps' text fields count Java and Qt string length, so an
    emoji outside the BMP counts two; the Bot API's own limit on a bot's text counts
    characters), so the app cuts a longer text into several, sent one right after the other.
    Each cut is at the last line break, else the last space, in the second half of the limit
    (that character is dropped), else at the limit itself, never inside a surrogate pair."""
    parts: list[str] = []
    while utf16_len(text) > limit:
        end = _fitting(text, limit)
        window = text[:end]
        cut = window.rfind("\n")
        if cut == -1 or utf16_len(window[:cut]) < limit // 2:
            cut = max(window.rfind(" "), window.rfind("\t"))
        if cut == -1 or utf16_len(window[:cut]) < limit // 2:
            part, text = window, text[end:]
        else:
            part, text = text[:cut], text[cut + 1 :]
        parts.append(part)
    parts.append(text)
    return [part for part in parts if part.strip()]


def _fitting(text: str, limit: int) -> int:
    """Return how many characters of ``text`` fit in ``limit`` UTF-16 code units (at least
    one, so that a cut always moves on)."""
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return max(i, 1)
    return len(text)


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    entity: Entity
    start: int  # UTF-16 offset in the plain text


def parse_html(source: str) -> tuple[str, list[Entity]]:
    """Return ``(plain_text, entities)`` for Telegram-HTML ``source``.

    Raises:
        EntityParseError: unsupported or unbalanced tags, with tdlib's error text.
    """
    raw = source.encode("utf-8")
    out: list[str] = []
    pos16 = 0
    stack: list[_Open] = []
    entities: list[Entity] = []
    i = 0
    n = len(raw)
    while i < n:
        if raw[i] == ord("&"):
            char, i = _decode_entity(raw, i)
            out.append(char)
            pos16 += utf16_len(char)
            continue
        if raw[i] != ord("<"):
            j = i
            while j < n and raw[j] not in (ord("<"), ord("&")):
                j += 1
            chunk = raw[i:j].decode("utf-8")
            out.append(chunk)
            pos16 += utf16_len(chunk)
            i = j
            continue
        begin = i
        i += 1
        if i < n and raw[i] == ord("/"):
            i = _close_tag(raw, begin, i + 1, stack, entities, pos16)
            continue
        i, opened = _open_tag(raw, begin, i, stack, pos16)
        stack.append(opened)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (int(str(e["offset"])), -int(str(e["length"]))))
    return "".join(out), entities


def _decode_entity(raw: bytes, i: int) -> tuple[str, int]:
    """Decode ``&lt;``-style or numeric entities; anything else stays a literal ``&``."""
    end = raw.find(b";", i, i + 12)
    if end != -1:
        name = raw[i + 1 : end].decode("ascii", "replace")
        if name in _NAMED:
            return _NAMED[name], end + 1
        if re.fullmatch(r"#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}", name):
            code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
            if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                return chr(code), end + 1
    return "&", i + 1


def _read_name(raw: bytes, i: int) -> tuple[str, int]:
    j = i
    while j < len(raw) and (chr(raw[j]).isalnum() and raw[j] < 128 or raw[j] in b"-_"):
        j += 1
    return raw[i:j].decode("ascii").lower(), j


def _skip_spaces(raw: bytes, i: int) -> int:
    while i < len(raw) and raw[i] in b" \t\r\n":
        i += 1
    return i


def _open_tag(raw: bytes, begin: int, i: int, stack: list[_Open], pos16: int) -> tuple[int, _Open]:
    name, i = _read_name(raw, i)
    if name not in _TAGS:
        raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
    attrs: dict[str, str] = {}
    while True:
        i = _skip_spaces(raw, i)
        if i >= len(raw):
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if raw[i] == ord(">"):
            i += 1
            break
        attr, i = _read_name(raw, i)
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{name}" at byte offset {begin}'
            )
        i = _skip_spaces(raw, i)
        if i >= len(raw) or raw[i] != ord("="):
            if attr in ("expandable",):  # <blockquote expandable>
                attrs[attr] = ""
                continue
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                f"at byte offset {begin}"
            )
        i = _skip_spaces(raw, i + 1)
        value, i = _read_value(raw, i, name, begin)
        attrs[attr] = value
    return i, _Open(name, _entity_for(name, attrs, stack, begin), pos16)


def _read_value(raw: bytes, i: int, name: str, begin: int) -> tuple[str, int]:
    if i < len(raw) and raw[i] in b"\"'":
        quote = raw[i]
        end = raw.find(bytes([quote]), i + 1)
        if end == -1:
            raise EntityParseError(
                f'Unclosed end of attribute value of the tag "{name}" at byte offset {begin}'
            )
        return html.unescape(raw[i + 1 : end].decode("utf-8")), end + 1
    j = i
    while j < len(raw) and raw[j] not in b" \t\r\n>":
        j += 1
    return html.unescape(raw[i:j].decode("utf-8")), j


def _entity_for(name: str, attrs: dict[str, str], stack: list[_Open], begin: int) -> Entity:
    kind = _TAGS[name]
    entity: Entity = {"type": kind}
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    if name == "a":
        entity["url"] = attrs.get("href", "")
    if name == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    if name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    if name == "code" and stack and stack[-1].tag == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].entity["language"] = language.removeprefix("language-")
    return entity


def _close_tag(
    raw: bytes, begin: int, i: int, stack: list[_Open], entities: list[Entity], pos16: int
) -> int:
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
    name, i = _read_name(raw, i)
    i = _skip_spaces(raw, i)
    if i >= len(raw) or raw[i] != ord(">"):
        raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
    expected = stack[-1].tag
    if name != expected:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {begin}, expected "</{expected}>", found "</{name}>"'
        )
    opened = stack.pop()
    length = pos16 - opened.start
    if length > 0 and not (opened.tag == "a" and not opened.entity.get("url")):
        entity = dict(opened.entity)
        entity["offset"] = opened.start
        entity["length"] = length
        entities.append(entity)
    return i + 1


def auto_entities(text: str, bot_username: str | None = None) -> list[Entity]:
    """Return the entities Telegram detects by itself: commands, URLs, @mentions, #hashtags."""
    found: list[tuple[int, int, Entity]] = []
    for pattern, kind in (
        (_COMMAND, "bot_command"),
        (_URL, "url"),
        (_MENTION, "mention"),
        (_HASHTAG, "hashtag"),
    ):
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(s < end and start < e for s, e, _ in found):
                continue
            found.append((start, end, {"type": kind}))
    result: list[Entity] = []
    for start, end, entity in sorted(found, key=lambda t: t[0]):
        entity["offset"] = utf16_len(text[:start])
        entity["length"] = utf16_len(text[start:end])
        result.append(entity)
    return result


def merge_entities(explicit: list[Entity], detected: list[Entity]) -> list[Entity]:
    """Add detected entities that do not overlap an explicit link/code entity."""
    blocking = {"text_link", "code", "pre", "url", "bot_command", "mention", "hashtag"}
    spans = [
        (int(str(e["offset"])), int(str(e["offset"])) + int(str(e["length"])))
        for e in explicit
        if e["type"] in blocking
    ]
    merged = list(explicit)
    for entity in detected:
        start = int(str(entity["offset"]))
        end = start + int(str(entity["length"]))
        if not any(s < end and start < e for s, e in spans):
            merged.append(entity)
    merged.sort(key=lambda e: (int(str(e["offset"])), -int(str(e["length"]))))
    return merged


def render_html(text: str, entities: list[Entity]) -> str:
    """Return safe HTML for the web chat: ``text`` escaped, entities as tags, links clickable."""
    units = text.encode("utf-16-le")
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for entity in entities:
        start = int(str(entity["offset"]))
        end = start + int(str(entity["length"]))
        tag_open, tag_close = _web_tags(entity, units[start * 2 : end * 2].decode("utf-16-le"))
        if tag_open:
            opens.setdefault(start, []).append(tag_open)
            closes.setdefault(end, []).insert(0, tag_close)
    parts: list[str] = []
    count = len(units) // 2
    k = 0
    while k <= count:
        parts.extend(closes.get(k, []))
        parts.extend(opens.get(k, []))
        if k == count:
            break
        step = 2 if 0xD800 <= int.from_bytes(units[k * 2 : k * 2 + 2], "little") < 0xDC00 else 1
        parts.append(html.escape(units[k * 2 : (k + step) * 2].decode("utf-16-le")))
        k += step
    return "".join(parts).replace("\n", "<br>")


_SIMPLE = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
}


def _web_tags(entity: Entity, content: str) -> tuple[str, str]:
    kind = str(entity["type"])
    if kind in _SIMPLE:
        tag = _SIMPLE[kind]
        return f"<{tag}>", f"</{tag}>"
    if kind == "spoiler":
        return '<span class="spoiler">', "</span>"
    if kind in ("text_link", "url"):
        url = str(entity.get("url") or content)
        if not re.match(r"^(https?://|tg://)", url):
            url = "https://" + url
        href = html.escape(url, quote=True)
        return f'<a href="{href}" target="_blank" rel="noopener">', "</a>"
    if kind == "bot_command":
        return f'<a href="#" class="command" data-command="{html.escape(content)}">', "</a>"
    return "", ""


# -- MarkdownV2 (https://core.telegram.org/bots/api#markdownv2-style) ---------------------------
_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "blockquote": "BlockQuote",
}
_TOGGLES = {"*": "bold", "~": "strikethrough", "__": "underline", "_": "italic", "||": "spoiler"}


@dataclass
class _MdOpen:
    kind: str
    start: int  # UTF-16 offset in the plain text
    byte: int  # byte offset of the opening mark in the source


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    """Return ``(plain_text, entities)`` for MarkdownV2 ``source``.

    Raises:
        EntityParseError: an unescaped reserved character or an unclosed entity.
    """
    out: list[str] = []
    stack: list[_MdOpen] = []
    entities: list[Entity] = []
    pos16 = 0
    i = 0
    n = len(source)
    at_line_start = True

    def byte_at(k: int) -> int:
        return len(source[:k].encode("utf-8"))

    def emit(chunk: str) -> None:
        nonlocal pos16
        out.append(chunk)
        pos16 += utf16_len(chunk)

    def close(kind: str, extra: Entity | None = None) -> None:
        opened = stack.pop()
        if pos16 > opened.start:
            entity: Entity = {"type": kind, "offset": opened.start, "length": pos16 - opened.start}
            entity.update(extra or {})
            entities.append(entity)

    quote: _MdOpen | None = None
    while i < n:
        c = source[i]
        if at_line_start and quote is not None and c != ">":
            if pos16 - 1 > quote.start:  # the newline before this line is not quoted
                entities.append(
                    {"type": "blockquote", "offset": quote.start, "length": pos16 - 1 - quote.start}
                )
            quote = None
        line_start, at_line_start = at_line_start, False
        if c == "\\" and i + 1 < n and 0 < ord(source[i + 1]) <= 126:
            emit(source[i + 1])
            i += 2
            continue
        top = stack[-1].kind if stack else None
        if top in ("code", "pre"):
            if top == "pre" and source.startswith("```", i):
                close("pre", stack[-1].__dict__.get("extra"))
                i += 3
            elif top == "code" and c == "`":
                close("code")
                i += 1
            else:
                emit(c)
                at_line_start = c == "\n"
                i += 1
            continue
        if c == "\n":
            emit(c)
            at_line_start = True
            i += 1
            continue
        if c == ">" and line_start:
            if quote is None:
                quote = _MdOpen("blockquote", pos16, byte_at(i))
            i += 1
            continue
        if c not in _RESERVED:
            emit(c)
            i += 1
            continue
        mark = source[i : i + 2] if source[i : i + 2] in ("__", "||") else c
        if mark in _TOGGLES:
            kind = _TOGGLES[mark]
            if top == kind:
                close(kind)
            elif any(o.kind == kind for o in stack):
                raise EntityParseError(
                    f"Can't find end of {_MD_NAMES[top or kind]} entity at byte offset "
                    f"{stack[-1].byte}"
                )
            else:
                stack.append(_MdOpen(kind, pos16, byte_at(i)))
            i += len(mark)
            continue
        if c == "`":
            if source.startswith("```", i):
                end = source.find("\n", i + 3)
                language = source[i + 3 : end] if end != -1 else ""
                opened = _MdOpen("pre", pos16, byte_at(i))
                if language.strip() and " " not in language.strip():
                    opened.__dict__["extra"] = {"language": language.strip()}
                    i = end + 1
                else:
                    i += 3
                stack.append(opened)
            else:
                stack.append(_MdOpen("code", pos16, byte_at(i)))
                i += 1
            continue
        if c == "[":
            stack.append(_MdOpen("text_link", pos16, byte_at(i)))
            i += 1
            continue
        if c == "]" and top == "text_link":
            if not source.startswith("(", i + 1):
                stack.pop()  # "[text]" without "(url)" stays plain text
                i += 1
                continue
            url, i = _md_url(source, i + 2)
            close("text_link", {"url": url})
            continue
        raise EntityParseError(
            f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
        )
    if quote is not None and pos16 > quote.start:
        entities.append(
            {"type": "blockquote", "offset": quote.start, "length": pos16 - quote.start}
        )
    if stack:
        raise EntityParseError(
            f"Can't find end of {_MD_NAMES[stack[-1].kind]} entity at byte offset {stack[-1].byte}"
        )
    entities.sort(key=lambda e: (int(str(e["offset"])), -int(str(e["length"]))))
    return "".join(out), entities


def _md_url(source: str, i: int) -> tuple[str, int]:
    url: list[str] = []
    while i < len(source):
        c = source[i]
        if c == "\\" and i + 1 < len(source):
            url.append(source[i + 1])
            i += 2
            continue
        if c == ")":
            return "".join(url), i + 1
        url.append(c)
        i += 1
    raise EntityParseError("Can't find end of a URL at byte offset " + str(len(source.encode())))
