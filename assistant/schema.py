"""Typed objects that cross module boundaries: episodes, segments, hits, citations, answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["transcript", "article", "text"]


def format_timestamp(seconds: int | None) -> str | None:
    """Render seconds as ``MM:SS`` or ``H:MM:SS`` (``None`` stays ``None``)."""
    if seconds is None:
        return None
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


# No episode runs 100 hours: a larger time is a typo, never shown as exact.
MAX_TIMESTAMP_SECONDS = 100 * 3600


def parse_timestamp(text: str) -> int:
    """Parse ``MM:SS``, ``H:MM:SS`` or ``HH:MM:SS`` into seconds; ``ValueError`` when malformed."""
    parts = text.strip().split(":")
    # isascii: int() refuses some of what str.isdigit() accepts ("²"); the length keeps a
    # 5,000-digit field from reaching int() at all.
    if len(parts) not in (2, 3) or not all(
        p.isascii() and p.isdigit() and len(p) <= 6 for p in parts
    ):
        raise ValueError(f"not a timestamp: {text!r}")
    numbers = [int(p) for p in parts]
    if any(n >= 60 for n in numbers[1:]):
        raise ValueError(f"minutes and seconds must be below 60: {text!r}")
    if len(numbers) == 2:
        seconds = numbers[0] * 60 + numbers[1]
    else:
        seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    if seconds > MAX_TIMESTAMP_SECONDS:
        raise ValueError(f"beyond {MAX_TIMESTAMP_SECONDS // 3600} hours: {text!r}")
    return seconds


class Cue(BaseModel):
    """Where a timed cue starts inside its turn's text, and the time the source gives it.

    A caption file times every cue; a turn joins a speaker's consecutive cues, and a quote
    from inside it must get its own cue's time, not the turn's first one.
    """

    offset: int  # character offset in ``Segment.text``
    seconds: int


class Segment(BaseModel):
    """One speaker turn (or one article paragraph) with where it sits in its episode."""

    text: str
    speaker: str | None = None
    chapter: str | None = None
    seconds: int | None = None
    # True when the source stamps this very turn; False when ``seconds`` is its chapter's start.
    exact_time: bool = False
    language: str = "en"
    kind: Kind = "transcript"
    line_start: int
    line_end: int
    # Cues after the first, for sources that time them (WebVTT, SRT, Podcasting 2.0 JSON…).
    cues: list[Cue] = Field(default_factory=list)

    def seconds_at(self, offset: int) -> int | None:
        """The time of the cue that holds character ``offset`` (the turn's time if untimed)."""
        seconds = self.seconds
        for cue in self.cues:
            if cue.offset > offset:
                break
            seconds = cue.seconds
        return seconds


class Chapter(BaseModel):
    """A chapter heading and the time it starts at (``None`` for articles)."""

    title: str
    seconds: int | None = None
    line: int | None = None


class Episode(BaseModel):
    """A parsed corpus file."""

    id: str
    number: str | None = None  # "EP 81"
    label: str  # what a citation shows: "EP 81", or "Latent Space · Noam Brown"
    title: str
    kind: Kind
    language: str = "en"
    source_file: str
    url: str | None = None
    date: str | None = None
    show: str | None = None  # the podcast's title, from a feed
    speakers: list[str] = Field(default_factory=list)
    chapters: list[Chapter] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)


class ParseIssue(BaseModel):
    """A warning or error about one place in a corpus file."""

    file: str
    line: int | None = None
    message: str
    level: Literal["warning", "error"] = "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{self.level}: {where}: {self.message}"


class TurnStart(BaseModel):
    """Where a speaker turn starts inside a passage's text (and where a later cue of the same
    turn starts, so a quoted sentence gets the time of its own cue)."""

    offset: int  # character offset in ``Hit.text``
    speaker: str | None = None
    seconds: int | None = None
    exact: bool = False  # the source stamps this very turn (not its chapter's start)


class TimeEstimate(BaseModel):
    """Where a sentence is likely said, from its word position, where only chapters are timed."""

    offset: int  # character offset in ``Hit.text``
    seconds: int


class Hit(BaseModel):
    """A retrieved passage with everything a citation needs."""

    id: str
    episode: str
    episode_title: str
    chapter: str | None = None
    timestamp: str | None = None
    seconds: int | None = None
    end_seconds: int | None = None
    exact_time: bool = False
    speaker: str | None = None  # who says most of the passage
    speakers: list[str] = Field(default_factory=list)  # everyone who speaks in it
    text: str
    source_file: str
    kind: Kind = "transcript"
    language: str = "en"
    url: str | None = None
    score: float = 0.0  # fused rank score: orders hits, means nothing across queries
    relevance: float = 0.0  # cosine similarity of passage and question
    # Where each speaker turn starts inside ``text``, to attribute quoted sentences.
    turns: list[TurnStart] = Field(default_factory=list, exclude=True, repr=False)
    # Estimated times of its sentences where only chapters are timed.
    estimates: list[TimeEstimate] = Field(default_factory=list, exclude=True, repr=False)

    def turn_at(self, offset: int) -> TurnStart:
        """The turn that holds character ``offset`` (the passage's own speaker and time
        before its first recorded turn)."""
        current = TurnStart(offset=0, speaker=self.speaker, seconds=self.seconds)
        for turn in self.turns:
            if turn.offset > offset:
                break
            current = turn
        return current

    def estimate_at(self, offset: int) -> int | None:
        """The estimated time of the sentence that holds character ``offset`` (``None`` where
        the passage has exact times or no estimate)."""
        found = None
        for estimate in self.estimates:
            if estimate.offset > offset:
                break
            found = estimate.seconds
        return found


class Citation(BaseModel):
    """What an ``[n]`` marker in an answer points at; built from index metadata, never by a model."""

    n: int
    episode: str
    episode_title: str
    chapter: str | None = None
    timestamp: str | None = None
    seconds: int | None = None
    speaker: str | None = None
    quote: str
    source_file: str
    kind: Kind = "transcript"
    url: str | None = None
    passage_id: str
    # Where in its chapter the quote is likely said, from its word position, when the
    # transcript stamps chapters only; ``timestamp`` stays the chapter's exact start.
    estimated_seconds: int | None = None

    @property
    def estimate(self) -> str | None:
        """The estimated time as shown: ``≈05:12`` (``None`` when there is none)."""
        stamp = format_timestamp(self.estimated_seconds)
        return f"≈{stamp}" if stamp else None

    @property
    def when(self) -> str | None:
        """The time as a listener reads it: ``04:34``, or ``04:34 (≈05:12)`` with an estimate."""
        if self.timestamp and self.estimate:
            return f"{self.timestamp} ({self.estimate})"
        return self.timestamp

    def heading(self) -> str:
        """One line a listener can check: ``EP 81 · chapter · 04:34 (≈05:12) · speaker``."""
        parts = [self.episode + (" (article)" if self.kind == "article" else "")]
        parts += [p for p in (self.chapter, self.when, self.speaker) if p]
        return " · ".join(parts)


class Turn(BaseModel):
    """One exchange of a conversation, kept so follow-ups can be understood."""

    question: str
    answer: str
    # What the question turned into once resolved against earlier turns.
    standalone: str | None = None
    episodes: list[str] = Field(default_factory=list)
    speakers: list[str] = Field(default_factory=list)


class Usage(BaseModel):
    """Cost and latency of the model calls behind one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token: float | None = None
    total_time: float = 0.0
    calls: int = 0


class Answer(BaseModel):
    """A short answer whose ``[n]`` markers map one-to-one onto ``citations``."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    see_also: list[Citation] = Field(default_factory=list)
    answerer: str = "offline"
    notice: str | None = None
    standalone_question: str | None = None
    unsupported_sentences: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    history: list[Turn] = Field(default_factory=list)
    passages: list[Hit] = Field(default_factory=list)
    # A short hash of the settings that produced it (Settings.answer_key), as an index
    # manifest records what it was built with: two answers with the same key came from
    # the same configuration.
    settings_key: str = ""
