"""A synthesizer that replies from a script: the test double of a model, in-process.

Tests of the answer pipeline use it the way ``simonw/llm`` tests use its mock model: enqueue
replies whose ``[n]`` markers point at the evidence passages (numbered from 1, best first),
ask, and check what the user sees. ``"NO_ANSWER"`` declines; a ``SynthesisError`` in the
script fails the call. Every evidence it was given is kept in ``seen``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from assistant.answering.citations import cite_markers
from assistant.answering.synthesizers.base import Draft, Evidence, SynthesisError
from assistant.schema import Turn, Usage

DECLINE = "NO_ANSWER"


class ScriptedSynthesizer:
    """Replies with the queued texts in order (the last one again once the queue is empty)."""

    def __init__(self, replies: Iterable[str | SynthesisError] = (), name: str = "scripted"):
        self.name = name
        self.replies: deque[str | SynthesisError] = deque(replies)
        self.condensed: deque[str] = deque()
        self.seen: list[Evidence] = []
        self._last: str | SynthesisError = DECLINE

    def reply(self, *texts: str | SynthesisError) -> ScriptedSynthesizer:
        """Queue replies; returns itself so a test can write ``ScriptedSynthesizer().reply(…)``."""
        self.replies.extend(texts)
        return self

    def condense(self, question: str, history: list[Turn]) -> tuple[str | None, Usage]:
        """The next queued standalone question, if any (else the offline method)."""
        return (self.condensed.popleft() if self.condensed else None), Usage()

    def synthesize(self, evidence: Evidence) -> Iterator[str | Draft]:
        """The next reply, its markers turned into citations of the evidence passages."""
        self.seen.append(evidence)
        if self.replies:
            self._last = self.replies.popleft()
        reply = self._last
        if isinstance(reply, SynthesisError):
            raise reply
        if reply.strip() == DECLINE:
            yield Draft(text="", declined=True)
            return
        passages = {n: (hit, hit.text) for n, hit in enumerate(evidence.hits, start=1)}
        text, citations, unsupported = cite_markers(reply, passages)
        yield text
        yield Draft(text=text, citations=citations, unsupported_sentences=unsupported)
