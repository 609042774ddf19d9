"""Parse corpus files into ``Episode`` objects.

Formats recognised, tried in this order:

* the timed formats of ``formats/`` (WebVTT, SRT, Podcasting 2.0 JSON and HTML), by content
  or extension;
* stamped turns: ``**Noam [00:07:07]**: …`` lines, optionally after an article and a
  ``### 타임스탬프`` / ``### Timestamps`` chapter list. Such a list can come from another cut
  of the episode (the shipped one drifts by up to ten minutes and even orders two chapters
  differently from the transcript), so its titles are never put on turns: a wrong chapter
  label is worse than none, and each turn carries its own exact time anyway;
* headed transcripts: ``EP NN`` and a title on top, chapter headings ending in a
  timestamp, speaker turns opened by the speaker's name, wrapped continuation lines;
* articles: a title line (``EP 88: … | …`` links it to an episode) and paragraphs;
* plain-text exports of transcription tools, turns opened by a time and a speaker;
* anything else that is UTF-8 text: indexed as plain text, with a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from assistant.ingestion import formats
from assistant.ingestion.chapters import apply_chapters
from assistant.ingestion.reading import decode, read_regular
from assistant.ingestion.text_formats import (
    ARTICLE_TITLE_RE,
    HEADER_RE,
    STAMPED_TURN_RE,
    first_line,
    parse_article,
    parse_headed,
    parse_plain,
    parse_stamped,
)
from assistant.schema import Chapter, Episode, ParseIssue


@dataclass
class Metadata:
    """What ``episodes.yaml`` or a feed says about one file (overrides what the parser found)."""

    number: str | None = None
    label: str | None = None
    title: str | None = None
    url: str | None = None
    date: str | None = None
    show: str | None = None
    chapters: list[Chapter] = field(default_factory=list)  # from a feed's podcast:chapters

    def key(self) -> str:
        """Everything this metadata says, as one string: a change re-indexes its file."""
        fields: dict[str, object] = {k: v for k, v in vars(self).items() if k != "chapters"}
        # Only fields that are set beyond episodes.yaml's five: indexes built before feeds
        # keep their keys, so they are not re-indexed for nothing.
        if self.show is None:
            del fields["show"]
        if self.chapters:
            fields["chapters"] = [c.model_dump() for c in self.chapters]
        return json.dumps(fields, sort_keys=True)


@dataclass
class ParsedFile:
    """An episode (or ``None`` when nothing could be kept) and the issues found on the way."""

    episode: Episode | None
    issues: list[ParseIssue] = field(default_factory=list)


def parse_file(path: Path, meta: Metadata | None = None, *, name: str | None = None) -> ParsedFile:
    """Parse one corpus file; never raises on bad content, returns issues instead."""
    name = name or path.name
    try:
        raw = read_regular(path)
    except OSError as exc:
        return ParsedFile(
            None, [ParseIssue(file=name, message=f"cannot read: {exc}", level="error")]
        )
    text, issues = decode(raw, name)
    if text is None:
        return ParsedFile(None, issues)
    result = parse_text(text, name, meta or Metadata())
    result.issues[:0] = issues
    return result


def parse_text(text: str, name: str, meta: Metadata) -> ParsedFile:
    """Parse decoded text; the format is recognised from the text itself."""
    lines = text.split("\n")
    issues: list[ParseIssue] = []
    stem = Path(name).stem
    timed = formats.detect(name, text)
    if timed is not None:
        episode = timed.parse(text, name, stem, issues)
        if episode is None:
            return ParsedFile(None, issues)
    elif sum(1 for ln in lines if STAMPED_TURN_RE.match(ln.strip())) >= 3:
        episode = parse_stamped(lines, name, stem, issues)
    elif first_line(lines) is not None and HEADER_RE.match(first_line(lines) or ""):
        episode = parse_headed(lines, name, stem, issues)
    elif (first := first_line(lines)) is not None and ARTICLE_TITLE_RE.match(first):
        episode = parse_article(lines, name, stem, issues)
    elif formats.text_export.sniff(lines):
        episode = formats.text_export.parse(lines, name, stem, issues)
    else:
        issues.append(
            ParseIssue(file=name, message="no known episode format found: indexed as plain text")
        )
        episode = parse_plain(lines, name, stem)
    # Ids follow the relative path, not the stem: "a/ep.txt" and "b/ep.txt" must not share
    # chunk ids. A top-level file keeps its stem, so the shipped corpus keeps its ids.
    episode.id = PurePosixPath(name).with_suffix("").as_posix()
    _apply_metadata(episode, meta)
    # A turn with no words ("**Ann [00:01]**:") has nothing to cite.
    episode.segments = [s for s in episode.segments if s.text.strip()]
    if not episode.segments:
        issues.append(ParseIssue(file=name, message="no text found to index"))
        return ParsedFile(None, issues)
    return ParsedFile(episode, issues)


def _apply_metadata(episode: Episode, meta: Metadata) -> None:
    if meta.number:
        episode.number = meta.number
    if meta.title:
        episode.title = meta.title
    episode.label = meta.label or episode.number or episode.label
    episode.url = meta.url or episode.url
    episode.date = meta.date or episode.date
    episode.show = meta.show or episode.show
    apply_chapters(episode, meta.chapters)
