"""Words and sentences: the tokenising, stop words, stemming, sentence splitting and
shortening that the package, the evals and the benchmarks share."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer

WORD_RE = re.compile(r"[^\W_]+")
# A word in one script: Korean particles stick to the Latin names they follow ("Cognition은",
# "GPT-5.2의"), which are the same name as without them.
SCRIPT_WORD_RE = re.compile(r"[\uac00-\ud7a3]+|[^\W_\uac00-\ud7a3]+")
HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")


# Latin letters with accents: "Rocktäschel" in a question, "Rocktaschel" in the write-up.
ACCENTED_RE = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")


def fold(text: str) -> str:
    """``text`` with the accents of its Latin letters dropped ("Gödel": Godel), so that a
    name matches however it is spelled; Hangul and the rest stay as they are."""
    if not ACCENTED_RE.search(text):
        return text
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare)


def detect_language(text: str) -> str:
    """``ko`` when Hangul makes up a visible share of the letters, else ``en``."""
    hangul = len(HANGUL_RE.findall(text))
    letters = sum(ch.isalpha() for ch in text) or 1
    return "ko" if hangul / letters > 0.2 else "en"


HANGUL_RUN_RE = re.compile(r"[\uac00-\ud7a3]{2,}")


# Korean particles and endings that stick to a word ("비트코인이나", "에피소드인가요",
# "대학원생들한테"), longest first so that "에서는" goes before "는".
# fmt: off
_PARTICLES = [
    "은", "는", "이", "가", "을", "를", "의", "에", "에서", "에게", "께", "와", "과", "도", "만", "로", "으로",
    "이나", "나", "랑", "이랑", "까지", "부터", "처럼", "보다", "라고", "이라고", "라는", "이라는", "란", "이란", "인가요",
    "인가", "이에요", "예요", "에는", "에서는", "으로는", "로는", "와는", "과는", "이라", "라", "같은", "에서의", "에도",
    "하고", "이고", "들", "들은", "들이", "들을", "들의", "당", "별", "씩", "하다", "하는", "할", "한", "했", "해",
    "해서", "하면", "하기", "하게", "하려고", "된", "되는", "될", "됐", "적", "적인", "적으로",
    "한테", "한테서", "에게서", "께서",
]
# fmt: on
PARTICLES = tuple(sorted(_PARTICLES, key=len, reverse=True))


def strip_particles(word: str) -> str:
    """A Korean ``word`` without the particle or ending stuck to it, and the plural 들
    before it ("대학원생들한테": 대학원생), keeping at least two syllables."""
    for particle in PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            word = word[: -len(particle)]
            break
    return word[:-1] if word.endswith("들") and len(word) >= 3 else word


def without_honorific(word: str) -> str:
    """A Korean word without the honorific after a name ("체스터님": 체스터, "성현씨")."""
    return word[:-1] if word.endswith(("님", "씨")) and len(word) >= 3 else word


def syllable_pairs(text: str) -> set[str]:
    """Each pair of neighbouring Hangul syllables in ``text``: Korean sticks particles and
    endings to words ("법칙이", "법칙은"), so whole words rarely match between a question
    and a sentence, and their pairs do ("법칙")."""
    return {run[i : i + 2] for run in HANGUL_RUN_RE.findall(text) for i in range(len(run) - 1)}


def word_set(block: str) -> frozenset[str]:
    """The words of a block of whitespace-separated words: how word lists are written."""
    return frozenset(block.split())


# Words that carry no topic: function words (contractions and the fillers of speech too),
# question words, and podcast talk about talk. Negations are among them; a reader that
# cares about negation (the eval's judge) checks for it before it drops stop words.
STOPWORDS = word_set(
    """
    a an the and or but if then so of to in on at by for with from as is are was were be
    been being do does did have has had this that these those it its it's i you he she we
    they me him her us them my your his our their what which who whom whose when where why
    how about into over under again further there here all any both each few more most other
    some such no nor not only own same than too very can will just don't should now would
    could like also i'm you're we're they're that's there's i've we've you've i'd we'd
    you'd i'll we'll you'll let's yeah yes um uh oh okay ok well really actually kind sort
    lot lots thing things way say said says talk talked mention mentioned think thinks
    episode episodes podcast according
    """
)

# The end of a sentence: a whole run of end marks (the lookbehind starts it at the run's
# first mark, the possessive quantifiers never give part of it back), closing quotes or
# brackets, then a space or the end of the line. Splitting by these ends gives what the
# older ``[^\n]+?(?:[.!?…。]+["”’)]*(?=\s|$)|$)`` gave, in linear time: that one retried
# every start inside a run of dots not followed by a space (50 KB of "." took 55 s).
SENTENCE_END_RE = re.compile(r"(?<![.!?…。])([.!?…。]++)[\"”’)]*+(?=\s|$)")

QUOTE_CLOSERS = '"”’'
ATTRIBUTION_RE = re.compile(r"\s*[—―]")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (lines are hard breaks); stripped, empty ones dropped."""
    out = []
    for line in text.split("\n"):
        start = 0
        for m in SENTENCE_END_RE.finditer(line):
            # A sentence has a character before its end marks: a lone "." opening it is
            # that character, and the sentence runs on to the next end.
            if m.end(1) - start < 2:
                continue
            # A quote's attribution ("…" — Jim Fan) belongs to the quote, not to what follows.
            if m.group(0)[-1] in QUOTE_CLOSERS and ATTRIBUTION_RE.match(line, m.end()):
                continue
            out.append(line[start : m.end()])
            start = m.end()
        out.append(line[start:])
    return [s for s in (part.strip() for part in out) if s]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where the sentences of ``split_sentences`` are in ``text``, as ``(start, end)``."""
    spans = []
    cursor = 0
    for sentence in split_sentences(text):
        # Only space lies between one sentence and the next, so the first match is it.
        start = text.index(sentence, cursor)
        cursor = start + len(sentence)
        spans.append((start, cursor))
    return spans


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters, with
    "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # A word boundary in the second half; a single long word is cut where it is.
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


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
        for w in (t.lower() for t in SCRIPT_WORD_RE.findall(fold(text)))
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
