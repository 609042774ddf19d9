"""Reading a question's misspelt words as the corpus's words ("When do they talk about
enviroment scaling?": environment).

A word the episodes never say made the question look uncovered ("most of the question's
words are not in the corpus") and matched nothing in BM25, so one typo cost the answer.
A word is read as another only when it is neither in the corpus nor a common English word
(pyspellchecker's word frequencies: "recipe" stays, so a question about recipes is still
not covered), and some corpus word is within one edit of it (two for a long word; a
swap of neighbouring letters is one edit). Of those, one with the same first letter, and
then the one English uses most, wins, as in Norvig's corrector: "waht" is "what", not
"wait" or "want". Capitalised words inside a sentence are names, left to the name checks:
"Demis" is not "demos".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Set
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rapidfuzz import process
from rapidfuzz.distance import OSA

from assistant.answering.loanwords import per_vocabulary

if TYPE_CHECKING:
    from spellchecker import SpellChecker

# An English word used less than this (share of all words) may be a typo of a corpus word:
# "paly" (3e-8) is "play"; "recipe" (6e-6) is a word of its own.
COMMON_ENGLISH = 1e-7
MIN_LENGTH = 4  # shorter words have too many neighbours one edit away
LONG_WORD = 8  # from this length, two edits ("enviorment": environment)
# A name is read as a corpus word this alike (difflib's ratio), if it has this many letters.
MISHEARD_LIKE = 0.8
LONG_NAME = 7
POSSESSIVE_RE = re.compile(r"['’]s?$")
_WORD_RE = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?")
_SENTENCE_END_RE = re.compile(r"[.!?]\s*$")


@dataclass(frozen=True)
class Respelling:
    """A word of the question as typed, and the corpus word it is read as."""

    typed: str
    read: str


def respellings(question: str, vocabulary: Set[str]) -> list[Respelling]:
    """The misspelt words of ``question`` and the corpus words they stand for, in order."""
    out: dict[str, Respelling] = {}
    for match in _WORD_RE.finditer(question):
        typed = match.group()
        word = typed.lower()
        if typed in out:
            continue
        misheard = _misheard_name(typed, vocabulary)
        if misheard:
            out[misheard.typed] = misheard
            continue
        if not _may_be_misspelt(typed, question, match.start(), vocabulary):
            continue
        # Corpus words near it first: most words a corpus lacks have none, and then the
        # English word list (0.2 s to load) is not needed.
        nearby = _nearby(word, vocabulary)
        if nearby and _english().word_usage_frequency(word) < COMMON_ENGLISH:
            out[typed] = Respelling(typed, _likeliest(word, nearby))
    return list(out.values())


def respelled(question: str, fixes: list[Respelling]) -> str:
    """``question`` with each misspelt word replaced by the word it is read as."""
    for fix in fixes:
        question = re.sub(rf"(?<![A-Za-z]){re.escape(fix.typed)}(?![A-Za-z])", fix.read, question)
    return question


def notice(fixes: list[Respelling]) -> str:
    """What the user is told: "Read “enviroment” as “environment”."""
    return "Read " + ", ".join(f"“{f.typed}” as “{f.read}”" for f in fixes) + "."


def _may_be_misspelt(typed: str, question: str, start: int, vocabulary: Set[str]) -> bool:
    word = typed.lower()
    if len(word) < MIN_LENGTH or word in vocabulary or "'" in word or "’" in word:
        return False
    if typed[0].isupper() and not _starts_sentence(question, start):
        return False
    return not typed.isupper()  # an acronym ("RLVRR" is some other initialism, not a typo)


def _misheard_name(typed: str, vocabulary: Set[str]) -> Respelling | None:
    """A long name the corpus never says, read as the one corpus word that is nearly it
    with the same first letter: transcribers mishear names, and the question spells them
    right ("Richard Hamming's book" where the transcript says "Richard Hemmings'").
    Shorter names are too near other words to tell ("Demis" is not "demos")."""
    name = POSSESSIVE_RE.sub("", typed)
    word = name.lower()
    if not name[:1].isupper() or name.isupper() or len(word) < LONG_NAME or word in vocabulary:
        return None
    pool = [w for w in _corpus_words(vocabulary) if w[0] == word[0]]
    near = difflib.get_close_matches(word, pool, n=2, cutoff=MISHEARD_LIKE)
    if len(near) != 1 or _english().word_usage_frequency(word) >= COMMON_ENGLISH:
        return None
    return Respelling(name, near[0].capitalize())


def _starts_sentence(question: str, start: int) -> bool:
    before = question[:start].rstrip()
    return not before or bool(_SENTENCE_END_RE.search(before))


def _nearby(word: str, vocabulary: Set[str]) -> list[str]:
    """The corpus words fewest edits from ``word``, within the edits its length allows."""
    edits = 2 if len(word) >= LONG_WORD else 1
    found = process.extract(
        word, _corpus_words(vocabulary), scorer=OSA.distance, score_cutoff=edits, limit=None
    )
    nearest = min((distance for _, distance, _ in found), default=None)
    return [w for w, distance, _ in found if distance == nearest]


def _likeliest(word: str, nearby: list[str]) -> str:
    # A typo rarely hits the first letter: "scalling" is "scaling", not "calling", which
    # English uses more.
    english = _english()
    return max(nearby, key=lambda w: (w[0] == word[0], english.word_usage_frequency(w), w))


@per_vocabulary
def _corpus_words(vocabulary: Set[str]) -> list[str]:
    """The corpus's Latin words a misspelling can stand for, kept for the vocabulary in
    use."""
    return sorted(w for w in vocabulary if w.isascii() and w.isalpha() and len(w) >= 3)


@lru_cache(maxsize=1)
def _english() -> SpellChecker:
    # Loaded on the first question with a word the corpus lacks (0.2 s): its frequency list
    # of English ships in the package, nothing is downloaded.
    from spellchecker import SpellChecker

    return SpellChecker(distance=1)
