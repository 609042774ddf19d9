"""Slack's text: mrkdwn escaping, source lines, replies cut to Slack's limits, and Slack
message text turned back into the plain question the assistant should see."""

from __future__ import annotations

import re

from assistant.schema import Citation
from assistant.surfaces.bots.core import BotReply, compact_parts, split_text
from assistant.text import shorten

# One message's text: Slack's limit for a section block, and under chat.update's 4,000.
TEXT_LIMIT = 3000
# More than this many messages is a flood, not an answer.
MAX_MESSAGES = 6
QUOTE_CHARS = 220


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack reserves for its ``<…>`` syntax."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``<url|label>``; ``|`` in the URL is percent-encoded as it would end the URL early."""
    return f"<{escape_mrkdwn(url).replace('|', '%7C')}|{escape_mrkdwn(label)}>"


def format_source(citation: Citation) -> str:
    """``*[1]* EP 81 · <url|04:34> · Seonghyun Kim — “quote”`` (linked when there is a URL)."""
    episode, timestamp, speaker = compact_parts(citation)
    parts = [escape_mrkdwn(episode), escape_mrkdwn(timestamp or ""), escape_mrkdwn(speaker or "")]
    url = (
        citation.url if citation.url and citation.url.startswith(("https://", "http://")) else None
    )
    if url:
        # The time is the natural link target: the URL already seeks to it.
        if timestamp:
            parts[1] = link(url, timestamp)
        else:
            parts[0] = link(url, episode)
    heading = " · ".join(p for p in parts if p)
    return f"*[{citation.n}]* {heading} — “{escape_mrkdwn(shorten(citation.quote, QUOTE_CHARS))}”"


def format_reply(reply: BotReply) -> str:
    """The whole reply in mrkdwn: the answer, a notice in italics, then its sources."""
    lines = [escape_mrkdwn(reply.text.strip()) or "_(no answer)_"]
    if reply.notice:
        lines += ["", f"_{escape_mrkdwn(reply.notice.strip())}_"]
    if reply.citations:
        lines += ["", "*Sources*", *(format_source(c) for c in reply.citations)]
    if reply.see_also:
        lines += ["", "*See also*", *(format_source(c) for c in reply.see_also)]
    return "\n".join(lines)


def slack_messages(reply: BotReply, limit: int = TEXT_LIMIT) -> list[str]:
    """The reply as one or more message texts, each within ``limit`` characters."""
    pieces = split_text(format_reply(reply), limit)
    if len(pieces) > MAX_MESSAGES:
        pieces = pieces[:MAX_MESSAGES]
        pieces[-1] = shorten(pieces[-1], limit - 40) + "\n_(answer cut: too long for Slack)_"
    return pieces


def partial_text(text: str, limit: int = TEXT_LIMIT) -> str | None:
    """The answer so far, marked as still being written; ``None`` once it outgrows one
    message (the finished reply is then split as usual)."""
    shown = escape_mrkdwn(text.strip())
    return f"{shown} …" if shown and len(shown) + 2 <= limit else None


_TOKEN = re.compile(r"<([^<>]*)>")


def question_text(text: str, bot_user_id: str | None = None) -> str:
    """A Slack message as the plain question the assistant should see.

    The bot's own mention goes; other mentions, channels and links keep their readable label.
    """

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "" if target[1:] == bot_user_id else (f"@{label}" if label else "")
        if target.startswith("#"):
            return f"#{label}" if label else ""
        if target.startswith("!"):  # <!here>, <!channel>, <!subteam^…|@team>
            return label
        return label or target  # a link

    text = _TOKEN.sub(plain, text or "")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())
