"""The shipped text formats, each parsed into an ``Episode``: headed transcripts, stamped
turns (with a chapter list from another cut), articles and plain text. ``transcripts``
recognises which one a file is in; see its docstring for the order.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

from assistant.schema import (
    Chapter,
    Episode,
    Kind,
    ParseIssue,
    Segment,
    format_timestamp,
    parse_timestamp,
)
from assistant.text import detect_language

HEADER_RE = re.compile(r"^EP\s*(\d+)\s*$", re.IGNORECASE)
ARTICLE_TITLE_RE = re.compile(r"^EP\s*(\d+)\s*[:\-–—]\s*(.+)$", re.IGNORECASE)
TIME_AT_END_RE = re.compile(r"^(?P<title>.*\S)\s+(?P<time>\d{1,2}(?::\d{1,2}){1,2})$")
STAMPED_TURN_RE = re.compile(
    r"^\*\*(?P<speaker>[^*\[\]]{1,60}?)\s*\[(?P<time>[\d:]+)\]\*\*\s*:?\s*(?P<text>.*)$"
)
CHAPTER_LIST_TITLE = r"(타임스탬프|timestamps?|chapters?|목차)"
CHAPTER_LIST_HEADING_RE = re.compile(rf"^#{{1,6}}\s*{CHAPTER_LIST_TITLE}\s*$", re.IGNORECASE)
CHAPTER_LIST_TITLE_RE = re.compile(rf"^{CHAPTER_LIST_TITLE}$", re.IGNORECASE)
MD_HEADING_RE = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*$")
MD_HEADING_PREFIX_RE = re.compile(r"#{1,6}\s+")
NUMBERED_HEADING_RE = re.compile(r"^\d{1,2}\.\s+(?P<title>[A-Z\uac00-\ud7a3].{2,120})$")
# One capital, then letters, apostrophes and hyphens; a lower-case letter is checked apart
# (``_is_name_token``): two overlapping stars around it backtracked quadratically on a long
# capitalised word that is not a name.
NAME_TOKEN_RE = re.compile(r"[A-Z][A-Za-z'’\-]*")
LOWER_RE = re.compile(r"[a-z]")
MAX_NAME_TOKEN_CHARS = 40
MAX_NUMBER_DIGITS = 9  # an episode number; 5,000 digits would not even convert to an int
SENTENCE_END = (".", "?", "!", "…", '"', "”", "’", ":", ")")

MAX_CHAPTER_HEADING_CHARS = 160
MIN_SPEAKER_TURNS = 3


def md_heading(line: str) -> str | None:
    """The title of a Markdown heading line (``## Title ##``), or ``None``.

    What ``MD_HEADING_RE`` matches, by stripping instead of a lazy group before ``\\s*#*$``:
    that retried the tail at every character, quadratic in a long run of spaces.
    """
    prefix = MD_HEADING_PREFIX_RE.match(line)
    if prefix is None:
        return None
    title = line[prefix.end() :].rstrip("#").rstrip()
    if title:
        return title
    m = MD_HEADING_RE.match(line)  # only hashes after the prefix: short work either way
    return m.group("title") if m else None


def first_line(lines: list[str]) -> str | None:
    """The first non-blank line, stripped."""
    return next((ln.strip() for ln in lines if ln.strip()), None)


# --- headed transcripts --------------------------------------------------------------------


def discover_speakers(lines: list[str]) -> list[str]:
    """Names that open many lines and are followed by the start of a sentence.

    A speaker is 1–3 capitalised words without punctuation, seen at the start of at least
    ``MIN_SPEAKER_TURNS`` lines, most often followed by a capital letter, digit or quote:
    ``Seonghyun Kim So rather…`` counts, ``Of course, …`` and ``Claude Code is…`` do not.
    Multi-word names are preferred, so a single word must open lines on its own.
    """
    counts: Counter[str] = Counter()
    sentence_starts: Counter[str] = Counter()
    for raw in lines:
        words = raw.strip().split(" ")
        for size in (1, 2, 3):
            if len(words) <= size or not all(_is_name_token(w) for w in words[:size]):
                break
            name = " ".join(words[:size])
            counts[name] += 1
            nxt = words[size][:1]
            if nxt and (nxt.isupper() or nxt.isdigit() or nxt in "\"“‘'("):
                sentence_starts[name] += 1
    speakers = []
    for name, n in counts.items():
        if n < MIN_SPEAKER_TURNS or sentence_starts[name] < 0.8 * n:
            continue
        if len(name.split()) == 1:
            # "Chester" opening 58 lines is only the first half of "Chester Roh".
            continue
        longer = [o for o in counts if o.startswith(name + " ") and counts[o] >= 0.8 * n]
        if longer:
            continue
        speakers.append(name)
    return sorted(speakers, key=lambda s: -counts[s])


def _is_name_token(word: str) -> bool:
    """A capitalised word of letters (at least one lower-case), apostrophes and hyphens."""
    return (
        len(word) <= MAX_NAME_TOKEN_CHARS
        and NAME_TOKEN_RE.fullmatch(word) is not None
        and LOWER_RE.search(word, 1) is not None
    )


def _episode_number(digits: str, name: str, line: int, issues: list[ParseIssue]) -> str | None:
    """``EP NN`` from the digits of a header; ``None`` (with a warning) when absurdly long."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > MAX_NUMBER_DIGITS:
        issues.append(
            ParseIssue(
                file=name,
                line=line,
                message=f"episode number of {len(digits)} digits ignored",
            )
        )
        return None
    return f"EP {int(digits)}"


def parse_headed(lines: list[str], name: str, stem: str, issues: list[ParseIssue]) -> Episode:
    """``EP NN``, a title, chapter headings ending in a time, speaker turns."""
    body = [(i + 1, ln.strip()) for i, ln in enumerate(lines)]
    body = [(no, ln) for no, ln in body if ln]
    number_match = HEADER_RE.match(body[0][1])
    number = (
        _episode_number(number_match.group(1), name, body[0][0], issues) if number_match else None
    )
    title = body[1][1] if len(body) > 1 else stem
    content = body[2:]
    speakers = discover_speakers([ln for _, ln in content])
    speaker_res = [(s, re.compile(rf"^{re.escape(s)}\s+(.*)$")) for s in speakers]

    chapters: list[Chapter] = []
    segments: list[Segment] = []
    current: dict | None = None

    def flush() -> None:
        nonlocal current
        if current and current["parts"]:
            segments.append(
                Segment(
                    text=_join_wrapped(current["parts"]),
                    speaker=current["speaker"],
                    chapter=chapters[-1].title if chapters else None,
                    seconds=chapters[-1].seconds if chapters else None,
                    exact_time=False,
                    language=detect_language(" ".join(current["parts"])),
                    kind="transcript",
                    line_start=current["start"],
                    line_end=current["end"],
                )
            )
        current = None

    for line_no, line in content:
        speaker, rest = None, None
        for s, rx in speaker_res:
            m = rx.match(line)
            if m:
                speaker, rest = s, m.group(1)
                break
        if speaker is None:
            heading = _chapter_heading(line, chapters, name, line_no, issues)
            if heading is not None:
                flush()
                chapters.append(heading)
                continue
        if speaker is not None:
            flush()
            current = {"speaker": speaker, "parts": [rest], "start": line_no, "end": line_no}
        elif current is None:
            # Text before the first named turn: keep it, unattributed.
            current = {"speaker": None, "parts": [line], "start": line_no, "end": line_no}
        else:
            current["parts"].append(line)
            current["end"] = line_no
    flush()
    return Episode(
        id=stem,
        number=number,
        label=number or stem,
        title=title,
        kind="transcript",
        language=detect_language(" ".join(s.text for s in segments[:20])),
        source_file=name,
        speakers=speakers,
        chapters=chapters,
        segments=segments,
    )


def _chapter_heading(
    line: str, chapters: list[Chapter], name: str, line_no: int, issues: list[ParseIssue]
) -> Chapter | None:
    """A short line ending in a timestamp that moves forward is a chapter heading."""
    m = TIME_AT_END_RE.match(line)
    if not m or len(line) > MAX_CHAPTER_HEADING_CHARS or line.endswith((".", "?", "!")):
        return None
    title, stamp = m.group("title"), m.group("time")
    try:
        seconds = parse_timestamp(stamp)
    except ValueError as exc:
        issues.append(
            ParseIssue(file=name, line=line_no, message=f"malformed chapter timestamp: {exc}")
        )
        return None
    if chapters and chapters[-1].seconds is not None and seconds < chapters[-1].seconds:
        issues.append(
            ParseIssue(
                file=name,
                line=line_no,
                message=f"chapter time {stamp} goes back in time: kept as text, not a chapter",
            )
        )
        return None
    return Chapter(title=title.strip(), seconds=seconds, line=line_no)


def _join_wrapped(parts: list[str]) -> str:
    """Join a turn's lines: wrapped mid-sentence lines with a space, paragraphs with a newline."""
    out = parts[0]
    for prev, part in itertools.pairwise(parts):
        out += ("\n" if prev.rstrip().endswith(SENTENCE_END) else " ") + part
    return out


# --- stamped turns with a chapter list from another cut -----------------------------------


def parse_stamped(lines: list[str], name: str, stem: str, issues: list[ParseIssue]) -> Episode:
    """``**Name [hh:mm:ss]**: …`` turns, after an optional article and chapter list."""
    list_start = next(
        (i for i, ln in enumerate(lines) if CHAPTER_LIST_HEADING_RE.match(ln.strip())), None
    )
    first_turn = next(i for i, ln in enumerate(lines) if STAMPED_TURN_RE.match(ln.strip()))
    article_end = list_start if list_start is not None and list_start < first_turn else first_turn
    segments = _article_segments(lines[:article_end], 0)
    if list_start is not None and list_start < first_turn:
        segments += _chapter_list(lines, list_start, first_turn)

    turns: list[Segment] = []
    for i in range(first_turn, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        m = STAMPED_TURN_RE.match(line)
        if m:
            try:
                seconds: int | None = parse_timestamp(m.group("time"))
            except ValueError as exc:
                issues.append(
                    ParseIssue(file=name, line=i + 1, message=f"malformed turn timestamp: {exc}")
                )
                seconds = None
            turns.append(
                Segment(
                    text=m.group("text").strip(),
                    speaker=m.group("speaker").strip(),
                    seconds=seconds,
                    exact_time=seconds is not None,
                    language=detect_language(m.group("text")),
                    kind="transcript",
                    line_start=i + 1,
                    line_end=i + 1,
                )
            )
        elif md_heading(line) is not None:
            continue  # "### 녹취록" (transcript) and similar section markers
        elif turns:
            turns[-1].text += "\n" + line
            turns[-1].line_end = i + 1
    _repair_turn_times(turns, name, issues)
    speakers = [s for s, _ in Counter(t.speaker for t in turns if t.speaker).most_common()]
    return Episode(
        id=stem,
        label=stem,
        title=stem,
        kind="transcript",
        language="en" if turns else detect_language(" ".join(s.text for s in segments)),
        source_file=name,
        speakers=speakers,
        segments=segments + turns,
    )


def _chapter_list(lines: list[str], start: int, end: int) -> list[Segment]:
    """The write-up's chapter list, a line a segment, as passages of the write-up for
    outlines: it may come from another cut of the episode, so its titles are never put on
    turns."""
    rows = [(i, ln.strip()) for i, ln in enumerate(lines[start + 1 : end], start + 1)]
    listed = [(i, ln) for i, ln in rows if ln and md_heading(ln) is None]
    chapter = md_heading(lines[start].strip())
    language = detect_language(" ".join(ln for _, ln in listed))
    return [
        Segment(
            text=ln,
            chapter=chapter,
            language=language,
            kind="article",
            line_start=i + 1,
            line_end=i + 1,
        )
        for i, ln in listed
    ]


def is_chapter_list(chapter: str | None) -> bool:
    """Whether an article passage is its write-up's chapter list (``### 타임스탬프``)."""
    return bool(chapter and CHAPTER_LIST_TITLE_RE.match(chapter))


def _repair_turn_times(turns: list[Segment], name: str, issues: list[ParseIssue]) -> None:
    """Turn times out of order with their neighbours are typos: never show them as exact.

    Such a turn (``[01:11:17]`` between ``[00:11:00]`` and ``[00:12:01]``) is given the
    previous turn's time, marked inexact, so a citation points at a moment before it.
    """
    # The next known time after each turn, found from the end in one pass: a scan forward
    # from every turn was quadratic in a file whose times are all malformed.
    following: list[int | None] = [None] * len(turns)
    upcoming: int | None = None
    for i in range(len(turns) - 1, -1, -1):
        following[i] = upcoming
        if turns[i].seconds is not None:
            upcoming = turns[i].seconds
    last = 0
    for turn, nxt in zip(turns, following, strict=True):
        if turn.seconds is None:
            turn.seconds, turn.exact_time = last, False
            continue
        behind = turn.seconds < last
        ahead = nxt is not None and turn.seconds > nxt >= last
        if behind or ahead:
            stamp = turn.seconds
            issues.append(
                ParseIssue(
                    file=name,
                    line=turn.line_start,
                    message=(
                        f"turn time {format_timestamp(stamp)} is out of order with its "
                        f"neighbours: shown as {format_timestamp(last)}, not exact"
                    ),
                )
            )
            turn.seconds, turn.exact_time = last, False
        last = turn.seconds


# --- articles and plain text ---------------------------------------------------------------


def _article_segments(lines: list[str], offset: int, kind: Kind = "article") -> list[Segment]:
    """One segment per paragraph; headings become the chapter of what follows."""
    segments: list[Segment] = []
    chapter: str | None = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        line_no = offset + i + 1
        heading = md_heading(line)
        if heading is None and (numbered := NUMBERED_HEADING_RE.match(line)):
            heading = numbered.group("title")
        if (
            heading is not None
            and len(line) <= MAX_CHAPTER_HEADING_CHARS
            and not line.endswith(".")
        ):
            chapter = heading.strip()
            continue
        if segments and segments[-1].text == line:
            continue  # repeated boilerplate such as "Related writing"
        segments.append(
            Segment(
                text=line,
                chapter=chapter,
                language=detect_language(line),
                kind=kind,
                line_start=line_no,
                line_end=line_no,
            )
        )
    return segments


def parse_article(lines: list[str], name: str, stem: str, issues: list[ParseIssue]) -> Episode:
    """A title line ``EP 88: …`` and paragraphs (headings become chapters)."""
    first_idx = next(i for i, ln in enumerate(lines) if ln.strip())
    m = ARTICLE_TITLE_RE.match(lines[first_idx].strip())
    assert m is not None
    number = _episode_number(m.group(1), name, first_idx + 1, issues)
    title = re.sub(r"\s*preview image\s*$", "", m.group(2)).strip()
    segments = _article_segments(lines[first_idx + 1 :], first_idx + 1)
    return Episode(
        id=stem,
        number=number,
        label=number or stem,
        title=title,
        kind="article",
        language=detect_language(" ".join(s.text for s in segments)),
        source_file=name,
        segments=segments,
    )


def parse_plain(lines: list[str], name: str, stem: str) -> Episode:
    """Any other text: its first line as the title, paragraphs as text segments."""
    first = first_line(lines) or stem
    segments = _article_segments(lines, 0, kind="text")
    return Episode(
        id=stem,
        label=stem,
        title=first[:120],
        kind="text",
        language=detect_language(" ".join(s.text for s in segments[:50])),
        source_file=name,
        segments=segments,
    )
