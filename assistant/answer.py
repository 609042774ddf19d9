"""Answering: the ``Answerer`` interface, the pieces every answerer shares (follow-ups,
evidence, citations built from index metadata) and the choice of answerer by settings."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .chunking import quote_context
from .retrieval import Filters
from .schema import Answer, Citation, Hit, Turn, format_timestamp
from .text import STOPWORDS, WORD_RE
from .transcripts import detect_language

if TYPE_CHECKING:
    from .api import Assistant

NOT_COVERED = "The episodes don't seem to cover that."
NOT_COVERED_KO = (
    "에피소드에서 그 내용을 다루지 않는 것 같습니다. (The episodes don't seem to cover that.)"
)
FOLLOW_UP_START = re.compile(
    r"^(and|but|so|also|then|what about|how about|what else|why|and why|그럼|그리고|그러면|또)\b",
    re.IGNORECASE,
)
PRONOUN = re.compile(r"\b(he|she|they|him|her|them|his|their|it|that|this|those|these)\b", re.I)


class Answerer(Protocol):
    """What turns a question into an ``Answer``: incremental text, then the ``Answer``."""

    name: str

    def stream(
        self, question: str, history: list[Turn], filters: Filters
    ) -> Iterator[str | Answer]:
        """Yield pieces of answer text as they are ready, then the final ``Answer``."""
        ...


def make_answerer(assistant: Assistant) -> Answerer:
    """The offline answerer, or the OpenAI-compatible one when settings enable a model."""
    from .quotes import QuoteAnswerer

    offline = QuoteAnswerer(assistant)
    if not assistant.settings.llm_enabled:
        return offline
    from .llm import LLMAnswerer

    return LLMAnswerer(assistant, fallback=offline)


# --- follow-ups -------------------------------------------------------------------------------


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the conversation so far ("and what did Chester say?")."""
    words = question.split()
    return bool(FOLLOW_UP_START.match(question)) or (
        len(words) <= 12 and bool(PRONOUN.search(question))
    )


def standalone_question(question: str, history: list[Turn]) -> str:
    """Offline condensing: a follow-up is searched together with the question it follows."""
    if not history or not is_follow_up(question):
        return question
    previous = history[-1].standalone or history[-1].question
    return f"{question} ({previous})"


# --- what the question asks for --------------------------------------------------------------


@dataclass
class Intent:
    """What kind of answer a question wants, read from its wording."""

    who: bool = False
    when: bool = False
    speakers: tuple[str, ...] = ()
    language: str = "en"


def read_intent(question: str, known_speakers: list[str]) -> Intent:
    """Question type and the speakers it names (full or first names)."""
    q = question.lower()
    named = []
    for name in known_speakers:
        parts = name.lower().split()
        if name.lower() in q or any(
            len(p) > 2 and re.search(rf"\b{re.escape(p)}\b", q) for p in parts[:1]
        ):
            named.append(name)
    return Intent(
        who=bool(re.search(r"\bwho\b|\bwhich (guest|host|speaker|person)\b", q))
        or "누가" in q
        or "누구" in q,
        # "When Seonghyun listed X, who asked…" is a who-question; "when" must lead or ask.
        when=bool(
            re.match(r"^\s*(when|at what point|what time|where in|how far into)\b", q)
            or re.search(r"\b(timestamp|which (part|minute|chapter)|what minute)\b", q)
        )
        or "언제" in q
        or "몇 분" in q,
        speakers=tuple(named),
        language=detect_language(question),
    )


def episodes_named(question: str, labels: list[str]) -> list[str]:
    """Episodes a question names itself: "EP 81", "episode 88", "Latent Space"."""
    q = question.lower()
    numbers = {int(n) for n in re.findall(r"\b(?:ep|episode)\.?\s*(\d{1,4})\b", q)}
    named = []
    for label in labels:
        m = re.fullmatch(r"EP (\d+)", label)
        if (m and int(m.group(1)) in numbers) or (
            not m and any(len(p) > 3 and p.strip().lower() in q for p in label.split("·"))
        ):
            named.append(label)
    return named


# --- coverage -------------------------------------------------------------------------------

# Capitalised anyway, or shorthand the corpus spells out: never a name to look for.
GENERIC_WORDS = STOPWORDS | {"ep", "ai", "tell", "give"}
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’.\-]*")


def unknown_names(question: str, vocabulary: set[str]) -> list[str]:
    """Names in a question that occur nowhere in the corpus ("Tuomas Sandholm", "Grok").

    A question that hinges on a name the episodes never mention is not covered, however
    close its other words come to some passage. Near-misses count as present, so a typo in
    a name the corpus does have ("Seonghyn") does not make the assistant abstain.
    """
    missing = []
    for word in NAME_RE.findall(question):
        core = word.strip(".'’-")
        if not core or not (core[0].isupper() or any(ch.isdigit() for ch in core)):
            continue
        for part in WORD_RE.findall(core.lower()):
            if len(part) < 3 or part.isdigit() or part in GENERIC_WORDS or part in vocabulary:
                continue
            if not _close_match(part, vocabulary):
                missing.append(core)
                break
    return missing


def _close_match(word: str, vocabulary: set[str]) -> bool:
    pool = [v for v in vocabulary if v[:1] == word[:1] and abs(len(v) - len(word)) <= 2]
    return bool(difflib.get_close_matches(word, pool, n=1, cutoff=0.84))


# --- citations --------------------------------------------------------------------------------


def cite(hit: Hit, quote: str, n: int) -> Citation:
    """A citation for ``quote`` inside ``hit``: speaker and time of the turn that holds it."""
    offset = max(hit.text.find(quote), 0)
    speaker, seconds, _exact = quote_context(
        {"turns": hit.turns, "speaker": hit.speaker or "", "seconds": hit.seconds}, offset
    )
    if hit.kind != "transcript":
        seconds = None
    return Citation(
        n=n,
        episode=hit.episode,
        episode_title=hit.episode_title,
        chapter=hit.chapter,
        timestamp=format_timestamp(seconds),
        seconds=seconds,
        speaker=speaker or None,
        quote=quote,
        source_file=hit.source_file,
        kind=hit.kind,
        url=deep_link(hit.url, seconds),
        passage_id=hit.id,
    )


def deep_link(url: str | None, seconds: int | None) -> str | None:
    """``url`` opened at ``seconds``: a ``{seconds}`` template, or a ``t=`` query parameter."""
    if not url:
        return None
    if seconds is None:
        return url.replace("{seconds}", "0") if "{seconds}" in url else url
    if "{seconds}" in url:
        return url.replace("{seconds}", str(seconds))
    return f"{url}{'&' if '?' in url else '?'}t={seconds}"


def see_also(hits: list[Hit], limit: int = 3) -> list[Citation]:
    """The closest passages, offered when the answer abstains."""
    out = []
    for hit in hits[:limit]:
        first = hit.text.split("\n")[0]
        quote = first if len(first) <= 240 else first[:240].rsplit(" ", 1)[0] + "…"
        out.append(cite(hit, quote, len(out) + 1))
    return out


def renumber(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """Number markers by first appearance and drop citations the text never uses."""
    order: dict[int, int] = {}
    for m in re.finditer(r"\[(\d+)\]", text):
        old = int(m.group(1))
        if old not in order and any(c.n == old for c in citations):
            order[old] = len(order) + 1
    text = re.sub(
        r"\[(\d+)\]",
        lambda m: f"[{order[int(m.group(1))]}]" if int(m.group(1)) in order else "",
        text,
    )
    kept = []
    for old, new in sorted(order.items(), key=lambda kv: kv[1]):
        c = next(c for c in citations if c.n == old)
        kept.append(c.model_copy(update={"n": new}))
    return re.sub(r"[ \t]+", " ", text).strip(), kept


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
