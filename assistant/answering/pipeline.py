"""The one answer path every synthesizer shares: read the question once, condense a
follow-up, retrieve once (narrowed to what the question names), decide coverage, synthesize,
check the citations, and wrap it all in an ``Answer``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache, partial
from typing import TYPE_CHECKING

from assistant.answering.citations import renumber, see_also
from assistant.answering.coverage import Coverage, assess, names, passage_terms
from assistant.answering.korean_words import (
    english_senses_said,
    english_spellings,
    korean_for,
)
from assistant.answering.question import (
    GREETING_RE,
    HANGUL_RE,
    THANKS_RE,
    Query,
    read_question,
)
from assistant.answering.spelling import notice as spelling_notice
from assistant.answering.spelling import respelled, respellings
from assistant.answering.synthesizers.base import (
    NOTICE,
    Draft,
    Evidence,
    SynthesisError,
    Synthesizer,
)
from assistant.answering.synthesizers.quotes import QuoteSynthesizer, pieces
from assistant.retrieval.search import Filters
from assistant.schema import Answer, Citation, Hit, Turn, Usage, format_timestamp
from assistant.text import content_terms, stem

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.retrieval.search import Retriever

log = logging.getLogger(__name__)

# How much the best answer sentence of a passage counts against its fused rank when choosing
# rank 1 (see AnswerPipeline._promote): weights 2 and 3 gave the same hit@1 on the dev split,
# 5 lost two questions.
PROMOTE_WEIGHT = 3.0
# Episodes outlined for a summary, or searched one by one for a comparison.
MAX_OUTLINED = 4
# Kinds whose passages come in an order of their own, not by relevance.
LISTED_KINDS = ("summary", "comparison", "person", "moment", "catalog", "length")
# Episodes a "which episodes do you have?" answer lists.
MAX_CATALOG = 30
# (episode, person) pairs a "who is" answer introduces: four episodes of three speakers.
MAX_INTRODUCTIONS = 12
# Passages searched for a comparison, shared out among the episodes compared.
COMPARISON_POOL = 16
# Quoted phrases searched on their own, at most (each is one more search).
MAX_QUOTED = 2
# How rare in the corpus (inverse document frequency) the English a Korean question's
# borrowed word spells must be to pick its answer sentence (see AnswerPipeline._english).
RARE_SPELLING = 3.0
# How rare a word quoted alone must be to be searched on its own (see _rare_words).
RARE_QUOTE = 5.0
NOT_COVERED = "The episodes don't seem to cover that."
NOT_COVERED_KO = (
    "에피소드에서 그 내용을 다루지 않는 것 같습니다. (The episodes don't seem to cover that.)"
)
# Episodes a message that asks nothing is told about, by label, at most.
MAX_GUIDE_LABELS = 4
WHICH_EPISODE = (
    "Which episode do you mean? Name it with the moment, for example “What are they "
    "talking about at 30:00 in EP 88?”."
)
WHICH_EPISODE_KO = (
    "어느 에피소드인지 함께 알려 주세요. 예: “EP 88 30분쯤에 무슨 이야기를 하나요?” "
    "(Which episode do you mean?)"
)
DECLINED_NOTICE = "The model could not answer from these passages; quoted instead"


class AnswerPipeline:
    """Question in, ``Answer`` out, whichever synthesizer writes the text."""

    def __init__(
        self,
        settings: Settings,
        retriever: Callable[[], Retriever],
        synthesizer: Synthesizer,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.synthesizer = synthesizer
        self.offline = (
            synthesizer if isinstance(synthesizer, QuoteSynthesizer) else QuoteSynthesizer()
        )

    @property
    def name(self) -> str:
        """The synthesizer's name, as answers record it."""
        return self.synthesizer.name

    def stream(
        self, question: str, history: list[Turn], filters: Filters
    ) -> Iterator[str | Answer]:
        """Yield pieces of answer text as they are ready, then the final ``Answer``."""
        started = time.perf_counter()
        # One bound on history for every surface: the question is read, condensed and
        # answered with these turns, and the answer's history keeps as many.
        history = history[-self.settings.answer.history_turns :]
        retriever = self.retriever()
        fixes = respellings(question, retriever.vocabulary)
        query = read_question(respelled(question, fixes), history, retriever.manifest.episodes)
        if fixes:
            query = replace(query, respellings=tuple(fixes), asked=question)
        usage = Usage()
        if query.kind in ("empty", "small_talk"):
            text = guide(query, [e.label for e in retriever.manifest.episodes])
            yield text
            yield self._answer(query, history, started, usage, text=text, abstained=True)
            return
        down: SynthesisError | None = None
        if query.follow_up:
            query, down = self._condense(query, history, usage)
        if query.kind == "moment" and not _episodes_asked(query, filters):
            # Every episode has a minute 30: which one is meant must be said.
            text = WHICH_EPISODE_KO if query.language == "ko" else WHICH_EPISODE
            yield text
            yield self._answer(query, history, started, usage, text=text, abstained=True)
            return
        if query.language != "en":
            query = query.with_english(self._english(query, retriever))
        elif retriever.multilingual:
            # Not the words that name its episodes: "Noam Brown episode" is no topic.
            korean = korean_for(query.within_named(), retriever.vocabulary, retriever.glosses)
            query = query.with_korean(korean)
        hits = self.retrieve(query, filters, retriever)
        if query.kind == "moment" and not hits:
            text = self._over_by_then(query, filters, retriever)
            yield text
            yield self._answer(query, history, started, usage, text=text, abstained=True)
            return
        coverage = assess(query, hits, retriever, self.settings)
        if not coverage.covered:
            log.info("abstaining on %r: %s", question, coverage.reason)
            yield from self._abstain(query, history, started, usage, hits)
            return
        evidence = _evidence(query, hits, filters, retriever, history)
        if down is not None:
            yield from self._offline(evidence, started, usage, down.notice)
            return
        shown = False
        try:
            for piece in self.synthesizer.synthesize(evidence):
                if isinstance(piece, Draft):
                    draft = piece
                    break
                shown = shown or bool(piece)
                yield piece
            else:
                raise SynthesisError("no draft", NOTICE)
        except SynthesisError as failure:
            log.warning("%s could not answer (%s); answering offline", self.name, failure.reason)
            usage = _add(usage, failure.usage)
            yield from self._offline(evidence, started, usage, failure.notice, after_text=shown)
            return
        except Exception as exc:  # a bug in a model's path must not cost the user the answer
            if self.synthesizer is self.offline:
                raise
            log.error("%s failed: %s", self.name, type(exc).__name__)
            yield from self._offline(evidence, started, usage, NOTICE, after_text=shown)
            return
        usage = _add(usage, draft.usage)
        if draft.declined:
            if self.synthesizer is not self.offline and _strong(coverage, hits, self.settings):
                yield from self._offline(
                    evidence, started, usage, DECLINED_NOTICE, after_text=shown
                )
                return
            yield from self._abstain(query, history, started, usage, hits, after_text=shown)
            return
        text, citations = verified(draft.text, draft.citations, draft.passages or hits)
        yield self._answer(
            query,
            history,
            started,
            usage,
            text=text,
            citations=citations,
            hits=draft.passages or hits,
            notice=draft.notice,
            unsupported=draft.unsupported_sentences,
        )

    # --- steps ----------------------------------------------------------------------------

    @staticmethod
    def _over_by_then(query: Query, filters: Filters, retriever: Retriever) -> str:
        """What to say of a moment past the end of the episodes asked about."""
        labels = _episodes_asked(query, filters)[:MAX_OUTLINED]
        ends = [
            f"{label} ends around {format_timestamp(end)}"
            for label in labels
            if (end := retriever.ends(label)) is not None
        ]
        if not ends:
            return NOT_COVERED_KO if query.language == "ko" else NOT_COVERED
        text = f"{'; '.join(ends)}: nothing is said at {format_timestamp(query.at)}."
        if query.language == "ko":
            return f"그 시점까지 이어지는 에피소드가 없습니다. ({text})"
        return text

    def _condense(
        self, query: Query, history: list[Turn], usage: Usage
    ) -> tuple[Query, SynthesisError | None]:
        """A model's standalone version of a follow-up, or the offline one. A failure that
        says the model cannot be reached is returned, so the answer does not wait for the same
        server twice."""
        try:
            condensed, spent = self.synthesizer.condense(query.text, history)
        except SynthesisError as failure:
            _add(usage, failure.usage, into=True)
            return query, failure
        _add(usage, spent, into=True)
        if condensed and len(condensed) <= self.settings.answer.max_question_chars:
            return query.with_standalone(condensed), None
        return query, None

    def retrieve(self, query: Query, filters: Filters, retriever: Retriever) -> list[Hit]:
        """The passages for ``query``: searched in the episodes and among the speakers it
        names unless the caller's filters say otherwise, and widened again when narrowing
        finds nothing."""
        candidates = self.settings.retrieval.candidates
        passages = self.settings.answer.passages
        narrowed = Filters(
            episodes=_episodes_asked(query, filters) or None,
            speakers=filters.speakers
            or (
                list(query.speakers)
                if query.speakers and query.kind != "who" and not query.wants_article
                else None
            ),
        )
        if narrowed.speakers and not filters.speakers:
            # Speakers the question names, not the caller's: what a write-up in the question's
            # language says of them counts too (in another language it only crowded out their
            # own words: dev hit@1 lost a question).
            narrowed.articles_in = query.language
        if query.kind == "person":
            # "Who is Seonghyun?": where each episode introduces them, not passages that
            # happen to say their name most.
            wanted = filters.episodes
            hits = retriever.introductions(
                [
                    (cast.episode, person)
                    for cast in query.cast
                    if not wanted or cast.episode in wanted
                    for person in cast.speakers
                ][:MAX_INTRODUCTIONS]
            )
            if hits:
                return hits
        if query.kind == "catalog" and not filters.episodes:
            hits = retriever.openings(MAX_CATALOG)
            if hits:
                return hits
        if query.kind == "length" and narrowed.episodes:
            # "How long is EP 79?": where each episode ends.
            return [h for label in narrowed.episodes[:MAX_OUTLINED] for h in retriever.last(label)]
        if query.kind == "moment" and query.at is not None and narrowed.episodes:
            # "What are they talking about at minute 30 of EP 88?": what is said then.
            labels = narrowed.episodes[:MAX_OUTLINED]
            return [h for label in labels for h in retriever.at(label, query.at)]
        if query.kind == "summary" and narrowed.episodes:
            hits = retriever.outline(
                narrowed.episodes[:MAX_OUTLINED], whole_articles=query.wants_article
            )
            if hits:
                return hits
        # One search per named episode, side by side; a label many episodes share ("Latent
        # Space") gets one search over all of them instead of a hundred.
        if (
            query.kind == "comparison"
            and not filters.episodes
            and 2 <= len(query.episodes) <= MAX_OUTLINED
        ):
            # A pool of 16, shared out: 8 passages each for two episodes. On the dev split 6
            # each gave comparisons one more key fact than 4; with Korean sentences scored by
            # meaning, 8 each gave two more than 6 (cross-episode key facts .35 -> .45).
            pool = max(passages, COMPARISON_POOL)
            per = max(2, pool // len(query.episodes))
            lists = [
                self._search(
                    query, retriever, per, Filters(episodes=[e], speakers=filters.speakers)
                )
                for e in query.episodes
            ]
            merged = [h for group in zip(*lists, strict=False) for h in group]
            merged += _unseen([h for hits in lists for h in hits], merged)
            if merged:
                return merged
        # A wider pool than is kept, so that the passage holding the best answer sentence can
        # be promoted from below the cut (see _promote).
        pool = max(passages, self.settings.answer.rerank_pool)
        hits: list[Hit] = []
        if narrowed != filters:
            hits = self._search(query, retriever, pool, narrowed)
        if not hits:
            narrowed = filters
            hits = self._search(query, retriever, pool, filters)
        if query.defines:
            # "What is RLVR, and why does it matter?": the passage that says what RLVR is
            # holds little of the rest of the question's words; the term alone finds it.
            alone = retriever.search(query.defines, pool, narrowed, candidates=candidates)
            hits += _unseen(alone, hits)
        for phrase in reversed([*query.quoted[:MAX_QUOTED], *self._rare_words(query, retriever)]):
            # "… ‘출근 첫날의 천재’에 비유한 사람은?": the quote alone finds the turn that says
            # it (1st, against none in the top 12 for the whole question). Second place:
            # first, it cost the when-questions that quote a chapter's topic their rank 1.
            # A quote is its words as said: BM25 counts as much as for an English question
            # whatever its language ("'미니 딥 리서치'": mini, research, was 3rd at weight 1).
            alone = retriever.search(
                phrase,
                1,
                narrowed,
                candidates=candidates,
                words=self._spelled(query, phrase, retriever, quoted=True),
                bm25_weight=self.settings.retrieval.bm25_weight,
            )
            rest = _unseen(hits, alone)
            first = bool(hits) and not _unseen(hits[:1], alone)  # it was first already
            hits = [*alone, *rest] if first else [*rest[:1], *alone, *rest[1:]]
        # The wide search both the write-up and the chapters need, run once for the two.
        wide = cache(
            partial(self._search, query, retriever, self.settings.retrieval.candidates, narrowed)
        )
        if query.wants_article:
            hits = self._articles_first(query, hits, wide)
        hits = self._chapters_titled(query, hits, narrowed, retriever, wide, bool(filters.speakers))
        hits = self._promote(query, hits, filters, retriever)[:passages]
        # A name can sit in an article or another speaker's turn: look for it in the episodes
        # searched, among the speakers the caller asked for.
        where = Filters(episodes=narrowed.episodes, speakers=filters.speakers)
        return self._with_names(query, hits, where, retriever)

    def _search(self, query: Query, retriever: Retriever, k: int, filters: Filters) -> list[Hit]:
        """The ``k`` best passages for the question within ``filters``."""
        candidates = self.settings.retrieval.candidates
        words = self._spelled(
            query, query.words_within(filters.episodes) or query.standalone, retriever
        )
        return retriever.search(
            query.standalone,
            k,
            filters,
            candidates=candidates,
            words=words,
            other_words=query.korean_words or None,
        )

    @staticmethod
    def _spelled(query: Query, words: str, retriever: Retriever, *, quoted: bool = False) -> str:
        """``words``, for BM25, with the English a Korean question's words have in the corpus:
        what its borrowed words spell, and its nouns' dictionary senses. On 40 fresh Korean
        probe questions the senses took top-5 from 33 to 35 and rank 1 from 22 to 23; dev
        hit@1 .800 -> .822."""
        if query.language == "en":
            return words
        vocabulary, names = retriever.vocabulary, retriever.names
        unwanted = {query.attribute} if query.attribute else set()
        senses = english_senses_said(words, vocabulary, names, retriever.rarity, unwanted)
        # Names with no mark of a loan are spelled for BM25 only: choosing the answer's
        # sentence by them too picked the sentence that merely says "slide" (dev: 2 lost).
        spellings = english_spellings(
            words, vocabulary, names, quoted=quoted, adjacent=retriever.adjacent, unmarked=True
        )
        return " ".join([words, *spellings, *senses])

    @staticmethod
    def _rare_words(query: Query, retriever: Retriever) -> list[str]:
        """The single words the question quotes that the corpus says rarely, as said or as
        their Hangul spells them ("'하이퍼스티션'": hyperstition, said once): searched on their
        own like a quoted phrase. Fused with the whole question, one rare BM25 word left the
        turn that says it out of the top 8."""
        rare = []
        for word in query.quoted_words[:MAX_QUOTED]:
            # Spelled in English only if written in Hangul: a Latin word is its own spelling.
            spelled = (
                english_spellings(word, retriever.vocabulary, retriever.names, quoted=True)
                if HANGUL_RE.search(word)
                else [word]
            )
            terms = content_terms(" ".join(spelled))
            if terms and min(retriever.rarity(t) for t in terms) >= RARE_QUOTE:
                rare.append(word)
        return rare

    @staticmethod
    def _english(query: Query, retriever: Retriever) -> list[str]:
        """The English words a Korean question's answer sentence can hold: what the phrases
        it quotes spell ("'미니 딥 리서치'": mini, research), and what its other borrowed words
        spell if rare in the corpus. Common ones ("코딩 에이전트": coding, agent) are in
        every sentence of an episode about them, and picked one that only says them (two
        dev key facts lost at 2.5); rare ones say which sentence it is ("커뮤니티":
        community). Dev hit@1 .792 -> .811, none lost."""
        vocabulary, names = retriever.vocabulary, retriever.names
        words = [
            w
            for w in english_spellings(query.standalone, vocabulary, names)
            if retriever.rarity(stem(w)) >= RARE_SPELLING
        ]
        for phrase in query.quoted[:MAX_QUOTED]:
            words += english_spellings(phrase, vocabulary, names, quoted=True)
        return words

    def _chapters_titled(
        self,
        query: Query,
        hits: list[Hit],
        filters: Filters,
        retriever: Retriever,
        wide: Callable[[], list[Hit]],
        speakers_asked: bool,
    ) -> list[Hit]:
        """``hits`` with, after the first, the best passage of each chapter of the named
        episodes whose title holds everything the question asks about ("What did Seonghyun
        forecast for 2026?" and the chapters "2026 Forecast 1: …" and "2026 Forecast 2: …",
        which fusion ranked below passages that only say "2026")."""
        focus = set(query.checkable_focus)
        if len(focus) < 2 or not filters.episodes or query.kind not in ("factoid", "who"):
            return hits
        titled = {
            chapter: start
            for label in filters.episodes[:MAX_OUTLINED]
            for chapter, start in retriever.chapter_starts(label).items()
            if focus <= set(content_terms(chapter))
        }
        if not titled:
            return hits
        best = {
            chapter: next((h for h in wide() if h.chapter == chapter), None) for chapter in titled
        }
        # A chapter none of whose passages is among the best: its opening passage (unless
        # the caller asked for speakers, whom an opening need not be).
        missing = [titled[c] for c, h in best.items() if h is None and not speakers_asked]
        opening = {h.chapter: h for h in retriever.fetch(missing)}
        extra = [best[c] or opening.get(c) for c in list(titled)[:MAX_OUTLINED]]
        extra = _unseen([h for h in extra if h is not None], hits[:1])
        return [*hits[:1], *extra, *_unseen(hits[1:], extra)]

    @staticmethod
    def _articles_first(query: Query, hits: list[Hit], wide: Callable[[], list[Hit]]) -> list[Hit]:
        """For a question that asks the write-up: the article passages among the best
        ``candidates`` (``wide``) first, in their order, then the other hits; only those in
        the language it names, if it names one ("the Korean write-up"). A write-up has few
        passages and a Korean question's words match none of the English turns, so they
        rank low among many turns (dev: "EP 88 요약 기사에 따르면 …" found its passage at
        rank 16 of EP 88's; first among the articles, it is 4th)."""
        language = query.article_language
        articles = [h for h in wide() if h.kind == "article" and language in (None, h.language)]
        return [*articles, *_unseen(hits, articles)] if articles else hits

    def _promote(
        self, query: Query, hits: list[Hit], filters: Filters, retriever: Retriever
    ) -> list[Hit]:
        """``hits`` with the passage that holds the question's best answer sentence first.

        Fusion ranks whole passages; the sentence scorer of the offline answerer sees which
        one holds a sentence with the question's rare words. Only rank 1 moves, the rest
        keep their fused order (each moves down one place at most). On the dev split
        (pool of 12, the sentence score weighted 3 against 1 / (1 + fused rank)): hit@1
        .706 -> .784, MRR .798 -> .845, hit@5 unchanged at .941; promoting the best 2 or 3,
        or reordering them all, cost hit@5 a question. A question not in English is scored
        by its sentences' closeness in meaning instead (Korean dev hit@1 +3 questions, none
        lost; before, it had no words to promote by).
        """
        if len(hits) < 2 or query.kind in LISTED_KINDS:
            return hits
        evidence = _evidence(query, hits, filters, retriever)
        if not query.checkable_focus and evidence.similarity is None:
            return hits
        scored = self.offline.passage_scores(evidence)
        best = {pid: score for pid, (score, _) in scored.items()}
        top = max(best.values(), default=0.0)
        if top <= 0:
            return hits
        rows = range(len(hits))
        # "What is RLVR?": a passage whose best sentence says what it is answers, wherever
        # fusion put it ("RLVR is post-training for making agents" was 14th of 24).
        defining = [i for i in rows if scored.get(hits[i].id, (0, False))[1]]
        lead = max(
            defining or rows,
            key=lambda i: PROMOTE_WEIGHT * best.get(hits[i].id, 0.0) / top + 1 / (1 + i),
        )
        return [hits[lead], *hits[:lead], *hits[lead + 1 :]]

    def _with_names(
        self, query: Query, hits: list[Hit], filters: Filters, retriever: Retriever
    ) -> list[Hit]:
        """``hits``, plus the best passage that names each name of the question none of them
        names: a question about "Jim Fan" whose other words pull in other passages still
        finds the one line of the article that mentions him."""
        held = [passage_terms(h) for h in hits]
        extra: list[Hit] = []
        for name in query.entities:
            if any(names(name.terms, terms, retriever) for terms in held):
                continue
            found = retriever.search(
                name.surface, 3, filters, candidates=self.settings.retrieval.candidates
            )
            extra += [
                h
                for h in _unseen(found, hits + extra)
                if names(name.terms, passage_terms(h), retriever)
            ][:1]
        return hits + extra

    def _offline(
        self,
        evidence: Evidence,
        started: float,
        usage: Usage,
        notice: str | None,
        *,
        after_text: bool = False,
    ) -> Iterator[str | Answer]:
        """The offline answer (with a notice, when it stands in for a model's)."""
        draft = self.offline.draft(evidence)
        query = evidence.query
        if after_text:
            yield "\n\n"  # part of a model answer was shown before it failed
        if draft.declined:
            yield from self._abstain(
                query,
                evidence.history,
                started,
                usage,
                evidence.hits,
                notice=notice,
                answerer=self.offline.name,
            )
            return
        yield from pieces(draft.text)
        yield self._answer(
            query,
            evidence.history,
            started,
            usage,
            text=draft.text,
            citations=draft.citations,
            hits=evidence.hits,
            notice=notice,
            answerer=self.offline.name,
        )

    def _abstain(
        self,
        query: Query,
        history: list[Turn],
        started: float,
        usage: Usage,
        hits: list[Hit],
        *,
        notice: str | None = None,
        answerer: str | None = None,
        after_text: bool = False,
    ) -> Iterator[str | Answer]:
        """The not-covered reply, with the closest passages as see-also."""
        text = NOT_COVERED_KO if query.language == "ko" else NOT_COVERED
        yield ("\n\n" if after_text else "") + text
        yield self._answer(
            query,
            history,
            started,
            usage,
            text=text,
            abstained=True,
            hits=hits,
            see_also=see_also(hits),
            notice=notice,
            answerer=answerer,
        )

    def _answer(
        self,
        query: Query,
        history: list[Turn],
        started: float,
        usage: Usage,
        *,
        text: str,
        abstained: bool = False,
        citations: list[Citation] | None = None,
        hits: list[Hit] | None = None,
        see_also: list[Citation] | None = None,
        notice: str | None = None,
        unsupported: list[str] | None = None,
        answerer: str | None = None,
    ) -> Answer:
        usage = usage.model_copy(update={"total_time": time.perf_counter() - started})
        if query.respellings:
            notice = "; ".join(filter(None, [spelling_notice(list(query.respellings)), notice]))
        if query.kind in ("summary", "person") and citations and hits:
            # An outline's passages come in episode order, not by relevance: the ones it
            # quotes are the ones that answer, first.
            cited = list(dict.fromkeys(c.passage_id for c in citations))
            order = {pid: i for i, pid in enumerate(cited)}
            hits = sorted(hits, key=lambda h: order.get(h.id, len(order)))
        answer = Answer(
            question=query.as_typed,
            text=text,
            citations=citations or [],
            abstained=abstained,
            see_also=see_also or [],
            answerer=answerer or self.name,
            notice=notice,
            # A respelled question is no follow-up: the notice says how it was read.
            standalone_question=query.standalone if query.follow_up else query.as_typed,
            unsupported_sentences=unsupported or [],
            usage=usage,
            passages=hits or [],
        )
        answer.history = new_history(history, query.as_typed, answer)[
            -self.settings.answer.history_turns :
        ]
        answer.settings_key = self.settings.answer_key()
        return answer


def guide(query: Query, labels: list[str]) -> str:
    """What to ask, for a message that asks nothing ("", "hi", "thanks!"), with examples
    from this corpus's own episodes."""
    labels = list(dict.fromkeys(labels))
    shown = ", ".join(labels[:MAX_GUIDE_LABELS]) + (", …" if len(labels) > MAX_GUIDE_LABELS else "")
    example = labels[0] if labels else "the latest episode"
    talk = query.as_typed if query.kind == "small_talk" else ""
    thanks, greeting = THANKS_RE.search(talk), GREETING_RE.search(talk)
    if query.language == "ko":
        opening = "천만에요. " if thanks else "안녕하세요. " if greeting else ""
        return (
            f"{opening}에피소드 {len(labels)}개({shown})에 대해 질문하시면 발언자, 타임스탬프와 "
            f"인용으로 답합니다. 예: “{example} 에피소드는 무엇에 관한 내용인가요?”, “어떤 "
            "에피소드가 있나요?” (Ask me something about the episodes.)"
        )
    opening = "You're welcome! " if thanks else "Hello! " if greeting else ""
    count = f"{len(labels)} episode{'s' if len(labels) != 1 else ''}"
    return (
        f"{opening}Ask me something about the {count} I know ({shown}): every answer quotes "
        f"the episodes with speaker and timestamp. For example “What is {example} about?” or "
        "“Which episodes are there?”."
    )


def verified(
    text: str, citations: list[Citation], passages: list[Hit]
) -> tuple[str, list[Citation]]:
    """Only the citations whose quote is word for word in the passage they point at, and the
    text without the markers of any other (a last check: every synthesizer builds citations
    from passages, but none may show one that isn't)."""
    body = {p.id: " ".join(p.text.split()) for p in passages}
    kept = [c for c in citations if " ".join(c.quote.split()) in body.get(c.passage_id, "")]
    if len(kept) == len(citations):
        return text, citations
    log.error("dropped %d citation(s) not verbatim in their passage", len(citations) - len(kept))
    return renumber(text, kept)


def new_history(history: list[Turn], question: str, answer: Answer) -> list[Turn]:
    """The conversation with this exchange appended."""
    return [
        *history,
        Turn(
            question=question,
            answer=answer.text,
            standalone=answer.standalone_question,
            episodes=list(dict.fromkeys(c.episode for c in answer.citations)),
            speakers=list(dict.fromkeys(c.speaker for c in answer.citations if c.speaker)),
        ),
    ]


def _episodes_asked(query: Query, filters: Filters) -> list[str]:
    """The episodes an answer is about: the caller's, else those the question names, else
    (a follow-up) those the conversation is about."""
    return list(filters.episodes or query.episodes or query.context_episodes)


def _evidence(
    query: Query,
    hits: list[Hit],
    filters: Filters,
    retriever: Retriever,
    history: list[Turn] | None = None,
) -> Evidence:
    """The evidence for ``query``; a question not in English also gets each sentence's
    closeness to it, since its own words cannot be looked for in English passages."""
    similarity = None
    if query.language != "en" and retriever.scores_sentences:
        similarity = partial(retriever.sentence_similarity, query.text)
    return Evidence(query, hits, history or [], tuple(filters.speakers or ()), similarity)


def _strong(coverage: Coverage, hits: list[Hit], settings: Settings) -> bool:
    """Evidence strong enough that a model's "no answer" is the model's failing, not the
    corpus's: the whole focus in one passage, and the best passage well above the floor."""
    return (
        coverage.support >= 0.99
        and bool(hits)
        and hits[0].relevance >= settings.answer.abstain_below
    )


def _add(usage: Usage, more: Usage, *, into: bool = False) -> Usage:
    """``usage`` plus ``more`` (in place with ``into``)."""
    target = usage if into else usage.model_copy()
    target.prompt_tokens += more.prompt_tokens
    target.completion_tokens += more.completion_tokens
    target.calls += more.calls
    if target.time_to_first_token is None:
        target.time_to_first_token = more.time_to_first_token
    return target


def _unseen(hits: list[Hit], seen: list[Hit]) -> list[Hit]:
    """``hits`` but the passages among ``seen``: another search scores the same passage
    otherwise, and it was listed twice."""
    ids = {h.id for h in seen}
    return [h for h in hits if h.id not in ids]
