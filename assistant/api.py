"""``Assistant``: the public API that every surface (CLI, UI, Slack, evals) goes through."""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chromadb.errors import ChromaError

from assistant.config import Settings
from assistant.errors import FilterError, IndexUnavailable, QuestionError
from assistant.index.build import IndexReport, Notice, Progress, build_index, check_compatible
from assistant.index.store import (
    EpisodeSummary,
    Manifest,
    Store,
    damaged_local_index,
    wipe_local_index,
)
from assistant.redact import Redactor, capped
from assistant.retrieval.search import Filters, Retriever, resolve_filters
from assistant.schema import Answer, Hit, Turn

if TYPE_CHECKING:
    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.chat_engine.types import BaseChatEngine
    from llama_index.core.llms import LLM

    from assistant.answering.pipeline import AnswerPipeline
    from assistant.answering.synthesizers import Synthesizer
    from assistant.index.embeddings import LocalEmbedder
    from assistant.surfaces.llamaindex import EpisodeRetriever

log = logging.getLogger(__name__)

# How long a search trusts its view of which generation is active before checking again.
FRESHNESS_SECONDS = 2.0


# The most passages one search returns (top_k's own upper bound in config.py).
MAX_K = 50


def clean_question(text: str | None, max_chars: int) -> str:
    """Strip control characters and spaces; refuse empty, overlong or non-text questions."""
    if text is not None and not isinstance(text, str):
        raise QuestionError(
            f"The question must be text (str), not {type(text).__name__}"
            + (
                ": decode bytes first, e.g. question.decode('utf-8')."
                if isinstance(text, bytes | bytearray)
                else "."
            )
        )
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in (text or "")
    )
    text = " ".join(text.split())
    if not text:
        raise QuestionError("Please type a question: the message was empty.")
    if len(text) > max_chars:
        raise QuestionError(
            f"That question is {len(text):,} characters long; please keep it under "
            f"{max_chars:,} (one question at a time works best)."
        )
    return text


def _prepared(retriever: Retriever) -> Retriever:
    """``retriever``, with what answers in its languages read ready while it opens, not in
    the first answer: the Korean dictionary, when some chunks are not in English."""
    if retriever.multilingual:
        from assistant.answering.korean_words import prepare

        prepare(retriever.vocabulary, retriever.glosses)
    return retriever


def check_k(k: object) -> int | None:
    """``k`` as given, if it is a whole number of passages from 1 to ``MAX_K``."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(
            f"k is how many passages to return: a whole number from 1 to {MAX_K}, not {k!r}."
        )
    return k


def check_filter(value: object, name: str) -> str | list[str] | None:
    """An episode or speaker filter: a name, a list of names, or nothing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return list(value)
    raise FilterError(f"the {name} filter must be a name or a list of names (str), not {value!r}")


class Assistant:
    """Search and ask the indexed episodes.

    >>> bot = Assistant()                       # settings from env / .env / arguments
    >>> bot.search("compute multiplier", k=3)   # list[Hit]
    >>> answer = bot.ask("When do they talk about environment scaling?")
    >>> bot.ask("and what did Chester answer?", history=answer.history)
    """

    def __init__(self, settings: Settings | None = None, **overrides: object) -> None:
        self.settings = settings or Settings(**overrides)
        self._embedder: LocalEmbedder | None = None
        self._crosslingual: LocalEmbedder | None = None
        self._store: Store | None = None
        self._retriever: Retriever | None = None
        self._checked_at = 0.0
        self._opening = False
        self._unopened: int | None = None  # a generation that failed to open
        self._lock = threading.RLock()
        self._pipeline: AnswerPipeline | None = None
        self._pin = threading.local()
        self._redactor = Redactor(self.settings)

    # --- parts, made on first use ----------------------------------------------------------

    @property
    def embedder(self) -> LocalEmbedder:
        """The configured embedder (loaded once)."""
        with self._lock:
            if self._embedder is None:
                from assistant.index.embeddings import get_embedder

                self._embedder = get_embedder(self.settings)
            return self._embedder

    @property
    def crosslingual(self) -> LocalEmbedder | None:
        """The cross-lingual embedder, if settings name one (loaded once)."""
        with self._lock:
            name = self.settings.index.crosslingual_embedder
            if name and self._crosslingual is None:
                from assistant.index.embeddings import get_embedder

                self._crosslingual = get_embedder(self.settings, name)
            return self._crosslingual

    @property
    def store(self) -> Store:
        """The Chroma store (opened once)."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings)
            return self._store

    # --- indexing --------------------------------------------------------------------------

    def index(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        notice: Notice | None = None,
    ) -> IndexReport:
        """Build or update the index from the corpus folder.

        ``progress(stage, done, total)`` follows the work; ``notice(issue)`` hears at once of
        files large enough to take minutes (by default they are logged); ``report.issues``
        has every warning.
        """
        with self._lock:
            replaced = []
            damage = damaged_local_index(self.settings) if rebuild else None
            if damage:
                wipe_local_index(self.settings)
                replaced.append(f"the Chroma store: {damage}")
            # A store of its own: one opened earlier may hold another process's previous
            # generation in memory, and writing through it would persist that over the new.
            try:
                store = Store(self.settings)
            except IndexUnavailable as exc:
                if not rebuild or self.settings.index.chroma_host:
                    raise
                wipe_local_index(self.settings)
                reason = str(exc).split(". Rebuild it")[0]  # this is the rebuild
                replaced.append(f"the Chroma store, which could not be opened ({reason})")
                store = Store(self.settings)
            report = build_index(
                self.settings,
                store,
                lambda: (self.embedder, self.crosslingual),
                rebuild=rebuild,
                progress=progress,
                notice=notice,
            )
            report.replaced[:0] = replaced
            self._store = store
            self._retriever = None
            return report

    def manifest(
        self, *, build_if_missing: bool = True, progress: Progress | None = None
    ) -> Manifest:
        """The active index's manifest; builds the index first when there is none."""
        manifest = self.store.manifest()
        if manifest is None:
            if not build_if_missing:
                raise IndexUnavailable("no index yet: run `episode-assistant index`.")
            self.index(progress=progress)
            manifest = self.store.manifest()
            assert manifest is not None
        return manifest

    def retriever(self, progress: Progress | None = None) -> Retriever:
        """A retriever over the active generation; rebuilt when another process re-indexed.

        While a new generation's retriever is being opened, the current one keeps answering
        (opening takes seconds at 100x the shipped corpus): one caller opens it, the others
        go on with the old one until it is ready.
        """
        pinned = getattr(self._pin, "retriever", None)
        if pinned is not None:  # inside one answer (see _retrying)
            return pinned
        with self._lock:
            now = time.monotonic()
            current = self._retriever
            if current is not None and (
                now - self._checked_at < FRESHNESS_SECONDS or self._opening
            ):
                return current
            manifest = self.manifest(progress=progress)
            self._checked_at = now
            # built_at tells a rebuilt index apart from one with the same generation number.
            if current is not None and (current.manifest.generation, current.manifest.built_at) == (
                manifest.generation,
                manifest.built_at,
            ):
                return current
            check_compatible(manifest, self.settings, self.embedder, self.crosslingual)
            if current is None:  # nothing to answer with meanwhile: open it here
                self._retriever = _prepared(
                    Retriever(
                        self.store,
                        manifest,
                        self.embedder,
                        self.crosslingual,
                        self.settings.retrieval,
                    )
                )
                return self._retriever
            self._opening = True
        try:
            # A new generation gets a new client: this process's client holds the collections'
            # vectors as they were when it opened them (see store.py).
            store = Store(self.settings)
            fresh = _prepared(
                Retriever(
                    store, manifest, self.embedder, self.crosslingual, self.settings.retrieval
                )
            )
        except Exception as exc:  # keep answering from the current one; look again in a moment
            # Never silently: a generation that cannot be opened leaves every answer on the
            # previous one until it can, and whoever runs the app should know why (once per
            # generation: it is tried again every few seconds).
            first = self._unopened != manifest.generation
            self._unopened = manifest.generation
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "index generation %s could not be opened (%s: %s); still answering from "
                "generation %s, and trying again in %.0f s",
                manifest.generation,
                type(exc).__name__,
                exc,
                current.manifest.generation,
                FRESHNESS_SECONDS,
            )
            with self._lock:
                self._opening = False
            return current
        with self._lock:
            self._opening = False
            self._store = store
            self._retriever = fresh
            return fresh

    def _reopen(self) -> None:
        """Forget the open store and retriever, so the next call opens the index afresh."""
        with self._lock:
            self._store = None
            self._retriever = None
            self._checked_at = 0.0

    def episodes(self) -> list[EpisodeSummary]:
        """The indexed episodes (for filters and listings)."""
        return self.retriever().manifest.episodes

    def speakers(self) -> list[str]:
        """Every speaker found in the indexed episodes."""
        return sorted({s for e in self.episodes() for s in e.speakers})

    # --- search and answers ------------------------------------------------------------------

    def filters(
        self, episode: str | list[str] | None = None, speaker: str | list[str] | None = None
    ) -> Filters:
        """Resolve loosely written filters; ``FilterError`` names what the index does have."""
        episode, speaker = check_filter(episode, "episode"), check_filter(speaker, "speaker")
        return resolve_filters(self.retriever().manifest, episode, speaker)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        episode: str | list[str] | None = None,
        speaker: str | list[str] | None = None,
    ) -> list[Hit]:
        """The top passages for ``query``: episode, chapter, timestamp, speaker, text, score."""
        query = clean_question(query, self.settings.answer.max_question_chars)
        k = check_k(k)
        episode, speaker = check_filter(episode, "episode"), check_filter(speaker, "speaker")
        for attempt in range(2):
            retriever = self.retriever()
            try:
                return retriever.search(
                    query,
                    k or self.settings.retrieval.top_k,
                    resolve_filters(retriever.manifest, episode, speaker),
                    candidates=self.settings.retrieval.candidates,
                )
            except ChromaError:
                if attempt:
                    raise
                self._reopen()  # see _retrying
        raise AssertionError("unreachable")

    @property
    def pipeline(self) -> AnswerPipeline:
        """The answer pipeline, with the synthesizer settings choose (offline quotes, or an
        OpenAI-compatible model)."""
        with self._lock:
            if self._pipeline is None:
                from assistant.answering.pipeline import AnswerPipeline
                from assistant.answering.synthesizers import make_synthesizer

                self._pipeline = AnswerPipeline(
                    self.settings, self.retriever, make_synthesizer(self.settings)
                )
            return self._pipeline

    def use_synthesizer(self, synthesizer: Synthesizer) -> None:
        """Answer with ``synthesizer`` from now on (a test double, or one of your own)."""
        from assistant.answering.pipeline import AnswerPipeline

        with self._lock:
            self._pipeline = AnswerPipeline(self.settings, self.retriever, synthesizer)

    def ask(
        self,
        question: str,
        *,
        history: list[Turn] | None = None,
        episode: str | list[str] | None = None,
        speaker: str | list[str] | None = None,
    ) -> Answer:
        """A short answer with ``[n]`` markers mapped to ``answer.citations``."""
        final: Answer | None = None
        for piece in self.stream(question, history=history, episode=episode, speaker=speaker):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        history: list[Turn] | None = None,
        episode: str | list[str] | None = None,
        speaker: str | list[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Incremental answer text, then the final ``Answer``."""
        question = clean_question(question, self.settings.answer.max_question_chars)
        self.filters(episode, speaker)  # a bad filter fails here, before anything streams
        pieces = self._retrying(
            lambda retriever: self.pipeline.stream(
                question, history or [], resolve_filters(retriever.manifest, episode, speaker)
            )
        )
        # Secrets are replaced and length capped here, the one place every surface's answers
        # pass through.
        yield from capped(self._redactor.stream(pieces), self.settings.answer.max_answer_chars)

    def _retrying(
        self, start: Callable[[Retriever], Iterator[str | Answer]]
    ) -> Iterator[str | Answer]:
        """``start(retriever)``'s pieces, every one made with that same retriever; when Chroma
        fails before the first piece, once more on a freshly opened index.

        One retriever per answer: the pipeline may ask for it more than once (to search, then
        to judge coverage), and an answer that searched one generation and judged by the next
        one's vocabulary was neither the old answer nor the new. The retry is a last line of
        defence for what store.py prevents: a generation dropped under an app that slept
        through two rebuilds, or a store another process changed in a way this one cannot see.
        """
        for attempt in range(2):
            retriever = self.retriever()
            started = False
            try:
                pieces = start(retriever)
                while True:
                    # Pinned for each step in the thread that takes it: a UI may take each
                    # piece of a stream on another worker thread.
                    self._pin.retriever = retriever
                    try:
                        piece = next(pieces)
                    except StopIteration:
                        return
                    finally:
                        self._pin.retriever = None
                    started = True
                    yield piece
            except ChromaError:
                if started or attempt:
                    raise
                self._reopen()

    # --- LlamaIndex (assistant/surfaces/llamaindex.py, imported only when asked for) ----------

    def as_retriever(
        self,
        k: int | None = None,
        *,
        episode: str | list[str] | None = None,
        speaker: str | list[str] | None = None,
    ) -> EpisodeRetriever:
        """This search as a LlamaIndex ``BaseRetriever``; nodes carry the citation metadata."""
        from assistant.surfaces.llamaindex import EpisodeRetriever

        return EpisodeRetriever(self, k, episode=episode, speaker=speaker)

    def as_query_engine(self, llm: LLM | None = None, **kwargs: Any) -> BaseQueryEngine:
        """A LlamaIndex query engine: ``llm`` synthesizes over ``as_retriever``, or without
        one the configured answerer answers (``streaming=True`` streams either way)."""
        from assistant.surfaces.llamaindex import as_query_engine

        return as_query_engine(self, llm, **kwargs)

    def as_chat_engine(self, llm: LLM | None = None, **kwargs: Any) -> BaseChatEngine:
        """A LlamaIndex chat engine: ``CondensePlusContextChatEngine`` with ``llm``, or
        without one the configured answerer, follow-ups included."""
        from assistant.surfaces.llamaindex import as_chat_engine

        return as_chat_engine(self, llm, **kwargs)
