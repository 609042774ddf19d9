"""The platform-neutral half of every chat bot: threads and their history, duplicate
deliveries, a ``reply`` that never raises, and text helpers no platform owns."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from assistant.errors import InputError
from assistant.schema import Answer, Citation, Turn

logger = logging.getLogger(__name__)

# (channel, thread): where a conversation lives on any platform that has threads.
ThreadKey = tuple[str, str]

APOLOGY = "Sorry, something went wrong while answering that. Please try again in a moment."

Clock = Callable[[], float]


class Asker(Protocol):
    """What a bot needs from ``Assistant``: one question, with the thread's history.

    An asker that also has ``Assistant.stream``'s ``stream(question, history=…)`` (pieces of
    text, then the ``Answer``) gets its answer shown as it is written.
    """

    def ask(self, question: str, *, history: list[Turn] | None = None) -> Answer:
        """Answer ``question`` in the light of ``history``."""
        ...


@dataclass
class _Thread:
    history: list[Turn] = field(default_factory=list)
    touched: float = 0.0
    # Follow-ups in one thread are answered one after another, so each sees the one before.
    lock: threading.Lock = field(default_factory=threading.Lock)


class ConversationBook:
    """Each thread's history, bounded in threads, turns and age (least recently used go first).

    Memory only: a restart forgets conversations, which costs a follow-up its context and
    nothing else.
    """

    def __init__(
        self,
        *,
        max_threads: int = 2000,
        max_turns: int | None = None,
        max_age: float = 6 * 3600,
        clock: Clock = time.monotonic,
    ) -> None:
        self.max_threads = max_threads
        self.max_turns = max_turns
        self.max_age = max_age
        self._clock = clock
        self._threads: OrderedDict[ThreadKey, _Thread] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._evict()
            return len(self._threads)

    def _evict(self) -> None:
        now = self._clock()
        while self._threads:
            key, thread = next(iter(self._threads.items()))
            if now - thread.touched <= self.max_age and len(self._threads) <= self.max_threads:
                break
            del self._threads[key]

    def _thread(self, key: ThreadKey) -> _Thread:
        thread = self._threads.get(key)
        if thread is None or self._clock() - thread.touched > self.max_age:
            thread = _Thread()
            self._threads[key] = thread
        thread.touched = self._clock()
        self._threads.move_to_end(key)
        self._evict()
        return thread

    def history(self, key: ThreadKey) -> list[Turn]:
        """The thread's turns so far, oldest first (empty for a new or expired thread)."""
        with self._lock:
            thread = self._threads.get(key)
            if thread is None or self._clock() - thread.touched > self.max_age:
                return []
            return list(thread.history)

    def record(self, key: ThreadKey, history: list[Turn]) -> None:
        """Replace the thread's history with ``history`` (its newest ``max_turns`` turns;
        unset: as many as an answer keeps, ``settings.answer.history_turns``)."""
        with self._lock:
            kept = history if self.max_turns is None else history[-self.max_turns :]
            self._thread(key).history = list(kept)

    def lock(self, key: ThreadKey) -> threading.Lock:
        """The lock that serialises answers within one thread."""
        with self._lock:
            return self._thread(key).lock


class SeenEvents:
    """Remembers delivery ids (event ids, message keys) for a while, to drop redeliveries.

    Slack retries an event up to three times within minutes; an hour is ample.
    """

    def __init__(
        self, *, max_items: int = 20_000, ttl: float = 3600, clock: Clock = time.monotonic
    ) -> None:
        self.max_items = max_items
        self.ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered (and records it); False for repeats."""
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self.ttl and len(self._seen) < self.max_items:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


@dataclass(frozen=True)
class BotReply:
    """What to tell the person: an answer, a refusal that says why, or an apology."""

    text: str
    kind: Literal["answer", "refusal", "apology"] = "answer"
    answer: Answer | None = None

    @property
    def citations(self) -> list[Citation]:
        """The answer's sources (none for refusals and apologies)."""
        return self.answer.citations if self.answer else []

    @property
    def see_also(self) -> list[Citation]:
        """Passages worth a look when the assistant abstained."""
        return self.answer.see_also if self.answer and self.answer.abstained else []

    @property
    def notice(self) -> str | None:
        """A caveat the answerer attached (e.g. it fell back to quoting)."""
        return self.answer.notice if self.answer else None


class BotCore:
    """Turns a question in a thread into a ``BotReply``, remembering each thread's history."""

    def __init__(
        self,
        assistant: Asker,
        *,
        book: ConversationBook | None = None,
        seen: SeenEvents | None = None,
    ) -> None:
        self.assistant = assistant
        self.book = book or ConversationBook()
        self.seen = seen or SeenEvents()

    def reply(self, question: str, thread_key: ThreadKey) -> BotReply:
        """Answer ``question`` with the thread's history; never raises (see ``stream``)."""
        for piece in self.stream(question, thread_key):
            if isinstance(piece, BotReply):
                return piece
        raise AssertionError("stream() always ends with a BotReply")

    def stream(self, question: str, thread_key: ThreadKey) -> Iterator[str | BotReply]:
        """Pieces of answer text as they are written, then the ``BotReply``; never raises.

        The reply's text is the one to show: it may differ from the pieces (a marker the
        passages do not support is dropped, a failed model is replaced by quoting). Questions
        the assistant refuses (empty, too long, unknown filter) get its own message, written
        for people; any other failure is logged and gets a short apology.
        """
        try:
            with self.book.lock(thread_key):
                history = self.book.history(thread_key)
                streaming = getattr(self.assistant, "stream", None)
                pieces = (
                    streaming(question, history=history)
                    if callable(streaming)
                    else iter([self.assistant.ask(question, history=history)])
                )
                answer: Answer | None = None
                for piece in pieces:
                    if isinstance(piece, Answer):
                        answer = piece
                    elif piece:
                        yield piece
                if answer is None:
                    raise RuntimeError("the answer stream ended without an answer")
                self.book.record(thread_key, answer.history)
        except InputError as exc:
            yield BotReply(text=str(exc), kind="refusal")
            return
        except Exception:
            logger.exception("answering a question in thread %s failed", thread_key)
            yield BotReply(text=APOLOGY, kind="apology")
            return
        yield BotReply(text=answer.text, kind="answer", answer=answer)


# --- text helpers that no platform owns ------------------------------------------------------


def compact_parts(citation: Citation) -> tuple[str, str | None, str | None]:
    """Episode label, timestamp and speaker: the parts of a compact source line.

    The chapter is left out on purpose: chat sources should fit one line, and episode plus
    time is what a listener needs to find the spot.
    """
    episode = citation.episode + (" (article)" if citation.kind == "article" else "")
    return episode, citation.when, citation.speaker


def compact_heading(citation: Citation) -> str:
    """``EP 81 · 04:34 · Seonghyun Kim`` (missing parts left out)."""
    return " · ".join(p for p in compact_parts(citation) if p)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters.

    Cuts between paragraphs when it can, then between lines, then between words; a word
    longer than ``limit`` is cut where it must be.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        for sep in ("\n\n", "\n", " "):
            at = window.rfind(sep, 0, limit + 1)
            if at > 0:
                break
        else:
            at = limit
        piece = rest[:at].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[at:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
