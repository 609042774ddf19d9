"""Podcasting 2.0 JSON transcripts: ``{"version": …, "segments": [{"speaker", "startTime",
"endTime", "body"}]}``, whose segments are whole sentences or single words (merged here into
sentences and turns); the speaker may be absent."""

from __future__ import annotations

import json
import re

from assistant.ingestion.formats.cues import TimedText, merge_turns, timed_episode
from assistant.schema import Episode, ParseIssue

SEGMENTS_RE = re.compile(r'"segments"\s*:\s*\[')
SENTENCE_END = (".", "?", "!", "…", "。")
# Share of one-word segments above which a file is word-timed (as speech-to-text emits).
WORD_LEVEL_SHARE = 0.6


def sniff(text: str) -> bool:
    """A JSON object that mentions ``segments`` near its start."""
    return text.lstrip().startswith("{") and '"segments"' in text[:20_000]


def parse(text: str, name: str, stem: str, issues: list[ParseIssue]) -> Episode | None:
    """Turns of a Podcasting 2.0 JSON transcript; ``None`` (with a warning) for other JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        issues.append(
            ParseIssue(file=name, line=exc.lineno, message=f"invalid JSON ({exc.msg}): skipped")
        )
        return None
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        what = (
            "a chapters file, not a transcript (a feed's podcast:chapters tag applies it)"
            if isinstance(data, dict) and "chapters" in data
            else 'JSON but not a Podcasting 2.0 transcript (no "segments" list)'
        )
        issues.append(ParseIssue(file=name, line=1, message=f"{what}: skipped"))
        return None
    lines = _segment_lines(text)
    pieces: list[TimedText] = []
    for i, seg in enumerate(segments):
        line = lines[i] if i < len(lines) else 1
        body = seg.get("body") if isinstance(seg, dict) else None
        if not isinstance(body, str):
            issues.append(
                ParseIssue(file=name, line=line, message=f"segment {i} has no text body: skipped")
            )
            continue
        start, end = _time(seg.get("startTime")), _time(seg.get("endTime"))
        if start is None:
            issues.append(
                ParseIssue(
                    file=name,
                    line=line,
                    message=f"segment {i} has no startTime: kept with the time before it",
                )
            )
        elif end is not None and end < start:
            issues.append(
                ParseIssue(
                    file=name,
                    line=line,
                    message=f"segment {i} ends ({end}) before it starts ({start}): start kept",
                )
            )
            end = start
        speaker = seg.get("speaker")
        speaker = (
            " ".join(speaker.split()) if isinstance(speaker, str) and speaker.strip() else None
        )
        pieces.append(TimedText(start, body.strip(), line, speaker, end))
    if pieces and sum(len(p.text.split()) <= 1 for p in pieces) > WORD_LEVEL_SHARE * len(pieces):
        pieces = _sentences(pieces)
    return timed_episode(name, stem, merge_turns(pieces, name, issues))


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _sentences(words: list[TimedText]) -> list[TimedText]:
    """Word-timed segments joined into sentences: one piece per sentence, per speaker, timed
    by its first word (a cue per word would cost more than it tells)."""
    out: list[TimedText] = []
    open_sentence = False
    for word in words:
        if not word.text:
            continue
        same = out and open_sentence and word.speaker in (None, out[-1].speaker)
        if same:
            out[-1].text += " " + word.text
            out[-1].end = word.end if word.end is not None else out[-1].end
        else:
            out.append(TimedText(word.start, word.text, word.line, word.speaker, word.end))
        open_sentence = not word.text.endswith(SENTENCE_END)
    return out


def _segment_lines(text: str) -> list[int]:
    """The line each element of the ``segments`` array starts on (``json`` gives none)."""
    m = SEGMENTS_RE.search(text)
    if not m:
        return []
    decoder = json.JSONDecoder()
    out: list[int] = []
    pos, line, counted = m.end(), 1, 0
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] == "]":
                return out
            line += text.count("\n", counted, pos)
            counted = pos
            out.append(line)
            _, pos = decoder.raw_decode(text, pos)
    except ValueError:
        return out
