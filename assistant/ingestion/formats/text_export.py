"""Plain-text exports of transcription tools: turns opened by a time and a speaker, in any
of the usual layouts (``[00:01:02] Name: …``, ``Name (00:01:02): …``, ``00:01:02 Name``,
``Name  0:02``), recognised from the file itself."""

from __future__ import annotations

import re
from collections import Counter

from assistant.ingestion.formats.cues import (
    NOT_NAMES,
    TimedText,
    merge_turns,
    parse_cue_time,
    timed_episode,
)
from assistant.schema import Episode, ParseIssue

TIME = r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)"
NAME = (
    r"(?P<speaker>Speaker\s?\d{1,2}|(?:[A-Z][\w'’.\-]*|[\uac00-\ud7a3]{2,5})"
    r"(?:\s(?:[A-Z][\w'’.\-]*|[\uac00-\ud7a3]{2,5})){0,3})"
)
LABEL_RES = [
    # [00:01:02] Name: text   ·   00:01:02 - Name: text   ·   00:01:02 Name
    re.compile(rf"^[\[(]?{TIME}[\])]?\s*[-–—|]?\s*{NAME}\s*(?::\s*(?P<text>.*))?$"),
    # Name (00:01:02): text   ·   Name [00:01:02]
    re.compile(rf"^{NAME}\s*[\[(]{TIME}[\])]\s*:?\s*(?P<text>.*)$"),
    # Name  0:02   (Otter)   ·   Name | 00:01:02
    re.compile(rf"^{NAME}\s*(?:\s|\|)\s*{TIME}$"),
]
# [00:01:02] text: a new stamp inside the current speaker's turn.
STAMP_RE = re.compile(rf"^\[{TIME}\]\s+(?P<text>\S.*)$")
MIN_LABELS = 3


def _label(line: str) -> re.Match[str] | None:
    for rx in LABEL_RES:
        m = rx.match(line)
        if m:
            speaker = m.group("speaker")
            if len(speaker.split()) == 1 and speaker.lower() in NOT_NAMES:
                return None
            return m
    return None


def sniff(lines: list[str]) -> bool:
    """At least three time-and-speaker lines, and some speaker opening two of them."""
    speakers = Counter(m.group("speaker") for ln in lines if (m := _label(ln.strip())))
    return sum(speakers.values()) >= MIN_LABELS and speakers.most_common(1)[0][1] >= 2


def parse(lines: list[str], name: str, stem: str, issues: list[ParseIssue]) -> Episode:
    """Turns at their stamped times; lines after a label are its text."""
    speakers = Counter(m.group("speaker") for ln in lines if (m := _label(ln.strip())))
    pieces: list[TimedText] = []
    preamble: list[str] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        m = _label(line)
        # A name seen once beside a time is as likely a sentence as a speaker.
        if m and (speakers[m.group("speaker")] >= 2 or len(m.group("speaker").split()) >= 2):
            start = _start(m.group("time"), name, i + 1, issues)
            text = (m.groupdict().get("text") or "").strip()
            pieces.append(TimedText(start, text, i + 1, m.group("speaker")))
        elif (s := STAMP_RE.match(line)) and pieces:
            start = _start(s.group("time"), name, i + 1, issues)
            pieces.append(TimedText(start, s.group("text"), i + 1))
        elif pieces:
            pieces[-1].text += ("\n" if pieces[-1].text else "") + line
        else:
            preamble.append(line)
    title = preamble[0][:120] if preamble else None
    return timed_episode(name, stem, merge_turns(pieces, name, issues), title)


def _start(stamp: str, name: str, line: int, issues: list[ParseIssue]) -> float | None:
    try:
        return parse_cue_time(stamp)
    except ValueError as exc:
        issues.append(ParseIssue(file=name, line=line, message=f"malformed timestamp: {exc}"))
        return None
