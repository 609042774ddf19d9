"""WebVTT (``.vtt``): cues with identifiers and settings, ``NOTE``/``STYLE``/``REGION``
blocks, multi-line cues, ``<v Name>`` voice spans (with classes, closed or not) and inline
``Name:`` labels, mixed in one file."""

from __future__ import annotations

import html
import re

from assistant.ingestion.formats.cues import (
    blocks,
    label_cues,
    merge_turns,
    read_cues,
    timed_episode,
)
from assistant.schema import Episode, ParseIssue

SKIP_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")
VOICE_RE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>|<\d[\d:.]*>")


def sniff(text: str) -> bool:
    """A WebVTT file opens with ``WEBVTT``."""
    return text.startswith("WEBVTT")


def parse(text: str, name: str, stem: str, issues: list[ParseIssue]) -> Episode:
    """Turns of a WebVTT file, each cue's own start kept as a cue of its turn."""
    cues = []
    for cue in read_cues(blocks(text.split("\n")), name, issues, skip=SKIP_BLOCKS):
        parts: list[tuple[str | None, str]] = []
        for line in cue.text_lines:
            # A voice span runs to </v> or the end of the cue; one line may open several.
            spans = VOICE_RE.split(line)
            if spans[0].strip():
                parts.append((None, _clean(spans[0])))
            for voice, body in zip(spans[1::2], spans[2::2], strict=True):
                parts.append((" ".join(voice.split()), _clean(body)))
        cues.append((cue, parts))
    # "WEBVTT - Harbour Lights, episode 3": the header may carry the episode's title.
    title = text.split("\n", 1)[0][len("WEBVTT") :].strip(" -–—:\t") or None
    return timed_episode(name, stem, merge_turns(label_cues(cues), name, issues), title)


def _clean(text: str) -> str:
    return html.unescape(TAG_RE.sub("", text)).strip()
