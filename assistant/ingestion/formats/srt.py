"""SubRip (``.srt``): numbered cues, ``HH:MM:SS,mmm`` timings, inline ``Name:`` speakers,
formatting tags, and the blank-line quirks of real exports."""

from __future__ import annotations

import html
import re

from assistant.ingestion.formats.cues import (
    TIMING_RE,
    blocks,
    label_cues,
    merge_turns,
    read_cues,
    timed_episode,
)
from assistant.schema import Episode, ParseIssue

TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>|\{\\[^}]*\}")


def sniff(text: str) -> bool:
    """An SRT file's first block is a number and a ``-->`` timing line."""
    head = [ln.strip() for ln in text.lstrip("\n").split("\n", 2)[:2]]
    return len(head) == 2 and head[0].isdigit() and bool(TIMING_RE.match(head[1]))


def parse(text: str, name: str, stem: str, issues: list[ParseIssue]) -> Episode:
    """Turns of an SRT file, each cue's own start kept as a cue of its turn."""
    cues = [
        (cue, [(None, html.unescape(TAG_RE.sub("", line)).strip()) for line in cue.text_lines])
        for cue in read_cues(blocks(text.split("\n")), name, issues)
    ]
    return timed_episode(name, stem, merge_turns(label_cues(cues), name, issues))
