"""Deciding whether the retrieved passages can answer what is asked, before anything is
written: a close passage is not enough when the thing asked about is not in it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from assistant.answering.korean_words import native, nothing_present
from assistant.answering.loanwords import unheard_borrowings
from assistant.answering.question import ARTICLE_RE, ASKING_WORDS, HANGUL_RE, Query
from assistant.schema import Hit
from assistant.text import STOPWORDS, WORD_RE, content_terms, fold

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.retrieval.search import Retriever

# Share of a name of three words or more (weighted by rarity) a passage must hold.
ENTITY_SHARE = 2 / 3
# Capitalised anyway, or shorthand the corpus spells out: never a name to look for.
GENERIC_WORDS = STOPWORDS | {"ep", "ai", "tell", "give"}
# How a passage that gives an attribute may say it: a price is what something costs. A
# company's name stays "name" only: "called" is too common a word in a passage about it.
ATTRIBUTE_WORDS = {
    "price": frozenset(content_terms("price cost costs paid")),
    "cost": frozenset(content_terms("cost costs price paid spent")),
}
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’.\-]*")


@dataclass(frozen=True)
class Coverage:
    """Whether the evidence answers the question, and if not, why (for logs and evals)."""

    covered: bool
    reason: str = ""
    # Share of the focus held by the best passage (1.0 when the question has no focus).
    support: float = 1.0


def assess(query: Query, hits: list[Hit], retriever: Retriever, settings: Settings) -> Coverage:
    """Whether ``hits`` can answer ``query``: close enough, no name the corpus lacks, and
    the thing asked about present in a passage."""
    if query.kind in ("empty", "small_talk"):
        return Coverage(False, "the message asks nothing")
    if not hits:
        return Coverage(False, "nothing retrieved")
    if query.undated:
        return Coverage(False, f"no episode was recorded then: {query.undated[0]!r}")
    if query.kind == "summary":
        named = [h for h in hits if h.episode in query.episodes]
        return Coverage(bool(named), "" if named else "the episode has no passages")
    if query.kind == "person":
        return Coverage(True)
    if query.kind in ("moment", "catalog", "length"):
        return Coverage(True)  # what is said then, what there is, where it ends
    english = query.language == "en"
    floor = settings.answer.abstain_below if english else settings.answer.abstain_below_crosslingual
    # The best by relevance, not by rank: a comparison interleaves the episodes' passages.
    closest = max(h.relevance for h in hits)
    if closest < floor:
        return Coverage(False, f"best passage too far ({closest:.3f} < {floor})")
    # Not the words that say how it asks: "Give me a good recipe for kimchi jjigae" was
    # answered, "give" being a corpus word. (Not its focus alone either: a chapter title's
    # "forecast" is no passage's word.)
    # Nor the words that name the write-up asked ("the Korean article": no transcript
    # says "article").
    asked = ARTICLE_RE.sub(" ", query.standalone) if query.wants_article else query.standalone
    about = [t for t in content_terms(asked) if t not in ASKING_WORDS]
    if english and retriever.unknown_share(about) >= settings.answer.unknown_share:
        return Coverage(False, "most of the question's words are not in the corpus")
    missing = unknown_names(query.text, retriever.vocabulary) or [
        word
        for word in unheard_borrowings(query.text, retriever.vocabulary, retriever.adjacent)
        if not native(word)
    ]
    if missing:
        return Coverage(False, f"never mentioned: {', '.join(missing)}")
    if not english:
        absent = nothing_present(query.text, retriever.vocabulary, retriever.names)
        if absent:
            return Coverage(False, f"nothing asked is in the corpus: {absent[0].because}")
    held = [passage_terms(hit) for hit in hits]
    for entity in query.entities:
        if not any(names(entity.terms, terms, retriever) for terms in held):
            return Coverage(False, f"no passage names {entity.surface!r}")
    said = ATTRIBUTE_WORDS.get(query.attribute or "", frozenset({query.attribute}))
    if query.attribute and not any(
        said & terms and all(set(e.terms) <= terms for e in query.entities[:1]) for terms in held
    ):
        return Coverage(False, f"no passage gives the {query.attribute!r} asked for")
    return Coverage(True, support=focus_support(query, hits, retriever))


def names(entity: tuple[str, ...], terms: AbstractSet[str], retriever: Retriever) -> bool:
    """Whether a passage names ``entity``: all of a short name, or the rarer two thirds of a
    longer one ("World Diplomacy Championship" where the passage says "Diplomacy World
    Championship" or drops a word)."""
    if len(entity) <= 2:
        return set(entity) <= terms
    weights = {t: retriever.rarity(t) for t in entity}
    return sum(w for t, w in weights.items() if t in terms) >= ENTITY_SHARE * sum(weights.values())


def passage_terms(hit: Hit) -> frozenset[str]:
    """What a passage is about, as stemmed terms, for matching what a question asks."""
    # Titles and chapters name what a passage is about even where its text does not.
    return _terms_of(f"{hit.text} {hit.episode_title} {hit.chapter or ''}")


@lru_cache(maxsize=1024)
def _terms_of(text: str) -> frozenset[str]:
    # One answer reads the same passages three times (names looked up, coverage, support):
    # stemmed once. A Korean passage's Latin names carry particles ("Cognition은") that must
    # not hide them.
    return frozenset(content_terms(text)) | frozenset(content_terms(HANGUL_RE.sub(" ", text)))


def focus_support(query: Query, hits: list[Hit], retriever: Retriever) -> float:
    """The largest share of the question's focus that one passage holds, each term weighted
    by how rare it is in the corpus (a passage with "GPT-5.2" but not "parameters" does not
    answer "how many parameters does GPT-5.2 have?").

    Terms in a script the passages are not written in (the Korean words of a Korean question
    over English passages) cannot be checked this way and are left out.
    """
    focus = query.checkable_focus
    if not focus or not hits:
        return 1.0
    weights = {t: retriever.rarity(t) for t in focus}
    total = sum(weights.values()) or 1.0
    return max(
        sum(w for t, w in weights.items() if t in passage_terms(hit)) / total for hit in hits
    )


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
        for part in WORD_RE.findall(fold(core.lower())):
            if len(part) < 3 or part.isdigit() or part in GENERIC_WORDS or part in vocabulary:
                continue
            if not _close_match(part, vocabulary):
                missing.append(core)
                break
    return missing


def _close_match(word: str, vocabulary: set[str]) -> bool:
    pool = [v for v in vocabulary if v[:1] == word[:1] and abs(len(v) - len(word)) <= 2]
    return bool(difflib.get_close_matches(word, pool, n=1, cutoff=0.84))
