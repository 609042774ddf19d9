"""The transcript formats of podcast hosts and transcription tools, one module each, and
the detection that picks one from a file's extension and content.

WebVTT, SRT, Podcasting 2.0 JSON and HTML are told by extension first and content second
(a ``.txt`` holding WebVTT is still WebVTT); plain-text exports with time-and-speaker lines
only by content, after the shipped formats of ``transcripts.py`` had their chance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from assistant.ingestion.formats import podcast_html, podcast_json, srt, text_export, webvtt
from assistant.schema import Episode, ParseIssue

Parser = Callable[[str, str, str, list[ParseIssue]], Episode | None]


@dataclass(frozen=True)
class Format:
    """A transcript format: its name, the extensions that announce it, how to spot and read it."""

    name: str
    extensions: tuple[str, ...]
    sniff: Callable[[str], bool]
    parse: Parser


FORMATS = (
    Format("webvtt", (".vtt", ".webvtt"), webvtt.sniff, webvtt.parse),
    Format("srt", (".srt",), srt.sniff, srt.parse),
    Format("podcast-json", (".json",), podcast_json.sniff, podcast_json.parse),
    Format("podcast-html", (".html", ".htm"), podcast_html.sniff, podcast_html.parse),
)


def detect(name: str, text: str) -> Format | None:
    """The timed format of a file: by content (which never lies), then by extension."""
    for fmt in FORMATS:
        if fmt.sniff(text):
            return fmt
    suffix = PurePosixPath(name).suffix.lower()
    return next((f for f in FORMATS if suffix in f.extensions), None)


__all__ = ["FORMATS", "Format", "detect", "text_export"]
