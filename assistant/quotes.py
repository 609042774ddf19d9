"""The offline answerer: no model, just the most relevant sentences of the retrieved passages,
quoted with their citations and ordered so that the answer reads as an answer."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answer import (
    NOT_COVERED,
    NOT_COVERED_KO,
    Intent,
    cite,
    episodes_named,
    new_history,
    read_intent,
    see_also,
    standalone_question,
    unknown_names,
)
from .chunking import split_sentences
from .retrieval import Filters
from .schema import Answer, Citation, Hit, Turn
from .text import content_terms
from .transcripts import detect_language

if TYPE_CHECKING:
    from .api import Assistant

MAX_WORDS = 120
# Abstain when at least this share of an English question's terms never occur in the corpus.
UNKNOWN_SHARE = 0.5
MAX_SENTENCES = 4
PASSAGES = 8
FILLER = re.compile(
    r"^(yeah|yes|right|okay|ok|so|um|uh|hmm|exactly|true|sure|i see|got it)\W*$", re.I
)


@dataclass
class _Candidate:
    hit: Hit
    rank: int
    sentence: str
    score: float


class QuoteAnswerer:
    """Composes answers from quoted sentences; needs no LLM."""

    name = "offline"

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def stream(
        self, question: str, history: list[Turn], filters: Filters, notice: str | None = None
    ) -> Iterator[str | Answer]:
        """Yield the answer sentence by sentence, then the ``Answer``."""
        answer = self.answer(question, history, filters, notice=notice)
        for part in re.split(r"(?<=\])\s+", answer.text):
            yield part + " "
        yield answer

    def retrieve(
        self, question: str, history: list[Turn], filters: Filters
    ) -> tuple[str, list[Hit]]:
        """The standalone question and its passages (shared with the LLM answerer)."""
        standalone = standalone_question(question, history)
        retriever = self.assistant.retriever()
        candidates = self.assistant.settings.candidates
        # A question that names its episode ("in EP 81, …") is searched in that episode, and
        # "what did Chester say about …" among Chester's turns, unless that finds nothing.
        intent = self.intent(question, standalone)
        labels = [e.label for e in retriever.manifest.episodes]
        narrowed = Filters(
            episodes=filters.episodes or episodes_named(question, labels) or None,
            speakers=filters.speakers
            or (list(intent.speakers) if intent.speakers and not intent.who else None),
        )
        if narrowed != filters:
            hits = retriever.search(standalone, PASSAGES, narrowed, candidates=candidates)
            if hits:
                return standalone, hits
        return standalone, retriever.search(standalone, PASSAGES, filters, candidates=candidates)

    def intent(self, question: str, standalone: str) -> Intent:
        """What the question asks for; speakers named by the question it follows count too."""
        speakers = self.assistant.speakers()
        intent = read_intent(question, speakers)
        if not intent.speakers and standalone != question:
            intent.speakers = read_intent(standalone, speakers).speakers
        return intent

    def answer(
        self,
        question: str,
        history: list[Turn],
        filters: Filters,
        *,
        notice: str | None = None,
        retrieved: tuple[str, list[Hit]] | None = None,
    ) -> Answer:
        """A quoted answer, or an abstention with the closest passages as see-also."""
        started = time.perf_counter()
        standalone, hits = retrieved or self.retrieve(question, history, filters)
        intent = self.intent(question, standalone)
        covered = self.covered(hits, standalone)
        chosen = self._select(standalone, hits, intent, history, filters) if covered else []
        if not chosen:
            answer = Answer(
                question=question,
                text=NOT_COVERED_KO if intent.language == "ko" else NOT_COVERED,
                abstained=True,
                see_also=see_also(hits),
                standalone_question=standalone,
                passages=hits,
                notice=notice,
            )
        else:
            text, citations = self._compose(chosen, intent)
            answer = Answer(
                question=question,
                text=text,
                citations=citations,
                standalone_question=standalone,
                passages=hits,
                notice=notice,
            )
        answer.usage.total_time = time.perf_counter() - started
        answer.history = new_history(history, question, answer)
        return answer

    def covered(self, hits: list[Hit], question: str) -> bool:
        """Whether the passages can answer: close enough, and no name the corpus lacks."""
        if not hits:
            return False
        settings = self.assistant.settings
        english = detect_language(question) == "en"
        floor = settings.abstain_below if english else settings.abstain_below_crosslingual
        if hits[0].relevance < floor:
            return False
        retriever = self.assistant.retriever()
        if english and retriever.unknown_share(question) >= UNKNOWN_SHARE:
            return False
        return not unknown_names(question, retriever.vocabulary)

    # --- choosing sentences ----------------------------------------------------------------

    def _select(
        self,
        question: str,
        hits: list[Hit],
        intent: Intent,
        history: list[Turn],
        filters: Filters,
    ) -> list[_Candidate]:
        q_terms = set(content_terms(question))
        candidates: list[_Candidate] = []
        sentences_terms: list[set[str]] = []
        for rank, hit in enumerate(hits):
            for sentence in split_sentences(hit.text):
                words = sentence.split()
                if len(words) < 5 or FILLER.match(sentence):
                    continue
                if filters.speakers and cite(hit, sentence, 0).speaker not in filters.speakers:
                    continue  # a passage can hold other speakers' turns too
                terms = set(content_terms(sentence))
                candidates.append(_Candidate(hit, rank, sentence, 0.0))
                sentences_terms.append(terms)
        if not candidates:
            return []
        df = Counter(t for terms in sentences_terms for t in terms)
        n = len(candidates)
        previous_episodes = set(history[-1].episodes) if history else set()
        for cand, terms in zip(candidates, sentences_terms, strict=True):
            overlap = sum(math.log(1 + n / df[t]) for t in q_terms & terms)
            cand.score = overlap + 2.0 * cand.hit.relevance + 1.5 / (1 + cand.rank)
            if intent.speakers:
                speaker = cite(cand.hit, cand.sentence, 0).speaker
                cand.score += 2.5 if speaker in intent.speakers else -1.0
            if previous_episodes and cand.hit.episode in previous_episodes:
                cand.score += 0.5
            if re.search(r"\d", cand.sentence) and re.search(
                r"how (many|much)|number|몇", question, re.I
            ):
                cand.score += 1.0
            if len(cand.sentence.split()) > 60:
                cand.score -= 1.0
        # The best passage must share at least one content term, or the answer is a guess.
        ranked = sorted(candidates, key=lambda c: -c.score)
        chosen: list[_Candidate] = []
        words = 0
        seen_terms: list[set[str]] = []
        for cand in ranked:
            terms = set(content_terms(cand.sentence))
            if any(len(terms & s) / max(1, len(terms | s)) > 0.6 for s in seen_terms):
                continue  # near-duplicate (overlapping chunks repeat sentences)
            size = len(cand.sentence.split())
            if chosen and (words + size > MAX_WORDS or cand.score < 0.45 * chosen[0].score):
                continue
            chosen.append(cand)
            seen_terms.append(terms)
            words += size
            if len(chosen) >= MAX_SENTENCES or words >= MAX_WORDS:
                break
        return chosen

    # --- writing the answer ----------------------------------------------------------------

    def _compose(self, chosen: list[_Candidate], intent: Intent) -> tuple[str, list[Citation]]:
        citations: list[Citation] = []
        keys: dict[tuple, int] = {}
        # Keep the passage order within an answer: earlier in the episode reads better.
        chosen = sorted(chosen, key=lambda c: (c.rank, c.hit.text.find(c.sentence)))
        if intent.when:
            chosen = sorted(
                chosen,
                key=lambda c: (
                    c.hit.episode,
                    c.hit.seconds if c.hit.seconds is not None else 10**9,
                ),
            )
        groups: list[tuple[Citation, Hit, list[str]]] = []
        for cand in chosen:
            citation = cite(cand.hit, cand.sentence, 0)
            key = (citation.passage_id, citation.speaker, citation.seconds)
            if key in keys:
                groups[keys[key]][2].append(cand.sentence)
                continue
            keys[key] = len(groups)
            groups.append((citation, cand.hit, [cand.sentence]))
        lines = []
        for citation, hit, sentences in groups:
            for quote in _verbatim_quotes(hit.text, sentences):
                n = len(citations) + 1
                citations.append(citation.model_copy(update={"n": n, "quote": quote}))
                same_source = len(citations) > 1 and (
                    citations[-2].speaker,
                    citations[-2].episode,
                    citations[-2].timestamp,
                ) == (citation.speaker, citation.episode, citation.timestamp)
                # A second quote of the same speaker at the same moment needs no new preamble.
                lines.append(
                    f"“{quote}” [{n}]" if same_source else self._line(citation, quote, n, intent)
                )
        text = " ".join(lines)
        if intent.language != "en":
            text = "영어 원문에서 인용한 답변입니다 (quoted from the English episodes): " + text
        return text, citations

    @staticmethod
    def _line(c: Citation, quote: str, n: int, intent: Intent) -> str:
        where = c.episode + (" article" if c.kind == "article" else "")
        if c.timestamp:
            where += f" at {c.timestamp}"
        who = c.speaker or ("the article" if c.kind == "article" else None)
        if intent.when:
            chapter = f" ({c.chapter})" if c.chapter else ""
            return f"{where}{chapter}, {who or 'they'} say{'s' if who else ''}: “{quote}” [{n}]"
        if who and c.speaker:
            return f"{c.speaker} ({where}): “{quote}” [{n}]"
        return f"{where}: “{quote}” [{n}]"


def _verbatim_quotes(text: str, sentences: list[str], bridge_words: int = 25) -> list[str]:
    """Quotes cut from ``text`` itself: sentences next to each other become one quote, and
    so do two with one short sentence between them (it is quoted too); others stay apart.
    A quote is always a verbatim slice of the passage, never sentences glued over a gap."""
    spans = sorted((text.find(s), text.find(s) + len(s)) for s in sentences if s in text)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged:
            gap = text[merged[-1][1] : start].strip()
            if (
                start <= merged[-1][1]
                or not gap
                or (len(split_sentences(gap)) == 1 and len(gap.split()) <= bridge_words)
            ):
                merged[-1][1] = max(merged[-1][1], end)
                continue
        merged.append([start, end])
    return [" ".join(text[a:b].split()) for a, b in merged]
