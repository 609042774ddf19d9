"""Podcasting 2.0 HTML transcripts: ``<cite>Name:</cite> <time>0:00</time> <p>…</p>``
monologues, one speaker label and start time before the paragraphs they open."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from assistant.ingestion.formats.cues import TimedText, merge_turns, timed_episode
from assistant.schema import Episode, ParseIssue, parse_timestamp

CAPTURED = ("cite", "time", "p", "title")


def sniff(text: str) -> bool:
    """HTML with ``<cite>`` speaker labels, or ``<time>`` stamps before paragraphs."""
    head = text[:50_000].lower()
    return head.lstrip().startswith("<") and ("<cite" in head or ("<time" in head and "<p" in head))


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.capturing: str | None = None
        self.buffer: list[str] = []
        self.started_at = 1
        self.found: list[tuple[str, str, int]] = []  # (tag, text, line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CAPTURED and self.capturing is None:
            self.capturing, self.buffer, self.started_at = tag, [], self.getpos()[0]
        elif tag == "br" and self.capturing:
            self.buffer.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.capturing:
            self.found.append((tag, " ".join("".join(self.buffer).split()), self.started_at))
            self.capturing = None

    def handle_data(self, data: str) -> None:
        if self.capturing:
            self.buffer.append(data)


def parse(text: str, name: str, stem: str, issues: list[ParseIssue]) -> Episode | None:
    """Turns of a Podcasting 2.0 HTML transcript; paragraphs without ``<cite>`` keep their
    times (if any) and no speaker, with a warning."""
    reader = _Reader()
    reader.feed(text)
    reader.close()
    title = next((t for tag, t, _ in reader.found if tag == "title" and t), None)
    speaker: str | None = None
    start: float | None = None
    pieces: list[TimedText] = []
    for tag, body, line in reader.found:
        if tag == "cite":
            speaker = body.rstrip(":").strip() or None
        elif tag == "time":
            try:
                start = float(parse_timestamp(re.sub(r"[.,]\d+$", "", body)))
            except ValueError as exc:
                issues.append(ParseIssue(file=name, line=line, message=f"malformed <time>: {exc}"))
        elif tag == "p" and body:
            pieces.append(TimedText(start, body, line, speaker))
    if not pieces:
        issues.append(ParseIssue(file=name, line=1, message="no <p> paragraphs found: skipped"))
        return None
    if not any(tag == "cite" for tag, _, _ in reader.found):
        issues.append(
            ParseIssue(
                file=name,
                line=pieces[0].line,
                message="no <cite> speaker labels: paragraphs indexed without speakers",
            )
        )
    return timed_episode(name, stem, merge_turns(pieces, name, issues), title)
