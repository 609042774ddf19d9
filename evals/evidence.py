"""The evidence a claim is checked against: a cited passage, its sentences, who says each."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from assistant.schema import Answer, Citation, Hit, format_timestamp
from evals.claims import claim_sentences, content_term, words_of


@dataclass
class Sentence:
    """One sentence of a cited passage and the speaker who says it."""

    text: str
    speaker: str | None
    tokens: list[str]
    terms: list[str | None]

    @property
    def termset(self) -> set[str]:
        """The sentence's content terms."""
        return {t for t in self.terms if t}


@dataclass
class Evidence:
    """A cited passage: its text, where it is, and who speaks where inside it."""

    id: str
    text: str
    labels: str  # episode, title, chapter, timestamp, speakers: what a claim may say about it
    turns: list[tuple[int, str | None]] = field(default_factory=list)
    default_speaker: str | None = None
    # The passage in the judge's embedding space, for claims not in English (made on demand).
    vector: np.ndarray | None = None
    _sentences: list[Sentence] | None = field(default=None, repr=False)

    @classmethod
    def from_hit(cls, hit: Hit) -> Evidence:
        """Evidence from a retrieved passage (``turns`` locate each speaker's words)."""
        turns = [(t.offset, t.speaker) for t in hit.turns]
        labels = [hit.episode, hit.episode_title, hit.chapter, hit.timestamp, hit.speaker]
        labels += [s for _, s in turns]
        # An answer may say where in the chapter a quote likely is ("04:34 (≈05:47)").
        labels += [f"≈{format_timestamp(e.seconds)}" for e in hit.estimates]
        if hit.kind == "article":
            labels.append("article")
        return cls(
            id=hit.id,
            text=hit.text,
            labels=" · ".join(x for x in labels if x),
            turns=turns,
            default_speaker=hit.speaker if hit.kind == "transcript" else None,
        )

    @classmethod
    def from_citation(cls, citation: Citation) -> Evidence:
        """Evidence from a citation alone, when its passage is not at hand."""
        labels = [citation.episode, citation.episode_title, citation.chapter]
        labels += [citation.when, citation.speaker]
        return cls(
            id=citation.passage_id,
            text=citation.quote,
            labels=" · ".join(x for x in labels if x),
            default_speaker=citation.speaker,
        )

    def speaker_at(self, offset: int) -> str | None:
        """Who says the words at character ``offset``."""
        speaker = self.default_speaker
        for start, name in self.turns:
            if start > offset:
                break
            speaker = name
        return speaker

    def sentences(self) -> list[Sentence]:
        """The passage's sentences with their speakers (computed once)."""
        if self._sentences is None:
            self._sentences = self._split()
        return self._sentences

    def _split(self) -> list[Sentence]:
        out = []
        for line_match in re.finditer(r"[^\n]+", self.text):
            line = line_match.group(0)
            for a, b in claim_sentences(line):
                text = line[a:b].strip()
                tokens = words_of(text)
                out.append(
                    Sentence(
                        text=text,
                        speaker=self.speaker_at(line_match.start() + a),
                        tokens=tokens,
                        terms=[content_term(t) for t in tokens],
                    )
                )
        return out


def evidence_from(answer: Answer, extra: Iterable[Hit] = ()) -> dict[str, Evidence]:
    """Evidence for every passage an answer could cite: its retrieved passages and ``extra``."""
    out = {hit.id: Evidence.from_hit(hit) for hit in [*answer.passages, *extra]}
    for citation in answer.citations:
        out.setdefault(citation.passage_id, Evidence.from_citation(citation))
    return out
