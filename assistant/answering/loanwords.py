"""Telling whether a word a Korean question borrows from English ("비트코인", "하네스") is
one the episodes ever say.

A Latin name the corpus lacks already makes a question uncovered (``unknown_names``); a
Korean question writes the same names in Hangul. Borrowed words keep the consonants of the
English they come from, so both are reduced to a consonant skeleton (voicing, r/l, f/p and
v/b merged, vowels dropped) and compared exactly: "비트코인" and "bitcoin" are both
``ptkn``; "하네스" and "harness" both ``hns``.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable, Iterator, Set
from functools import lru_cache
from typing import TypeVar

from assistant.text import (
    PARTICLES,
    STOPWORDS,
    WORD_RE,
    romanize,
    stem,
    strip_particles,
    without_honorific,
)

T = TypeVar("T")
K = TypeVar("K")
HANGUL_WORD_RE = re.compile(r"[\uac00-\ud7a3]+")
# How alike a borrowed word's romanization and the English word it spells must be, and by
# how much more alike than any other word with its consonants ("에이전트", eijeonte: agent
# .57, agenda .50, joined .27).
SPELLED_LIKE = 0.45
# The same for a word that neither looks borrowed nor is a dictionary loan, in a phrase the
# question quotes ("'미니 딥 리서치'": riseochi, research .62): quoted jargon is mostly
# English in Hangul, where elsewhere "올라온" (ollaon) came within .73 of "orion".
QUOTED_LIKE = 0.6
# And for a dictionary word whose senses do not sound like it, in a quoted phrase: "미니"
# (small) is "mini" (1.0), where "다시" (again) came within .75 of "days".
QUOTED_NATIVE_LIKE = 0.9
SPELLINGS_KEPT = 8192  # words whose spelling is kept, per vocabulary
SPELLED_MARGIN = 0.05
# Vowels by their index in a Hangul syllable: ㅡ, ㅓ, ㅔ, ㅣ.
_EU, _EO, _E, _I = 18, 4, 5, 20
# A word that still ends like a verb ("터질까요", "만드나요") is no borrowed noun; the few
# loans that end so ("이미지", "센서") are left unjudged.
VERB_ENDINGS = tuple("요다까죠니냐네며면고서지게자래")
# A noun made a verb with 시키다, however it ends ("학습시킬": 학습, learning, whose 킬
# looks borrowed): the noun is what the question says.
CAUSATIVE_RE = re.compile(
    r"(?<=[\uac00-\ud7a3]{2})(?:시키|시켜|시킨|시킬|시킵|시켰)[\uac00-\ud7a3]*$"
)
LONG_PARTICLES = tuple(p for p in PARTICLES if len(p) >= 2 and not p.startswith(("하", "되", "된")))
# Sino-Korean prefixes Korean puts before a borrowed word ("소그룹": small group): the word
# after them is the borrowing, when it clearly spells a corpus word.
PREFIXES = tuple("소대초신반재")
# Sino-Korean suffixes Korean puts after one ("에이전트용": for agents, "모델별": per model,
# "데이터화"): the word before them is the borrowing, when it looks borrowed on its own.
SUFFIXES = tuple("용형급별화적성상식")
# English particles of phrasal words Korean writes as one word with the word before
# ("싱크업": sync-up, "로그아웃": log out), too short to be heard on their own.
PHRASAL = {"업": "up", "아웃": "out", "다운": "down", "오프": "off", "백": "back"}
# ㅂ ㅅ ㅋ ㅍ: not ㄷ or ㄱ, whose 들려 and 글로 are native.
_CLUSTER_ONSETS = (7, 9, 15, 17)
# Native words that carry those syllables and are no loans.
# fmt: off
NATIVE = frozenset([
    "그", "그런", "그게", "그거", "그때", "어느", "크게", "크기", "모르", "다르", "쓰", "드리", "바쁘", "아프", "키우",
])
# fmt: on

# Hangul letters as consonant sounds: onsets, codas.
_ONSETS = ("k", "k", "n", "t", "t", "l", "m", "p", "p", "s", "s", "", "j", "j", "C", "k", "t")
_ONSETS += ("p", "h")
_CODAS = ("", "k", "k", "ks", "n", "nj", "n", "t", "l", "lk", "lm", "lp", "ls", "lt", "lp", "l")
_CODAS += ("m", "p", "ps", "t", "t", "N", "t", "t", "k", "t", "p", "t")
# Spellings of English consonant sounds, most specific first. "th" is heard as ㅅ or ㄷ.
_ENGLISH_SOUNDS = (
    ("tch", "C"),
    ("ture", "C"),  # picture 픽처, architecture 아키텍처
    ("tion", "sn"),
    ("sion", "jn"),
    ("ph", "p"),
    ("ck", "k"),
    ("sh", "s"),
    ("gh", ""),
    ("wh", ""),
    ("qu", "k"),
    ("x", "ks"),
)
_ENGLISH_LETTERS = str.maketrans("bdfgqvzcw", "ptpkkpjk ")


def borrowed_words(question: str, also: Callable[[str], bool] | None = None) -> Iterator[str]:
    """Hangul words of ``question`` that look borrowed from English, or that ``also``
    accepts, particles dropped."""
    for word in HANGUL_WORD_RE.findall(question):
        noun = strip_particles(word)
        if noun == word:
            # A one-syllable noun keeps its particle ("닭한테": to the chicken, whose 테
            # looks borrowed): a particle of two syllables or more comes off it too.
            noun = next((word[: -len(p)] for p in LONG_PARTICLES if word.endswith(p)), word)
        else:
            # Two particles stack ("분쯤부터인가요": 분쯤, about which minute): a second one
            # of two syllables or more comes off too, where two syllables stay.
            noun = next(
                (
                    noun[: -len(p)]
                    for p in LONG_PARTICLES
                    if noun.endswith(p) and len(noun) > len(p) + 1
                ),
                noun,
            )
        noun = CAUSATIVE_RE.sub("", without_honorific(noun))
        if len(noun) >= 3 and noun.endswith(SUFFIXES) and looks_borrowed(noun[:-1]):
            noun = noun[:-1]
        if (
            len(noun) >= 2
            and not plainly_native(noun)
            and (looks_borrowed(noun) or (also is not None and also(noun)))
        ):
            yield noun


def plainly_native(noun: str) -> bool:
    """Whether ``noun`` is no loan whatever its syllables: a native word of ``NATIVE``, or
    one that still ends like a verb."""
    return noun in NATIVE or noun.endswith(VERB_ENDINGS)


def distinct(word: str) -> bool:
    """Whether a Hangul word has consonants enough to stand for one English word: one
    ("데이터": t) could be any."""
    return max(map(len, hangul_skeletons(word))) >= 2


def looks_borrowed(word: str) -> bool:
    """Whether ``word`` has a syllable English loans are written with and Sino-Korean words
    never have: an open "eu" put between consonants (트, 스, 크, but not the particle 으), a
    ㅋ onset (코, 키; Sino-Korean has only 쾌), 터, 티, 테, 퍼, 페, or 블, 클, 플, 슬 before
    an l."""
    jamo = [_jamo(ch) for ch in word]
    for (onset, vowel, coda), following in zip(jamo, [*jamo[1:], None], strict=True):
        if (
            (vowel == _EU and coda == 0 and onset != 11)
            or onset == 15
            or (onset in (16, 17) and vowel in (_EO, _E, _I))
            # An English cluster before l: 블록 (block), 클로 (clo), 플랫 (plat), 슬라 (sla).
            or (
                onset in _CLUSTER_ONSETS
                and vowel == _EU
                and coda == 8
                and following
                and following[0] == 5
            )
        ):
            return True
    return False


def _jamo(ch: str) -> tuple[int, int, int]:
    onset, rest = divmod(ord(ch) - 0xAC00, 588)
    vowel, coda = divmod(rest, 28)
    return onset, vowel, coda


def hangul_skeletons(word: str) -> set[str]:
    """The consonants ``word`` is heard with: one skeleton, and one without the ㄹ of an
    open 르 that stands for an English r Korean spells out ("힐베르트": Hilbert)."""
    plain, dropped = [], []
    for ch in "".join(HANGUL_WORD_RE.findall(word)):
        onset, vowel, coda = _jamo(ch)
        sound = _ONSETS[onset] + _CODAS[coda]
        plain.append(sound)
        dropped.append("" if (onset == 5 and vowel == _EU and coda == 0) else sound)
    return {_collapse("".join(plain)), _collapse("".join(dropped))}


@lru_cache(maxsize=16384)
def english_skeletons(word: str) -> frozenset[str]:
    """The consonants an English word is heard with, in the letters ``hangul_skeletons``
    uses; "th" and a soft c or g give two readings ("anthropic": nslpk and ntlpk)."""
    readings = set()
    # Korean borrows the singular: 플랫폼 for "platforms".
    for w in _singulars(word.lower()):
        for spelling, sound in _ENGLISH_SOUNDS:
            w = w.replace(spelling, sound)
        readings.add(w)
    # "ch" is ㅊ in "chess" and ㅋ in "architecture".
    variants = ((r"th", ("s", "t")), (r"g(?=[eiy])", ("j", "k")), (r"ch", ("C", "k")))
    for pattern, options in variants:
        readings = {re.sub(pattern, o, r) for r in readings for o in options}
    out = set()
    for r in readings:
        r = re.sub(r"c(?=[eiy])", "s", r)
        r = re.sub(r"n(?=[kgc])", "N", r).replace("Ng", "N")
        # An r that no vowel follows is not pronounced ("percent" is 퍼센트).
        r = re.sub(r"r(?![aeiouy])", "", r).replace("r", "l")
        r = re.sub(r"(?<=[aeiou])y|^y", "", r)
        r = r.translate(_ENGLISH_LETTERS)
        out.add(_collapse(re.sub(r"[aeiouy ]", "", r)))
    return frozenset(out)


def _singulars(word: str) -> set[str]:
    if word.endswith("ies"):
        return {word, word[:-3] + "y"}
    if word.endswith("es"):
        return {word, word[:-1], word[:-2]}
    if word.endswith("s") and not word.endswith("ss"):
        return {word, word[:-1]}
    return {word}


def _collapse(skeleton: str) -> str:
    # "ll" in 클로 and "bb" in bubble are one sound each.
    return re.sub(r"(.)\1+", r"\1", skeleton)


class EnglishSounds:
    """The consonant skeletons of a corpus's Latin words, looked up by skeleton."""

    def __init__(self, vocabulary: Set[str]) -> None:
        self.skeletons: dict[str, set[str]] = {}
        self.hangul: list[str] = []
        # A question's words recur in its searches.
        self._spelled: dict[tuple[str, float], str | None] = {}
        for word in vocabulary:
            if word.isascii() and word.isalpha():
                for skeleton in english_skeletons(word):
                    self.skeletons.setdefault(skeleton, set()).add(word)
            elif HANGUL_WORD_RE.fullmatch(word):
                self.hangul.append(word)
        self.hangul.sort()

    def heard(self, word: str) -> bool:
        """Whether the corpus says ``word``: in Hangul, or as an English word with its
        consonants."""
        return self.in_korean(word) or any(s in self.skeletons for s in hangul_skeletons(word))

    def spelled(self, word: str, like: float = SPELLED_LIKE) -> str | None:
        """The corpus's English word that ``word`` spells in Hangul ("에이전트": agent, not
        "agenda" or "joined", whose consonants are the same): of the words with its
        consonants, the one spelled most like its romanization, if clearly so and at least
        ``like`` alike."""
        key = (word, like)
        if key not in self._spelled:
            if len(self._spelled) >= SPELLINGS_KEPT:
                self._spelled.clear()
            self._spelled[key] = self._spell(word, like)
        return self._spelled[key]

    def splits(self, word: str) -> Iterator[tuple[frozenset[str], ...]]:
        """For each cut of ``word`` in two, then in three, the corpus words (not stop words)
        each part can be heard as: English words Korean writes as one ("보드게임": board,
        game; "싱크업": sync, up; "샌프란시스코": san, francisco; "틱택토": tic, tac, toe).
        A part has consonants enough to stand for one word, but for the last of three
        ("토": toe), which the two before it pin down."""
        n = len(word)
        for cut in range(1, n):
            first, second = self._part(word[:cut]), self._part(word[cut:], last=True)
            if first and second:
                yield first, second
        for i in range(1, n - 1):
            first = self._part(word[:i])
            for j in range(i + 1, n) if first else ():
                second = self._part(word[i:j])
                third = self._part(word[j:], last=True, short=True)
                if second and third:
                    yield first, second, third

    def _part(self, part: str, *, last: bool = False, short: bool = False) -> frozenset[str]:
        if last and part in PHRASAL:
            return frozenset([PHRASAL[part]])
        return self._sounding(part) if short or distinct(part) else frozenset()

    def _sounding(self, part: str) -> frozenset[str]:
        found = (w for s in hangul_skeletons(part) for w in self.skeletons.get(s, ()))
        return frozenset(w for w in found if w not in STOPWORDS)

    def _spell(self, word: str, like: float) -> str | None:
        said = romanize(word).replace("eu", "")
        alike = sorted(
            (
                (difflib.SequenceMatcher(None, said, w).ratio(), w)
                for s in hangul_skeletons(word)
                for w in self.skeletons.get(s, ())
            ),
            reverse=True,
        )
        # Inflections of one word are one candidate: "agent" and "agents" do not compete.
        rivals = [a for a in alike if stem(a[1]) != stem(alike[0][1])] if alike else []
        if not alike or alike[0][0] < like:
            return None
        if rivals and rivals[0][0] > alike[0][0] - SPELLED_MARGIN:
            return None
        return alike[0][1]

    def in_korean(self, word: str) -> bool:
        """Whether a Korean word of the corpus starts with ``word`` (particles follow it)."""
        i = bisect.bisect_left(self.hangul, word)
        return i < len(self.hangul) and self.hangul[i].startswith(word)


def per_vocabulary(build: Callable[[K], T]) -> Callable[[K], T]:
    """``build`` made once for the vocabulary in use (or another object a retriever keeps
    per index generation, such as its glosses), so only a new generation builds it again."""
    kept: list[tuple[K, T]] = []

    def of(vocabulary: K) -> T:
        if not kept or kept[0][0] is not vocabulary:
            kept[:] = [(vocabulary, build(vocabulary))]
        return kept[0][1]

    return of


sounds_of = per_vocabulary(EnglishSounds)
"""``EnglishSounds`` of a vocabulary, kept for the vocabulary in use."""


Adjacent = Callable[[frozenset[str], frozenset[str]], tuple[str, str] | None]
"""Which two words, one of each set, a passage says one after the other (``Retriever.adjacent``)."""


def unheard_borrowings(
    question: str, vocabulary: Set[str], adjacent: Adjacent | None = None
) -> list[str]:
    """Words a Korean question borrows from English that the corpus never says
    ("비트코인" over episodes that never mention bitcoin). A borrowed word the question
    glosses in Latin letters ("하이퍼스티션(hyperstition)") is left to the name check, and
    one that is two English words the corpus says one after the other ("보드게임": board
    game) is heard, where ``adjacent`` tells whether it does."""
    borrowed = [w for w in dict.fromkeys(borrowed_words(question)) if distinct(w)]
    if not borrowed:  # an English question: no need of the corpus's sounds (0.26 s at 100x)
        return []
    latin = {s for w in WORD_RE.findall(question) if w.isascii() for s in english_skeletons(w)}
    sounds = sounds_of(vocabulary)
    return [
        word
        for word in borrowed
        if not (hangul_skeletons(word) & latin)
        and not sounds.heard(word)
        and not (word.startswith(PREFIXES) and len(word) > 2 and sounds.spelled(word[1:]))
        and not (adjacent and said_as_words(word, sounds, adjacent))
    ]


def said_as_words(word: str, sounds: EnglishSounds, adjacent: Adjacent) -> tuple[str, ...]:
    """The English words, one after the other in some passage, that a Hangul ``word``
    runs together ("샌프란시스코": san, francisco), or none."""
    for parts in sounds.splits(word):
        pair = adjacent(parts[0], parts[1])
        said = list(pair or ())
        for following in parts[2:] if pair else ():
            pair = adjacent(frozenset(said[-1:]), following)
            if not pair:
                break
            said.append(pair[1])
        if pair:
            return tuple(said)
    return ()
