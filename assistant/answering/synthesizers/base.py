"""The synthesizer seam: what turns a read question and its evidence into answer text with
``[n]`` markers. A synthesizer never retrieves and never sees ``Assistant``: the pipeline
hands it everything it may use."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, Field

from assistant.answering.question import Query
from assistant.errors import SynthesisError as SynthesisError  # its home before errors.py
from assistant.schema import Citation, Hit, Turn, Usage

NOTICE = "LLM unavailable: showing quoted passages"


@dataclass
class Evidence:
    """What a synthesizer may answer from: the read question, the retrieved passages (best
    first, numbered from 1 in this order), the conversation so far, and how strongly the
    passages cover the question."""

    query: Query
    hits: list[Hit]
    history: list[Turn] = field(default_factory=list)
    # Narrowed to these speakers: a quote from someone else's turn is not an answer.
    speakers: tuple[str, ...] = ()
    # Each sentence's closeness to the question in a space aligned across languages, for a
    # question whose own words cannot be looked for in the passages (None: not given).
    similarity: Callable[[list[str]], Sequence[float] | None] | None = None


class Draft(BaseModel):
    """A synthesizer's answer: text whose ``[n]`` markers map one-to-one onto ``citations``."""

    text: str
    citations: list[Citation] = Field(default_factory=list)
    # The synthesizer read the passages and found no answer in them.
    declined: bool = False
    unsupported_sentences: list[str] = Field(default_factory=list)
    # The passages as the synthesizer saw them (a model may get trimmed ones); None: all.
    passages: list[Hit] | None = None
    notice: str | None = None
    usage: Usage = Field(default_factory=Usage)


class Synthesizer(Protocol):
    """Writes answers. ``synthesize`` yields text as it is ready, then one ``Draft``."""

    name: str

    def condense(self, question: str, history: list[Turn]) -> tuple[str | None, Usage]:
        """A follow-up rewritten as a standalone question, or ``None`` to use the offline
        method; raises ``SynthesisError`` when the synthesizer cannot be reached at all."""
        ...

    def synthesize(self, evidence: Evidence) -> Iterator[str | Draft]:
        """Yield pieces of answer text, then the ``Draft``; ``SynthesisError`` on failure."""
        ...
