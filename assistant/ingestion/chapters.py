"""Chapters that come from outside a transcript (a feed's ``podcast:chapters`` JSON): read
them, and put their titles on an episode's turns by time."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.schema import Chapter, Cue, Episode, ParseIssue, Segment


def read_chapters(path: Path, name: str) -> tuple[list[Chapter], list[ParseIssue]]:
    """The chapters of a Podcasting 2.0 chapters file (``{"chapters": [{"startTime",
    "title"}]}``), in time order; a bad file or entry is reported, never fatal."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        return [], [ParseIssue(file=name, line=line, message=f"unreadable chapters: {exc}")]
    entries = data.get("chapters") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return [], [ParseIssue(file=name, message='not a chapters file (no "chapters" list)')]
    chapters, issues = [], []
    for i, entry in enumerate(entries):
        start = entry.get("startTime") if isinstance(entry, dict) else None
        title = entry.get("title") if isinstance(entry, dict) else None
        if not isinstance(start, int | float) or isinstance(start, bool) or start < 0:
            issues.append(ParseIssue(file=name, message=f"chapter {i} has no startTime: skipped"))
            continue
        if not isinstance(title, str) or not title.strip():
            issues.append(ParseIssue(file=name, message=f"chapter {i} has no title: skipped"))
            continue
        chapters.append(Chapter(title=" ".join(title.split()), seconds=int(start)))
    return sorted(chapters, key=lambda c: c.seconds or 0), issues


def apply_chapters(episode: Episode, chapters: list[Chapter]) -> None:
    """Label each timed turn with the chapter it falls in; a turn that runs across a chapter
    start is split at the first cue of the new chapter (a chunk never crosses a chapter).
    Chapters the transcript itself marks win: the feed only completes what a file says."""
    if not chapters or episode.chapters:
        return
    episode.chapters = chapters
    segments: list[Segment] = []
    for seg in episode.segments:
        if seg.seconds is None or seg.kind != "transcript":
            segments.append(seg)
            continue
        segments.extend(_split_at_chapters(seg, chapters))
    episode.segments = segments


def _chapter_at(chapters: list[Chapter], seconds: int) -> str | None:
    title = None
    for chapter in chapters:
        if (chapter.seconds or 0) > seconds:
            break
        title = chapter.title
    return title


def _split_at_chapters(seg: Segment, chapters: list[Chapter]) -> list[Segment]:
    out = [seg.model_copy(update={"chapter": _chapter_at(chapters, seg.seconds or 0), "cues": []})]
    base = 0  # where the current piece starts in the original text
    for cue in seg.cues:
        title = _chapter_at(chapters, cue.seconds)
        current = out[-1]
        if title == current.chapter:
            current.cues.append(Cue(offset=cue.offset - base, seconds=cue.seconds))
            continue
        cut = cue.offset - base
        rest = current.text[cut:]
        current.text = current.text[:cut].rstrip()
        out.append(
            current.model_copy(
                update={"text": rest, "seconds": cue.seconds, "chapter": title, "cues": []}
            )
        )
        base = cue.offset
    return out
