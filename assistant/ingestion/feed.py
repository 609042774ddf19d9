"""A podcast RSS feed read from disk: the show, and per item its title, episode number,
date, deep-link URL, transcript files and chapters, matched to the files of the corpus.

Nothing is fetched: a ``podcast:transcript`` or ``podcast:chapters`` URL is matched by its
file name to a file in the corpus folder (or, for chapters, beside the feed), and when none
is there the warning says which file to put where. ``feedparser`` was the candidate, but it
keeps only the last ``podcast:transcript`` of an item, and feeds list one per format (VTT,
SRT, JSON, HTML); the standard library's ElementTree reads every one of them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from assistant.ingestion.chapters import read_chapters
from assistant.schema import Chapter, ParseIssue

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
}
FEED_SUFFIXES = (".xml", ".rss")


@dataclass
class FeedItem:
    """What a feed says about one episode."""

    title: str | None
    number: str | None
    date: str | None
    url: str | None  # a deep-link template: the enclosure with ``#t={seconds}``, or the page
    transcripts: list[str] = field(default_factory=list)
    chapters: str | None = None
    enclosure: str | None = None
    line: int | None = None


@dataclass
class Feed:
    """A parsed feed file."""

    name: str
    show: str | None
    items: list[FeedItem]


@dataclass
class FeedMatch:
    """What the feed adds to one corpus file."""

    item: FeedItem
    show: str | None
    chapters: list[Chapter] = field(default_factory=list)


def is_feed(path: Path) -> bool:
    """An ``.xml`` or ``.rss`` file whose start holds an ``<rss`` element."""
    if path.suffix.lower() not in FEED_SUFFIXES:
        return False
    try:
        with path.open("rb") as fh:
            return b"<rss" in fh.read(4096)
    except OSError:
        return False


def file_name(url: str) -> str:
    """The file name at the end of a URL (or of a plain relative path)."""
    return PurePosixPath(unquote(urlparse(url).path)).name


def read_feed(path: Path, name: str) -> tuple[Feed | None, list[ParseIssue]]:
    """Parse an RSS file; ``None`` and an error naming the line when it is not XML."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
        root = ET.fromstring(raw)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ParseIssue(file=name, message=f"cannot read the feed: {exc}", level="error")]
    except ET.ParseError as exc:
        return None, [
            ParseIssue(
                file=name, line=exc.position[0], message=f"not valid XML: {exc}", level="error"
            )
        ]
    channel = root.find("channel")
    if channel is None:
        return None, [ParseIssue(file=name, message="no <channel> in the feed", level="error")]
    items = []
    for item in channel.findall("item"):
        title = _text(item, "title")
        enclosure = item.find("enclosure")
        audio = enclosure.get("url") if enclosure is not None else None
        link = _text(item, "link")
        number = _text(item, "podcast:episode") or _text(item, "itunes:episode")
        items.append(
            FeedItem(
                title=title,
                number=f"EP {number}" if number else None,
                date=_date(_text(item, "pubDate")),
                url=f"{audio}#t={{seconds}}" if audio else link,
                transcripts=[
                    t.get("url", "") for t in item.findall("podcast:transcript", NS) if t.get("url")
                ],
                chapters=(item.find("podcast:chapters", NS).get("url") or None)
                if item.find("podcast:chapters", NS) is not None
                else None,
                enclosure=audio,
                line=_line_of(raw, f"<title>{title}") if title else None,
            )
        )
    return Feed(name=name, show=_text(channel, "title"), items=items), []


def match_files(
    feed: Feed, feed_path: Path, names: list[str], folder: Path
) -> tuple[dict[str, FeedMatch], set[str], list[ParseIssue]]:
    """Corpus files the feed's items describe, the files not to index as episodes (the
    chapters files it uses, other formats of an episode already matched), and what could
    not be matched, with the file to put where."""
    by_name: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    for name in names:
        by_name.setdefault(PurePosixPath(name).name, []).append(name)
        by_stem.setdefault(PurePosixPath(name).stem, []).append(name)
    matches: dict[str, FeedMatch] = {}
    used: set[str] = set()
    issues: list[ParseIssue] = []
    for item in feed.items:
        label = item.title or item.number or "an item"
        files = [n for url in item.transcripts for n in by_name.get(file_name(url), [])]
        if not files and item.enclosure:  # ep12.mp3 beside ep12.vtt
            files = by_stem.get(PurePosixPath(file_name(item.enclosure)).stem, [])
        files = list(dict.fromkeys(files))
        if not files:
            if item.transcripts:
                wanted = file_name(item.transcripts[0])
                issues.append(
                    ParseIssue(
                        file=feed.name,
                        line=item.line,
                        message=f"{label!r}: its transcript {item.transcripts[0]} is not in the "
                        f"corpus (nothing is downloaded): save it as {folder / wanted}",
                    )
                )
            continue
        if len(files) > 1:
            # One episode, several formats: index the one that best keeps speakers and times.
            files.sort(key=_preference)
            used |= set(files[1:])
            issues.append(
                ParseIssue(
                    file=feed.name,
                    line=item.line,
                    message=f"{label!r} has {len(files)} transcripts in the corpus: "
                    f"{files[0]} is indexed, not {', '.join(files[1:])} (the same episode)",
                )
            )
            files = files[:1]
        chapters: list[Chapter] = []
        if item.chapters:
            found = _chapters_file(item.chapters, by_name, folder, feed_path)
            if found is None:
                issues.append(
                    ParseIssue(
                        file=feed.name,
                        line=_line_of_url(feed_path, item.chapters),
                        message=f"{label!r}: its chapters {item.chapters} are not in the corpus "
                        f"(nothing is downloaded): save them as {folder / file_name(item.chapters)}",
                    )
                )
            else:
                path, corpus_name = found
                chapters, problems = read_chapters(path, corpus_name or path.name)
                issues.extend(problems)
                if corpus_name:
                    used.add(corpus_name)
        for name in files:
            matches[name] = FeedMatch(item=item, show=feed.show, chapters=chapters)
    return matches, used, issues


# Podcasting 2.0 JSON and WebVTT name speakers per segment or cue; SRT and HTML often don't.
PREFERENCE = (".json", ".vtt", ".html", ".htm", ".srt")


def _preference(name: str) -> int:
    suffix = PurePosixPath(name).suffix.lower()
    return PREFERENCE.index(suffix) if suffix in PREFERENCE else len(PREFERENCE)


def _chapters_file(
    url: str, by_name: dict[str, list[str]], folder: Path, feed_path: Path
) -> tuple[Path, str | None] | None:
    name = file_name(url)
    if by_name.get(name):
        corpus_name = by_name[name][0]
        return folder / corpus_name, corpus_name
    beside = feed_path.parent / name
    return (beside, None) if beside.is_file() else None


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(tag, NS)
    text = found.text if found is not None else None
    return " ".join(text.split()) if text and text.strip() else None


def _date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError):
        return value


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _line_of_url(path: Path, url: str) -> int | None:
    try:
        return _line_of(path.read_text(encoding="utf-8-sig"), url)
    except (OSError, UnicodeDecodeError):
        return None
