"""What every timed format shares: cue blocks with their line numbers, cue times, inline
``Name:`` speaker labels, and the merging of timed pieces into speaker turns.

WebVTT and SRT are both blocks of an optional identifier, a ``start --> end`` line and the
cue text; ``webvtt-py`` and ``srt`` read them too, but neither says on which line a cue sits
(a warning must), ``webvtt-py`` drops a cue without a timing line without a word, ``srt``
folds text after a blank line into the cue before it, and neither flags an end before its
start or overlapping cues. Reading the blocks ourselves is shorter than working around that.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from assistant.schema import Cue, Episode, ParseIssue, Segment, format_timestamp
from assistant.text import detect_language

TIMING_RE = re.compile(r"^(?P<start>\S+)\s+-->\s+(?P<end>\S+)(?P<settings>.*)$")
CUE_TIME_RE = re.compile(
    r"^(?:(?P<h>\d{1,3}):)?(?P<m>\d{1,2}):(?P<s>\d{2})(?:[.,](?P<ms>\d{1,3}))?$"
)
# 1–4 capitalised words (or a Hangul name, or "Speaker 2") then a colon: "Ann Lee: …".
LABEL_RE = re.compile(
    r"^(?P<name>(?:[A-Z][\w'’.\-]*|[\uac00-\ud7a3]{2,5})(?:\s(?:[A-Z][\w'’.\-]*|[\uac00-\ud7a3]{2,5}|\d{1,2})){0,3})"
    r"\s*:\s+(?P<rest>\S.*)$"
)
# One word before a colon that opens a sentence, not a turn ("Note: …", "Update: …").
NOT_NAMES = frozenset(
    (  # noqa: SIM905  (forty one-word strings read better as one)
        "note notes update warning tip hint answer question example step summary yes no so "
        "well okay ok now first second third finally also and but then here there this that "
        "why what how who when where because remember important edit source quote title "
        "chapter"
    ).split()
)


@dataclass
class Block:
    """The non-blank lines between blank lines, with the number of the first one."""

    line: int
    lines: list[str]


@dataclass
class TimedText:
    """One timed piece of text as the file gives it, before pieces are merged into turns."""

    start: float | None
    text: str
    line: int
    speaker: str | None = None
    end: float | None = None


@dataclass
class Labels:
    """Which inline ``Name:`` labels of a file are speakers (decided over the whole file)."""

    accepted: set[str] = field(default_factory=set)

    def split(self, text: str) -> tuple[str | None, str]:
        """``(speaker, rest)`` when ``text`` opens with an accepted label, else ``(None, text)``."""
        m = LABEL_RE.match(text)
        if m and m.group("name") in self.accepted:
            return m.group("name"), m.group("rest")
        return None, text


def find_labels(texts: list[str], voices: set[str] | None = None) -> Labels:
    """Accept a ``Name:`` label that opens two or more cues, is a full name (two words or
    more) or is a voice the file names elsewhere; a lone ``Note:`` or ``So:`` is text."""
    counts = Counter(m.group("name") for t in texts if (m := LABEL_RE.match(t)))
    accepted = set()
    for name, n in counts.items():
        words = name.split()
        if len(words) == 1 and name.lower() in NOT_NAMES:
            continue
        if n >= 2 or len(words) >= 2 or name in (voices or set()):
            accepted.add(name)
    return Labels(accepted)


def label_cues(cues: list[tuple[RawCue, list[tuple[str | None, str]]]]) -> list[TimedText]:
    """Pieces of text for cues whose lines are ``(voice or None, text)``: a line with a voice
    or an accepted ``Name:`` label starts a piece of its own, other lines join the piece
    before them within the cue."""
    voices = {v for _, parts in cues for v, _ in parts if v}
    labels = find_labels([t for _, parts in cues for v, t in parts if v is None], voices)
    pieces: list[TimedText] = []
    for cue, parts in cues:
        first = len(pieces)
        for voice, line in parts:
            speaker, body = (voice, line) if voice else labels.split(line)
            if speaker is None and len(pieces) > first:
                pieces[-1].text += " " + body
                continue
            pieces.append(TimedText(cue.start, body, cue.line, speaker, cue.end))
    return pieces


def blocks(lines: list[str], first_line: int = 1) -> list[Block]:
    """Split lines at blank (or whitespace-only) lines, keeping each block's line number."""
    out: list[Block] = []
    current: Block | None = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            current = None
            continue
        if current is None:
            current = Block(first_line + i, [])
            out.append(current)
        current.lines.append(line)
    return out


def parse_cue_time(text: str) -> float:
    """``HH:MM:SS.mmm``, ``MM:SS.mmm`` or SRT's ``HH:MM:SS,mmm`` in seconds; ``ValueError``."""
    m = CUE_TIME_RE.match(text.strip())
    if not m or (int(m.group("m")) >= 60 and m.group("h") is not None) or int(m.group("s")) >= 60:
        raise ValueError(f"not a cue time: {text!r}")
    ms = (m.group("ms") or "0").ljust(3, "0")
    return (
        int(m.group("h") or 0) * 3600 + int(m.group("m")) * 60 + int(m.group("s")) + int(ms) / 1000
    )


@dataclass
class RawCue:
    """A cue block split into its timing and its text lines."""

    line: int  # of the timing line
    start: float
    end: float
    text_lines: list[str]


def read_cues(
    block_list: list[Block], name: str, issues: list[ParseIssue], *, skip: tuple[str, ...] = ()
) -> list[RawCue]:
    """The cues of WebVTT or SRT blocks. Blocks opening with a word of ``skip`` (``NOTE``,
    ``STYLE``…) are skipped. A block may hold several cues when a file lost its blank lines;
    text with no timing line before it is kept with the cue before it, and reported."""
    cues: list[RawCue] = []
    for block in block_list:
        if block.lines[0].split(" ", 1)[0] in skip:
            continue
        orphan_at: int | None = None
        orphan_time = 0.0
        timed = False  # a timing line came before in this block: what follows is its text
        for j, line in enumerate(block.lines):
            m = TIMING_RE.match(line) if "-->" in line else None
            if m is None:
                nxt = block.lines[j + 1] if j + 1 < len(block.lines) else ""
                if "-->" in nxt:
                    continue  # a cue identifier (SRT's number, WebVTT's name)
                if timed:
                    cues[-1].text_lines.append(line)
                elif cues:
                    cues[-1].text_lines.append(line)
                    if orphan_at is None:
                        orphan_at, orphan_time = block.line + j, cues[-1].start
                else:
                    issues.append(
                        ParseIssue(
                            file=name,
                            line=block.line + j,
                            message="text before the first cue timing line: skipped",
                        )
                    )
                    break
                continue
            try:
                start, end = parse_cue_time(m.group("start")), parse_cue_time(m.group("end"))
            except ValueError as exc:
                issues.append(
                    ParseIssue(
                        file=name,
                        line=block.line + j,
                        message=f"malformed cue timing ({exc}): its text is kept with the cue before it",
                    )
                )
                if not cues:
                    break
                timed = True
                continue
            line_no = block.line + j
            if end < start:
                issues.append(
                    ParseIssue(
                        file=name,
                        line=line_no,
                        message=f"cue ends ({m.group('end')}) before it starts "
                        f"({m.group('start')}): its start time is kept",
                    )
                )
                end = start
            cues.append(RawCue(line_no, start, end, []))
            timed = True
        if orphan_at is not None:
            issues.append(
                ParseIssue(
                    file=name,
                    line=orphan_at,
                    message="cue text without a timing line: kept with the cue before it "
                    f"(at {format_timestamp(int(orphan_time))})",
                )
            )
    return cues


def merge_turns(pieces: list[TimedText], name: str, issues: list[ParseIssue]) -> list[Segment]:
    """Consecutive pieces of one speaker become one turn timed by its first piece; every
    later piece is a ``Cue`` of that turn with its own start. A piece with no speaker
    continues the current one (captions name a speaker when the speaker changes)."""
    turns: list[Segment] = []
    speaker: str | None = None
    last_start: float | None = None
    last_end = 0.0
    for piece in pieces:
        text = " ".join(piece.text.split())
        if not text:
            continue
        start = piece.start
        moved = start is not None and last_start is not None and start < last_start
        if moved:
            issues.append(
                ParseIssue(
                    file=name,
                    line=piece.line,
                    message=f"cue at {_clock(start)} starts before the one before it "
                    f"({_clock(last_start)}): shown at {format_timestamp(int(last_start))}",
                )
            )
            start = last_start
        elif start is not None and last_start is not None and last_start < start < last_end:
            issues.append(
                ParseIssue(
                    file=name,
                    line=piece.line,
                    message=f"cue at {_clock(start)} overlaps the one before it (which ends "
                    f"at {_clock(last_end)}): both kept, each with its own start",
                )
            )
        new_speaker = piece.speaker is not None and piece.speaker != speaker
        speaker = piece.speaker or speaker
        seconds = int(start) if start is not None else None
        if not turns or new_speaker:
            # An untimed turn is shown at the time before it, never as exact.
            fallback = int(last_start) if last_start is not None else None
            turns.append(
                Segment(
                    text=text,
                    speaker=speaker,
                    seconds=seconds if seconds is not None else fallback,
                    exact_time=seconds is not None and not moved,
                    kind="transcript",
                    line_start=piece.line,
                    line_end=piece.line,
                )
            )
        else:
            turn = turns[-1]
            if seconds is not None and seconds != (
                turn.cues[-1].seconds if turn.cues else turn.seconds
            ):
                turn.cues.append(Cue(offset=len(turn.text) + 1, seconds=seconds))
            turn.text += " " + text
            turn.line_end = piece.line
        if start is not None:
            last_start = start
            last_end = max(piece.end if piece.end is not None else start, last_end)
    for turn in turns:
        turn.language = detect_language(turn.text)
    return turns


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{format_timestamp(whole)}.{round((seconds - whole) * 1000):03d}"


def timed_episode(name: str, stem: str, turns: list[Segment], title: str | None = None) -> Episode:
    """An episode of timed turns: speakers by how often they speak, language by the text."""
    speakers = [s for s, _ in Counter(t.speaker for t in turns if t.speaker).most_common()]
    return Episode(
        id=stem,
        label=stem,
        title=title or stem,
        kind="transcript",
        language=detect_language(" ".join(t.text for t in turns[:50])),
        source_file=name,
        speakers=speakers,
        segments=turns,
    )
