"""Words: the tokenising, stop words and stemming that matching and scoring share."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import Stemmer

WORD_RE = re.compile(r"[^\W_]+")
HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")


def detect_language(text: str) -> str:
    """``ko`` when Hangul makes up a visible share of the letters, else ``en``."""
    hangul = len(HANGUL_RE.findall(text))
    letters = sum(ch.isalpha() for ch in text) or 1
    return "ko" if hangul / letters > 0.2 else "en"


# Words that carry no topic: function words, question words, and podcast talk about talk.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "it's",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "our",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "about",
        "into",
        "over",
        "under",
        "again",
        "further",
        "there",
        "here",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "than",
        "too",
        "very",
        "can",
        "will",
        "just",
        "don't",
        "should",
        "now",
        "say",
        "said",
        "says",
        "talk",
        "talked",
        "mention",
        "mentioned",
        "think",
        "thinks",
        "episode",
        "episodes",
        "podcast",
        "according",
        "would",
        "could",
        "like",
        "also",
    ]
)

_local = threading.local()


def stemmer() -> Stemmer.Stemmer:
    """This thread's English stemmer (PyStemmer's aren't safe to share between threads)."""
    own = getattr(_local, "stemmer", None)
    if own is None:
        own = _local.stemmer = Stemmer.Stemmer("english")
    return own


def stem(word: str) -> str:
    """English stem of a lower-case word."""
    return stemmer().stemWord(word)


def content_terms(text: str) -> list[str]:
    """Stemmed words of ``text`` that say what it is about (stop words dropped)."""
    words = [
        w
        for w in (t.lower() for t in WORD_RE.findall(text))
        if w not in STOPWORDS and (len(w) > 1 or w.isdigit())
    ]
    return stemmer().stemWords(words)


@lru_cache(maxsize=1)
def stopword_stems() -> frozenset[str]:
    """``STOPWORDS`` stemmed, to drop them from already-stemmed tokens."""
    return frozenset(stem(w) for w in STOPWORDS)


# Revised Romanization of Korean, letter by letter: how a Korean question writes a name the
# episodes spell in Latin letters ("성현" is "seonghyeon", the transcripts' "Seonghyun").
_INITIALS = ("g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k")
_INITIALS += ("t", "p", "h")
_MEDIALS = ("a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u")
_MEDIALS += ("wo", "we", "wi", "yu", "eu", "ui", "i")
_FINALS = ("", "g", "kk", "gs", "n", "nj", "nh", "d", "l", "lg", "lm", "lb", "ls", "lt", "lp", "lh")
_FINALS += ("m", "b", "bs", "s", "ss", "ng", "j", "ch", "k", "t", "p", "h")


def romanize(text: str) -> str:
    """``text`` with each Hangul syllable spelled in Latin letters (others kept)."""
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < 11172:
            initial, rest = divmod(code, 588)
            medial, final = divmod(rest, 28)
            out.append(_INITIALS[initial] + _MEDIALS[medial] + _FINALS[final])
        else:
            out.append(ch)
    return "".join(out)
