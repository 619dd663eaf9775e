"""The demo's conversation as one HTML page, drawn the way Slack shows it at the end: each
message in its final state (cards done, their buttons), mrkdwn rendered (bold, italics, quotes,
code, links, mentions), threads under their parents, images inline. Pure functions."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EMOJI = {
    ":hourglass_flowing_sand:": "⏳",
    ":art:": "🎨",
    ":outbox_tray:": "📤",
    ":white_check_mark:": "✅",
    ":warning:": "⚠️",
    ":no_entry_sign:": "🚫",
}


@dataclass
class Entry:
    """One line of the conversation: what a person did, or a message the bot sent (by the
    blocks it holds now), private answers marked as such."""

    speaker: str
    text: str
    where: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    in_thread: bool = False
    private: bool = False
    # The Slack message it is (channel, ts), for its final state.
    place: tuple[str, str] | None = None


def emoji(text: str) -> str:
    for code, glyph in EMOJI.items():
        text = text.replace(code, glyph)
    return text


_TOKEN = re.compile(r"```(.+?)```|`([^`\n]+)`|<([^<>\n]+)>", re.S)
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), "s"),
)


def mrkdwn(text: str, people: Mapping[str, str]) -> str:
    """Slack mrkdwn (with Slack's &amp; &lt; &gt; escapes) as HTML."""
    lines = text.split("\n")
    out: list[str] = []
    quote: list[str] = []
    for line in lines:
        # A quote is a line starting with a bare ">"; a typed one arrives escaped as &gt;.
        if line.startswith(">"):
            quote.append(_inline(line.removeprefix(">").removeprefix(" "), people))
            continue
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote = []
        out.append(_inline(line, people) + "<br>")
    if quote:
        out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
    return "".join(out).removesuffix("<br>")


def _inline(text: str, people: Mapping[str, str]) -> str:
    """Code, links and mentions are set aside first, so styles may span them (`*<@U1> asked*`)."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        block, code, angle = match.groups()
        if block is not None:
            kept.append(f"<pre>{_plain(block)}</pre>")
        elif code is not None:
            kept.append(f"<code>{_plain(code)}</code>")
        else:
            kept.append(_angle(angle, people))
        return f"\x00{len(kept) - 1}\x00"

    styled = _plain(_TOKEN.sub(keep, text))
    for pattern, tag in _STYLES:
        styled = pattern.sub(rf"<{tag}>\1</{tag}>", styled)
    return re.sub("\x00([0-9]+)\x00", lambda m: kept[int(m[1])], styled)


def _plain(text: str) -> str:
    """Slack-escaped text as escaped HTML."""
    raw = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return html.escape(emoji(raw), quote=False)


def _angle(token: str, people: Mapping[str, str]) -> str:
    target, _, label = token.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return f'<span class="mention">@{html.escape(label or people.get(user, user))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{html.escape(label or target[1:])}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{html.escape(label or target[1:])}</span>'
    url = html.escape(target)
    return f'<a href="{url}">{html.escape(label) if label else url}</a>'


def blocks_html(blocks: list[dict[str, Any]], people: Mapping[str, str]) -> str:
    return "".join(_block(block, people) for block in blocks)


def _text(item: Any, people: Mapping[str, str]) -> str:
    if not isinstance(item, dict):
        return ""
    if item.get("type") == "mrkdwn":
        return mrkdwn(str(item.get("text", "")), people)
    return html.escape(emoji(str(item.get("text", ""))), quote=False)


def _block(block: dict[str, Any], people: Mapping[str, str]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f"<h3>{_text(block.get('text'), people)}</h3>"
    if kind == "section":
        fields = "".join(f"<div>{_text(f, people)}</div>" for f in block.get("fields") or [])
        grid = f'<div class="fields">{fields}</div>' if fields else ""
        return f'<div class="section">{_text(block.get("text"), people)}{grid}</div>'
    if kind == "context":
        items = " ".join(_text(e, people) for e in block.get("elements") or [])
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        return (
            '<div class="actions">'
            + "".join(_button(e) for e in block.get("elements") or [])
            + "</div>"
        )
    if kind == "divider":
        return "<hr>"
    if kind == "image":
        return f'<div class="context">[image: {html.escape(str(block.get("alt_text", "")))}]</div>'
    return ""


def _button(element: dict[str, Any]) -> str:
    style = html.escape(str(element.get("style", "")))
    label = html.escape(str((element.get("text") or {}).get("text", "")))
    return f'<button class="{style}">{label}</button>'


_STYLE = """
body{font-family:Lato,'Helvetica Neue',Arial,sans-serif;max-width:860px;margin:2em auto;
color:#1d1c1d;font-size:15px;line-height:1.45}
h1{font-size:20px}.message{display:flex;gap:10px;padding:8px 0}
.avatar{width:36px;height:36px;border-radius:6px;background:#4a154b;color:#fff;display:flex;
align-items:center;justify-content:center;font-weight:bold;flex:none}
.bot .avatar{background:#2c2d30}.where{color:#616061;font-size:12px;margin-left:6px}
.thread{margin-left:46px;border-left:3px solid #ddd;padding-left:10px}
.private{background:#f8f8f8;border-radius:6px;padding:6px}
.private .note{color:#616061;font-size:12px}
blockquote{border-left:4px solid #ddd;margin:4px 0;padding-left:10px;color:#454245}
code{background:#f6f6f6;border:1px solid #e1e1e1;border-radius:3px;padding:0 3px;
font-size:12px;color:#e01e5a}pre{background:#f6f6f6;border:1px solid #e1e1e1;padding:6px}
.context{color:#616061;font-size:13px}.fields{display:grid;grid-template-columns:1fr 1fr}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px}
button{margin:6px 6px 0 0;padding:4px 12px;border:1px solid #bbb;border-radius:4px;
background:#fff;font-weight:bold}button.primary{background:#007a5a;color:#fff;border:0}
button.danger{color:#e01e5a}img{max-width:420px;border-radius:6px;margin-top:6px;display:block}
"""


def page(entries: list[Entry], people: Mapping[str, str], title: str) -> str:
    rows = []
    for entry in entries:
        who = html.escape(entry.speaker)
        where = f'<span class="where">{html.escape(entry.where)}</span>' if entry.where else ""
        body = blocks_html(entry.blocks, people) if entry.blocks else mrkdwn(entry.text, people)
        body += "".join(
            f'<img src="{html.escape(name)}" alt="{html.escape(name)}">'
            if not name.endswith(".csv")
            else f'<div><a href="{html.escape(name)}">{html.escape(name)}</a></div>'
            for name in entry.images
        )
        if entry.private:
            body = f'<div class="private"><div class="note">Only visible to you</div>{body}</div>'
        classes = ["message"] + (["bot"] if entry.speaker == "imagebot" else [])
        row = (
            f'<div class="{" ".join(classes)}"><div class="avatar">{who[:1].upper()}</div>'
            f'<div><b class="who">{who}</b>{where}<div>{body}</div></div></div>'
        )
        rows.append(f'<div class="thread">{row}</div>' if entry.in_thread else row)
    head = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
    )
    return head + "\n".join(rows) + "</body></html>\n"
