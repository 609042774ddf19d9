"""Reading a question once: its language, the kind of answer it wants, the episodes and
speakers it names, whether it leans on the conversation, and the words it is about.

Every later step (condensing, retrieval, coverage, synthesis) takes this ``Query`` instead of
working the question out again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from assistant.answering.spelling import Respelling
from assistant.schema import Turn
from assistant.text import WORD_RE, content_terms, detect_language, romanize, stem, word_set

QuestionKind = Literal[
    "factoid",
    "who",
    "when",
    "summary",
    "comparison",
    "person",
    "moment",
    "catalog",
    "length",
    "empty",
    "small_talk",
]

FOLLOW_UP_START = re.compile(
    r"^(and|but|so|also|then|what about|how about|what else|and why|why not|"
    r"그럼|그리고|그러면|또)\b",
    re.IGNORECASE,
)
# "they" is left out on purpose: in a podcast "they" are the hosts, so "What did they say
# about the Apple Vision Pro?" stands on its own; "he", "it" and "that" point back.
ANAPHORA = re.compile(r"\b(he|she|him|her|his|hers|it|its|that|this|those|these)\b", re.I)
WHO_RE = re.compile(r"\bwho\b|\bwhich (guest|host|speaker|person)\b|누가|누구", re.I)
# "Who is Chester Roh?", "Tell me about swyx", "Who are the hosts?", "노암 브라운은
# 누구인가요?": who someone is, not who said something (that question has a topic).
PERSON_RE = re.compile(
    r"^\s*(who\s+(is|was|are|were)|who'?s|tell me (more )?about|what do (we|you) know about)\b"
    r"|^\s*who (hosts?|speaks?|appears?)\b"
    # In Korean the name comes first and the sentence is short: "EP 88에는 누가 나오나요?".
    r"|^\s*(\S+\s+){0,2}\S*\s*(누구(인가요|예요|에요|야|죠|입니까|인지|니)?|어떤 사람|누가 (나오|출연|진행))",
    re.I,
)
# Episodes a "person" answer goes through (each with who speaks in it).
MAX_CAST = 4
# Words that ask for the people of an episode when no one is named.
PEOPLE_RE = re.compile(
    r"\b(guests?|hosts?|speakers?|panel\w*|people|participants?|cast)\b|게스트|진행자|출연|호스트"
    r"|누가 (나오|진행)",
    re.I,
)
# "When Seonghyun listed X, who asked…" is a who-question; "when" must lead or ask.
WHEN_RE = re.compile(
    r"^\s*(when|at what point|what time|where in|how far into)\b"
    r"|\b(timestamp|which (part|minute|chapter)|what minute|at what time)\b"
    # 몇 분 asks at which minute only as 몇 분쯤, 몇 분에, 몇 분부터 …: "몇 분 정도 생각하게"
    # asks for how many minutes, and "몇 분이 모였나요" for how many people.
    r"|언제|어디쯤|몇 ?분\s*(?:쯤|께|경|즈음|무렵|대|에|부터|부근|째|지점|몇 ?초|정도(?:에|부터|쯤))"
    r"|타임스탬프",
    re.I,
)
# "When Cicero said something bizarre, how did players explain it?": a clause that sets the
# scene for the question after the comma, which is what asks.
WHEN_CLAUSE_RE = re.compile(
    r"^\s*when\b[^,?]*,\s*(?=(?:who|whom|whose|what|which|how|why|where|did|does|do|is|was|were"
    r"|are|can|could|would)\b)",
    re.I,
)
SUMMARY_RE = re.compile(
    r"\b(about|summar\w*|overview|outline|recap|gist|tl;?dr|cover(s|ed)?|topics?|main points?)\b"
    r"|요약|무엇에 관한|무슨 내용|어떤 내용|개요|주제|정리해|간추려|줄거리",
    re.I,
)
# "How long is EP 79?", "EP 88은 몇 분짜리야?": how long the episode runs.
LENGTH_RE = re.compile(
    r"^\s*how long (?:is|was|does|did)\b(?!.*\b(?:talk|speak|say|said|think|take|spend)\w*\b)"
    r"|\b(?:run ?time|running time|duration|length) of\b|\bhow many (?:minutes|hours) (?:is|long)\b"
    r"|몇 분짜리|몇 시간짜리|러닝 ?타임|길이가 (?:얼마|몇)|총 몇 분|재생 시간",
    re.I,
)
LENGTH_WORDS = frozenset(content_terms("long run running time duration length minutes hours"))
# "Which episodes do you have?", "list the episodes", "어떤 에피소드가 있어?": the catalogue.
CATALOG_RE = re.compile(
    r"^\s*(?:(?:what|which)\s+(?:episodes|shows|podcasts)\s+(?:do|can|are|have|is)\b"
    r"|(?:list|show)(?:\s+me)?\s+(?:all\s+)?(?:the\s+|your\s+)?(?:episodes|shows|podcasts)\b"
    r"|how many episodes\b"
    r"|what(?:'s| is) (?:in )?(?:the|your) (?:corpus|library|catalog(?:ue)?)\b)"
    r"|(?:어떤|무슨)\s*에피소드(?:가|들이)\s*있|에피소드\s*목록|에피소드는?\s*(?:몇 개|뭐가 있)",
    re.I,
)
# What a listener calls an episode, or its write-up: "the gist of the interview" and
# "summarize the Korean write-up" ask for the episode, not for a topic in it.
EPISODE_WORDS = frozenset(
    stem(w)
    for w in [
        *("interview", "conversation", "discussion", "show", "chat", "session", "recording"),
        *("write", "writeup", "article", "korean", "english", "intro", "notes", "blog", "post"),
    ]
)
COMPARE_RE = re.compile(
    r"\b(differ\w*|compar\w*|contrast|versus|vs\.?|both|each|across|between)\b|차이|비교|각각",
    re.I,
)
# Korean words that ask how things differ ("어떻게 다른가요", "차이점은"), particles attached.
KOREAN_DIFFER_RE = re.compile(r"^(어떻게|어떤|다른|다르|다릅|차이|비교|무엇|뭐가|뭐|각각)")
# Words that say what kind of answer is wanted, not what it is about: they must not decide
# whether the episodes cover a question, nor count as its topic.
ASKING_WORDS = frozenset(
    content_terms(
        "tell give explain describe discuss discussed discussion happen happened thing things "
        "way ways point part minute minutes time chapter chapters main summary summarize "
        "summarise overview outline recap gist topic topics cover covered show host hosts guest "
        "guests speaker speakers listener people someone somebody anyone person one ask asked "
        "asks answer answered mean means idea ideas view views opinion opinions differ "
        "difference different compare comparison contrast versus both across between "
        "reckon reckoned put puts keep keeps want wants know knows get gets got go goes "
        "really actually lot lots kind sort well maybe pretty something anything everything "
        "come comes came up many much see sees role roles outlook outlooks perspective "
        "perspectives stance stances attitude evolve evolved evolution emphasis connect "
        "connects connection relate relates talks talking saying mentions mentioning speak "
        "speaks spoke spoken timestamp timestamps moment bring brings brought begin begins "
        "began start starts started"
    )
)
EPISODE_NUMBER_RE = re.compile(
    # No \b after the number: Korean particles stick to it ("EP 88은").
    r"\b(?:ep|episode)\.?\s*#?\s*(\d{1,4})(?!\d)|(\d{1,4})\s*(?:화|회|편)|에피소드\s*(\d{1,4})",
    re.I,
)
# A question that says it is asking the episode's write-up ("according to the EP 88 write-up",
# "the Korean intro", "요약 기사에 따르면", "한국어 소개 글에서"), not what was said in the
# episode. A Korean "글" (text) only as a word of its own: "구글에서" is Google.
# "Andy Jones's blog post", "블로그 글": a post someone wrote, not the episode's write-up.
ARTICLE_RE = re.compile(
    r"\b(write-?ups?|articles?|show notes|(?:the|this|its|episode['’]?s?)\s+blog posts?"
    r"|(korean|english)\s+(summary|intro|introduction|text|version|post|notes))\b|기사|요약문"
    # "누구 글을 인용했나요", "그가 쓴 글": someone's post, not the episode's write-up (but
    # "한국어로 쓴 글" is).
    r"|(?<![\uac00-\ud7a3])(?<!블로그 )(?<!누구 )(?<!누구의 )(?<!어떤 )(?<!무슨 )(?<!어느 )"
    r"(?<!가 쓴 )(?<!이 쓴 )"
    r"글(?=에|의|은|을|이|\b)|(소개|정리|요약|한국어)\s?글",
    re.I,
)
# "the Korean write-up", "the English-language article", "한국어 정리 글": the write-up in that
# language, and no other, is asked.
ARTICLE_LANGUAGE_RE = re.compile(
    r"\b(?P<lang>korean|english)(?:[- ]language)?\s+(?:[\w-]+\s+){0,2}?"
    r"(?:write-?ups?|articles?|summary|intro|introduction|text|version|post|notes|blog)\b"
    r"|(?P<ko>한국어|한글|영어|영문)\s?(?:\S+\s?){0,2}?(?:글|기사|요약문|정리본)",
    re.I,
)
LANGUAGE_NAMES = {
    "korean": "ko",
    "한국어": "ko",
    "한글": "ko",
    "english": "en",
    "영어": "en",
    "영문": "en",
}
COMMAND_RE = re.compile(r"^\s*/\w+")
# A message that only greets, thanks or asks what the assistant is ("hi", "thanks!",
# "안녕하세요", "what can you do?"): it is told what to ask, not quoted the nearest passage
# (for "hello", swyx's "Hello, hello, and we're here recording…").
_HELLO = r"hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening)"
SMALL_TALK_RE = re.compile(
    rf"^(?:[\W_]*(?:{_HELLO}|"
    r"(?:thanks|thank you|thx|ty|cheers)(?: (?:so|very) much| a lot)?|ok(?:ay)?|cool|great|"
    r"nice|bye|goodbye|how are you(?: doing)?(?: today)?|how's it going|what's up|"
    r"who are you|what are you|what can you do|what do you do|what can i ask(?: you)?|help|"
    r"안녕(?:하세요|하십니까)?|반가워요?|반갑습니다|고마워요?|고맙습니다|감사합니다|감사해요|"
    r"땡큐|잘 지내(?:요|세요|셨어요)?|(?:넌 |당신은 )?누구(?:야|세요|예요|니|신가요)|"
    r"뭐 할 수 있어요?|뭘 할 수 있나요|도와줘|도움말)"
    r"(?: (?:there|all|everyone|again|guys|bot|you))?[\W_]*)+$",
    re.IGNORECASE,
)
THANKS_RE = re.compile(r"thank|thx|\bty\b|cheers|고마|감사|땡큐", re.IGNORECASE)
GREETING_RE = re.compile(
    rf"\b(?:{_HELLO}|how are you|how's it going|what's up)\b|안녕|반가|잘 지내", re.IGNORECASE
)
# Units of the quantities questions name, stemmed as ``content_terms`` stems them.
UNITS = word_set(
    """flop tflop petaflop exaflop token paramet param gb tb mb kb ms second minut hour day
    year percent dollar usd time bn million billion trillion gpu gpus"""
)
# A word that can be part of a name: capitalised, an acronym, or a version ("GPT-5.2").
NAME_WORD_RE = re.compile(r"[A-Za-z0-9][\w'’.\-]*")
# Capitalised words that describe rather than name ("the Korean write-up", "AI"): a passage
# need not say them to be about what is asked.
DESCRIPTORS = frozenset(
    content_terms(
        "ai korean english chinese japanese american european french german british "
        "monday tuesday wednesday thursday friday saturday sunday"
    )
)
HANGUL_RE = re.compile(r"[\uac00-\ud7a3]+")
# How close a romanized Hangul word must come to a speaker's first name to name them.
HANGUL_NAME_MATCH = 0.75
# "how many parameters", "how much did a ticket cost": the thing counted or priced.
HOW_MANY_RE = re.compile(
    r"\bhow (?:many|much)\s+(?:(?:did|does|do|is|was|were|are|would|will|can)\s+"
    r"(?:a|an|the|their|his|her|its)?\s*)?([a-z][a-z\-]+)",
    re.I,
)
# "What was the ticket price …", "what is the name of the company …": the attribute asked of
# something, which a passage that answers must hold. A name only for a company: where the
# episodes leave it unsaid they say so ("the new company required relocation"), while a
# metaphor or a format is named without the word, so asking its name must not abstain.
# "Which city / company …" asks for a name too, but the answer ("the UK") never says "city".
ATTRIBUTE_RE = re.compile(
    r"\bwhat(?:'s|’s| is| was| were| are)\s+(?:the|his|her|their|its|an?)\s+(?:[\w'’-]+\s+){0,2}?"
    r"(price|cost|age|salary|budget|valuation|revenue|population|height|scores?)\b"
    # "What benchmark scores did … get?"
    r"|\bwhat\s+(?:[\w'’-]+\s+){0,2}?(scores?)\s+(?:did|does|do|will|would)\b"
    r"|\b(name)\s+of\s+(?:the|his|her|their|that)\s+(?:new\s+)?(?:company|startup|firm|employer|lab)\b",
    re.I,
)
# "the second Runaways Alliance meetup": which one of a named series is asked about; a
# passage about the first does not answer it.
ORDINAL_RE = re.compile(r"\bthe\s+(second|third|fourth|fifth|sixth|next|upcoming)\s+(?=[A-Z0-9])")
# The same asks in Korean: "GPT-5.2의 파라미터 수는 몇 개인가요?", "티켓 가격은 얼마였나요?".
# Korean words cannot be matched against English passages, so the attribute nouns listeners
# ask figures of are listed with the English stem a passage giving that figure holds.
KOREAN_ASK_RE = re.compile(r"몇|얼마|무엇|무슨|어디|어느|뭐")
KOREAN_ATTRIBUTES = {
    "파라미터": "paramet",
    "매개변수": "paramet",
    "가격": "price",
    "요금": "price",
    "연봉": "salari",
    "월급": "salari",
    "나이": "age",
    "점수": "score",
    "고향": "hometown",
    "인구": "popul",
    "키는": "height",
}
# "회사 이름", "회사명": the name of a company, in Korean.
KOREAN_COMPANY_NAME_RE = re.compile(r"(회사|기업|스타트업|직장)(의)?\s*(이름|명)")
DEFINITION_RE = re.compile(
    r"^\s*what(?:'s| is| are| does| do)\s+(?:an?\s+|the\s+)?(?P<term>[\w\-.]+(?:\s+[\w\-.]+){0,3}?)"
    r"(?:\s+(?:mean|stand for|refer to))?"
    # "What is RLVR, and why does it matter?": the definition comes first.
    r"(?:\s*,?\s+and\s+(?:why|how|what|who|where|when)\b[^?]*)?\s*\??\s*$",
    re.I,
)

# A moment of an episode the question asks about: "at 30:00", "around the 30-minute mark",
# "minute 30", "30 minutes in", "1시간 5분쯤", "30분에". A bare number of minutes is a
# length ("think for 15 minutes", "talk about 15-minute thinking"), and a bare clock time
# no moment.
_KO_AT = r"\s*(?:쯤|경|즈음|께|에|부근|무렵)"
MOMENT_RE = re.compile(
    r"(?P<pre>\b(?:at|around|about|near|after|from|by)\s+(?:the\s+)?)?"
    rf"(?P<h>\d{{1,2}}:)?(?P<m>\d{{1,2}}):(?P<s>[0-5]\d)(?![\d:])(?P<ko>{_KO_AT})?"
    r"|\b(?:at|around|near|after|by)\s+(?:the\s+)?(?P<mm>\d{1,3})(?:\s*|-)"
    r"min(?:ute)?s?(?:\s+mark)?\b"
    r"|\bminute\s+(?P<m2>\d{1,3})\b"
    r"|\b(?P<m3>\d{1,3})\s+minutes?\s+in(?:to)?\b"
    r"|\b(?P<hh>\d{1,2})\s+hours?\s+in(?:to)?\b"
    rf"|(?:(?P<kh>\d{{1,2}})\s*시간\s*)?(?P<km>\d{{1,3}})\s*분(?:{_KO_AT}|\s*대)"
    rf"|(?P<kh2>\d{{1,2}})\s*시간(?:{_KO_AT}|\s*째)",
    re.I,
)

# A phrase the question quotes ("… ‘출근 첫날의 천재’에 비유한 사람은?", "Who said “a game of
# chicken”?"). A straight single quote opens only after no letter ("Noam's" is no quote)
# and closes before no Latin letter: a Korean particle may follow ("'미니 딥 리서치'라고").
QUOTED_RE = re.compile(
    r"[‘“«「『]([^’”»」』]{2,80})[’”»」』]|\"([^\"]{2,80})\"|(?<!\w)'([^']{2,80})'(?![A-Za-z0-9])"
)


class EpisodeRef(Protocol):
    """What reading a question needs to know of an indexed episode."""

    label: str
    title: str
    speakers: list[str]
    date: str | None


@dataclass(frozen=True)
class Name:
    """A name a question hinges on: as written, and as the stemmed terms passages hold."""

    surface: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Cast:
    """Who speaks in an episode: for a question that asks who someone is."""

    episode: str
    title: str
    speakers: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    """A question as read once: what every step of answering works from."""

    text: str  # as asked
    standalone: str  # what is searched: the question, or a follow-up with its context
    language: str
    kind: QuestionKind
    episodes: tuple[str, ...] = ()  # labels of episodes the question names
    speakers: tuple[str, ...] = ()  # speakers the question (or the one it follows) names
    # The episodes the conversation was about, for a follow-up that names none.
    context_episodes: tuple[str, ...] = ()
    follow_up: bool = False
    # Stemmed words the question is about (not how it asks): the evidence must hold them.
    focus: tuple[str, ...] = ()
    asks_for_number: bool = False
    asks_about_asking: bool = False  # "who asked whether…": a question is the answer
    # Names the question hinges on ("EU AI Act", "Apple Vision Pro", "GPT-5.2"), each as its
    # stemmed terms, and the attribute it asks of them ("how many *parameters*").
    entities: tuple[Name, ...] = ()
    attribute: str | None = None
    # "What is RLVR?": the term a definition is asked for.
    defines: str | None = None
    wants_article: bool = False  # "according to the write-up …"
    article_language: str | None = None  # "the Korean write-up": "ko"
    quoted: tuple[str, ...] = ()  # phrases the question quotes, searched on their own too
    quoted_words: tuple[str, ...] = ()  # the single words it quotes ("'하이퍼스티션'")
    # "the May episode" when no episode was recorded in May: nothing can answer it.
    undated: tuple[str, ...] = ()
    # For a "person" question: the episodes and the people in them it asks about.
    cast: tuple[Cast, ...] = ()
    # The words that name its episodes ("the December year-in-review", "Latent Space"), less
    # episode numbers: a search narrowed to those episodes gains nothing from matching them.
    naming: tuple[str, ...] = ()
    # A question not in English: the stemmed English words the corpus has for its words
    # (what its borrowed words spell), which English sentences can hold.
    english: tuple[str, ...] = ()
    # An English question over a corpus with Korean text: each of its stemmed terms and the
    # words that text has for it ("concern": 우려가), which Korean sentences can hold.
    korean: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Misspelt words read as the corpus's ("enviroment": environment); ``text`` has them
    # respelled, ``asked`` is the question as typed.
    respellings: tuple[Respelling, ...] = ()
    asked: str = ""
    # "What are they talking about at minute 30 of EP 88?": the moment asked about, in
    # seconds from the episode's start.
    at: int | None = None

    @property
    def as_typed(self) -> str:
        """The question as the user typed it."""
        return self.asked or self.text

    def within_named(self) -> str:
        """The search text less the words that name the episodes the question names."""
        text = EPISODE_NUMBER_RE.sub(" ", self.standalone)
        for phrase in sorted(self.naming, key=len, reverse=True):
            text = re.sub(re.escape(phrase), " ", text, flags=re.I)
        text = re.sub(r"\s+", " ", text).strip()
        return text if content_terms(text) else self.standalone

    def words_within(self, episodes: Sequence[str] | None) -> str | None:
        """The words to match in a search narrowed to ``episodes``: without those that name
        them when the question names them all (else ``None``: the question's own)."""
        return self.within_named() if episodes and set(episodes) <= set(self.episodes) else None

    @property
    def checkable_focus(self) -> tuple[str, ...]:
        """Focus terms that English passages can hold: the Korean words of a Korean question
        (particles attached) cannot be matched against them, its Latin-script terms can."""
        if self.language == "en":
            return self.focus
        latin = (t for t in self.focus if t.isascii())
        return tuple(dict.fromkeys([*latin, *self.english]))

    def with_english(self, words: Sequence[str]) -> Query:
        """The same reading with ``words`` as the English its words have in the corpus."""
        return replace(self, english=tuple(dict.fromkeys(content_terms(" ".join(words)))))

    def with_korean(self, words: Mapping[str, tuple[str, ...]]) -> Query:
        """The same reading with ``words`` as the Korean its terms have in the corpus."""
        return replace(self, korean=tuple(words.items()))

    @property
    def korean_words(self) -> str:
        """Every Korean word of ``korean``, for BM25."""
        return " ".join(dict.fromkeys(w for _, words in self.korean for w in words))

    def with_standalone(self, standalone: str) -> Query:
        """The same reading with another search text (a model condensed the follow-up)."""
        return replace(self, standalone=standalone)


def read_question(question: str, history: Sequence[Turn], episodes: Sequence[EpisodeRef]) -> Query:
    """Read ``question`` (already cleaned) against the indexed ``episodes``."""
    language = detect_language(question)
    labels = list(dict.fromkeys(e.label for e in episodes))
    speakers = sorted({s for e in episodes for s in e.speakers})
    named_episodes = tuple(episodes_named(question, labels))
    titled, title_words = episodes_titled(question, episodes, named_episodes)
    named_episodes += tuple(titled)
    dated, date_words, undated = episodes_dated(question, episodes, named_episodes)
    named_episodes += tuple(dated)
    title_words += date_words
    named_speakers = tuple(speakers_named(without_episode_phrases(question), speakers))
    # The title's words name the episode; they are not what is asked about it.
    naming = (*named_episodes, *title_words)
    focus = tuple(dict.fromkeys(topic_terms(question, naming, named_speakers)))
    follow = bool(history) and is_follow_up(question, focus, names_episode=bool(named_episodes))
    standalone = standalone_question(question, history) if follow else question
    if follow and not named_speakers:
        named_speakers = tuple(speakers_named(without_episode_phrases(standalone), speakers))
    if follow and not named_episodes:
        named_episodes = tuple(episodes_named(standalone, labels))
    context = tuple(history[-1].episodes) if follow and not named_episodes else ()
    if follow:  # the question it follows says what "it" is about; its names are not topics
        around = speakers_named(standalone, speakers)
        focus = tuple(dict.fromkeys([*focus, *topic_terms(standalone, named_episodes, around)]))
    kind = question_kind(question, named_episodes, focus)
    at = moment_asked(question)
    phrases, words = quotes(question)
    # "What are they talking about at minute 30 of EP 88?" asks for no outline of EP 88.
    if at is not None and kind in ("factoid", "who", "summary"):
        kind = "moment"
    cast: tuple[Cast, ...] = ()
    if kind in ("who", "factoid") and asks_who_someone_is(question, focus, named_speakers):
        # "Who are the speakers in the Noam Brown episode?" names Noam only by the episode.
        people = () if PEOPLE_RE.search(question) else named_speakers
        cast = cast_of(episodes, named_episodes, people)
        kind = "person" if cast else kind
    return Query(
        text=question,
        standalone=standalone,
        context_episodes=context,
        language=language,
        kind=kind,
        cast=cast,
        episodes=named_episodes,
        speakers=named_speakers,
        follow_up=follow,
        focus=focus,
        asks_for_number=bool(
            re.search(
                r"how (many|much|long|large|big|old|often|likely)|\bnumber\b|\bwhen\b|what year"
                r"|percent|what (share|fraction|proportion)|몇|얼마|언제|확률",
                question,
                re.I,
            )
        ),
        asks_about_asking=bool(
            re.search(r"\bwho (asked|asks)\b|\basked (whether|if|about)\b|질문한", question, re.I)
        ),
        entities=tuple(entities_named(question, [*naming, *named_speakers])),
        attribute=attribute_asked(question, language),
        defines=(m.group("term") if (m := DEFINITION_RE.match(question)) else None),
        quoted=phrases,
        quoted_words=words,
        undated=tuple(undated),
        wants_article=bool(ARTICLE_RE.search(question)),
        article_language=article_language(question),
        naming=(*title_words, *(p for e in named_episodes for p in _label_parts(e))),
        at=at,
    )


def article_language(question: str) -> str | None:
    """The language of the write-up ``question`` asks about ("the Korean write-up": "ko"), if
    it names one."""
    m = ARTICLE_LANGUAGE_RE.search(question)
    return LANGUAGE_NAMES[(m.group("lang") or m.group("ko")).lower()] if m else None


def moment_asked(question: str) -> int | None:
    """The moment of an episode ``question`` asks about, in seconds ("at 1:02:30", "minute
    30", "30분쯤"), or ``None``."""
    for m in MOMENT_RE.finditer(question):
        g = m.groupdict()
        if g["m"] is not None:
            if g["pre"] or g["ko"]:
                hours = int(g["h"][:-1]) if g["h"] else 0
                return hours * 3600 + int(g["m"]) * 60 + int(g["s"])
            continue
        if g["hh"] is not None or g["kh2"] is not None:
            return int(g["hh"] or g["kh2"]) * 3600
        minutes = next(int(g[k]) for k in ("mm", "m2", "m3", "km") if g[k] is not None)
        return (int(g["kh"]) * 3600 if g["kh"] else 0) + minutes * 60
    return None


def question_kind(question: str, episodes: Sequence[str], focus: Sequence[str]) -> QuestionKind:
    """What shape of answer the question wants."""
    if COMMAND_RE.match(question) or not any(
        ch.isalpha() or ch.isdigit() for w in WORD_RE.findall(question) for ch in w
    ):
        return "empty"
    if SMALL_TALK_RE.match(question):
        return "small_talk"
    if episodes and LENGTH_RE.search(question) and set(_latin_focus(focus)) <= LENGTH_WORDS:
        return "length"
    # "What episodes are there about MoE?" asks for a topic.
    if not episodes and CATALOG_RE.search(question) and set(_latin_focus(focus)) <= {"list"}:
        return "catalog"
    if len(episodes) >= 2 and (COMPARE_RE.search(question) or len(focus) >= 1):
        # "What's the difference between EP 79 and EP 81?": nothing is asked of them but
        # what each is, which is each one's outline.
        return "comparison" if [t for t in focus if not KOREAN_DIFFER_RE.match(t)] else "summary"
    # "What is EP 88 about?": an episode named and nothing else asked of it.
    # "요약 글", "summary article": the write-up's name asks for no summary of it.
    if episodes and SUMMARY_RE.search(ARTICLE_RE.sub(" ", question)) and not _latin_focus(focus):
        return "summary"
    if WHO_RE.search(question):
        return "who"
    if WHEN_RE.search(WHEN_CLAUSE_RE.sub("", question)):
        return "when"
    return "factoid"


def asks_who_someone_is(question: str, focus: Sequence[str], speakers: Sequence[str]) -> bool:
    """Whether the question asks who a named speaker is, or who speaks in an episode, with
    nothing else asked of them ("Who is the guest in EP 88?", not "Who talks about X?")."""
    if not PERSON_RE.search(question) or _latin_focus(focus):
        return False
    return bool(speakers) or bool(PEOPLE_RE.search(question))


def cast_of(
    episodes: Sequence[EpisodeRef], named: Sequence[str], speakers: Sequence[str]
) -> tuple[Cast, ...]:
    """The people a "person" question asks about, by episode: the named speakers in the
    episodes they speak in, or everyone who speaks in the named episodes (or in all)."""
    out = []
    for label in dict.fromkeys(e.label for e in episodes):
        if named and label not in named:
            continue
        refs = [e for e in episodes if e.label == label]
        people = [s for s in dict.fromkeys(s for e in refs for s in e.speakers)]
        if speakers:
            people = [s for s in people if s in speakers]
        if people:
            # The transcript's title: an article's adds its own headline.
            title = next((e.title for e in refs if e.speakers), refs[0].title)
            out.append(Cast(label, title, tuple(people)))
    return tuple(out[:MAX_CAST])


def _latin_focus(focus: Sequence[str]) -> list[str]:
    # Korean particles stay attached to words ("에피소드인가요"): only Latin-script terms are
    # a reliable sign that a Korean question asks about a topic rather than the episode.
    # Words for the episode itself ("the gist of the Noam Brown interview") are no topic.
    return [t for t in focus if t.isascii() and t not in EPISODE_WORDS]


def topic_terms(question: str, episodes: Sequence[str], speakers: Sequence[str]) -> list[str]:
    """The question's stemmed content words, less the words that only say how it asks and
    the names of the episodes and speakers it is narrowed to."""
    naming = set(content_terms(" ".join([*episodes, *speakers])))
    naming |= {"ep", "episod", "화", "회"}
    terms = []
    for term in content_terms(EPISODE_NUMBER_RE.sub(" ", question)):
        if term in ASKING_WORDS or term in naming or (term.isdigit() and len(term) <= 2):
            continue
        terms.append(term)
    return terms


def entities_named(question: str, naming: Sequence[str]) -> list[Name]:
    """Runs of capitalised words (or words with digits) in the question, as stemmed terms,
    less the names of the episodes and speakers it is narrowed to and question words that
    are capitalised only because they open it."""
    known = set(content_terms(" ".join(naming))) | {"ep", "episod"}
    # Korean particles stick to the names they follow ("Anthropic의"): they are not part of it.
    # Korean words between two names also end the first ("EP 88에서 Apple Vision Pro에"):
    # a comma stands in for them.
    question = HANGUL_RE.sub(" , ", question)
    runs: list[list[tuple[str, int]]] = [[]]
    for m in NAME_WORD_RE.finditer(question):
        # A capital that only opens the question ("Roughly, …") is no name; an acronym or a
        # version ("GPT-5.2", "MoE") is one wherever it stands.
        opening = not question[: m.start()].strip(" \"'“‘(")
        # "Gemini 3 comes up …": a capital that opens the question and is followed by a
        # number is a name with its version.
        versioned = bool(re.match(r" \d", question[m.end() :]))
        if opening and not versioned and not _looks_like_name(m.group(0)):
            runs.append([])
            continue
        # "AlphaGo-style" names AlphaGo; "GPT-5.2" keeps its version.
        word = "-".join(
            p
            for p in m.group(0).rstrip(".'’-").split("-")
            if p[:1].isupper() or any(c.isdigit() for c in p)
        )
        gap = question[runs[-1][-1][1] : m.start()] if runs[-1] else ""
        is_name = bool(word) and (word[0].isupper() or any(ch.isdigit() for ch in word))
        if not is_name or (runs[-1] and gap.strip()):
            runs.append([])
        if is_name:
            runs[-1].append((word, m.end()))
    out = []
    for run in runs:
        surface = " ".join(w for w, _ in run)
        terms = tuple(t for t in content_terms(surface) if t not in known and t not in DESCRIPTORS)
        # "10^24 FLOPs", "70B parameters": a quantity, which a passage may say otherwise
        # ("10 to the power of 24", "in FLOPs" two passages later), is no name to look for.
        if terms and not all(t.isdigit() or t in UNITS for t in terms):
            out.append(Name(surface, terms))
    return out


def _looks_like_name(word: str) -> bool:
    return any(ch.isdigit() for ch in word) or sum(ch.isupper() for ch in word) >= 2


def attribute_asked(question: str, language: str = "en") -> str | None:
    """The attribute a "how many / how much" question asks for, stemmed ("paramet"); for a
    Korean question, the English stem of the attribute noun it asks a figure of."""
    if language == "ko" and KOREAN_ASK_RE.search(question):
        if KOREAN_COMPANY_NAME_RE.search(question):
            return "name"
        return next((stem for word, stem in KOREAN_ATTRIBUTES.items() if word in question), None)
    m = HOW_MANY_RE.search(question) or ATTRIBUTE_RE.search(question) or ORDINAL_RE.search(question)
    if not m:
        return None
    terms = content_terms(next(g for g in m.groups() if g))
    return terms[0] if terms and terms[0] not in ASKING_WORDS else None


def is_follow_up(question: str, focus: Sequence[str], *, names_episode: bool = False) -> bool:
    """Whether a question leans on the conversation so far ("and what did Chester say?").

    A question with a topic of its own stands alone, pronouns or not: "What did they say about
    the Apple Vision Pro?" is new, "what did he mean by that?" is not.
    """
    if FOLLOW_UP_START.match(question):
        return True
    if names_episode:  # "What is EP 88 about?" says what it is about
        return False
    if not focus:
        return True
    return bool(ANAPHORA.search(question)) and len(focus) <= 2


def standalone_question(question: str, history: Sequence[Turn]) -> str:
    """Offline condensing: a follow-up is searched together with the question it follows.

    Only the last question is added, never its own context, so a conversation does not glue
    every earlier question onto the next one.
    """
    if not history:
        return question
    return f"{question} ({history[-1].question})"


def quoted_phrases(question: str) -> tuple[str, ...]:
    """The phrases of two words or more that ``question`` quotes: worth a search of their
    own (a translated quote finds the English turn better alone)."""
    return quotes(question)[0]


def quotes(question: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What ``question`` quotes, read once: its phrases of two words or more, and its
    single words (one word alone finds noise, "‘목발’": the intro, unless the corpus says it
    rarely; see the pipeline)."""
    quoted = dict.fromkeys(
        next(g for g in m.groups() if g).strip() for m in QUOTED_RE.finditer(question)
    )
    phrases = tuple(q for q in quoted if len(q.split()) >= 2)
    return phrases, tuple(q for q in quoted if len(q.split()) == 1)


def episodes_named(question: str, labels: Sequence[str]) -> list[str]:
    """Episodes a question names itself: "EP 81", "episode 88", "88화", "Latent Space",
    "the Noam Brown episode"; in the order it names them ("EP 79 had …; did EP 88 …?"
    compares EP 79 with EP 88)."""
    q = question.lower()
    numbers: dict[int, int] = {}
    for m in EPISODE_NUMBER_RE.finditer(q):
        numbers.setdefault(int(next(g for g in m.groups() if g)), m.start())
    hangul = list(HANGUL_RE.finditer(question))
    spelled = [_spellings(m.group()) for m in hangul]
    # Labels share their parts ("Latent Space · …" for every episode of that show): each
    # part is looked for once (500 episodes cost a Korean question 50 ms before).
    found: dict[str, int | None] = {}

    def said(part: str) -> int | None:
        """Where the question says ``part``, if it does."""
        if part not in found:
            at = q.find(part.lower())
            if at < 0 and (word := _spelled_in_hangul(part, spelled)) is not None:
                at = hangul[word].start()
            found[part] = at if at >= 0 else None
        return found[part]

    named: list[tuple[int, str]] = []
    for label in labels:
        m = re.fullmatch(r"EP (\d+)", label)
        if m:
            at = numbers.get(int(m.group(1)))
        else:
            at = min((a for p in _label_parts(label) if (a := said(p)) is not None), default=None)
        if at is not None:
            named.append((at, label))
    return [label for _, label in sorted(named, key=lambda n: n[0])]


def _label_parts(label: str) -> list[str]:
    """The parts of a label a question can name it by ("Latent Space", "Noam Brown")."""
    return [p.strip() for p in label.split("·") if len(p.strip()) > 3]


def _spellings(word: str) -> list[str]:
    """A Hangul word romanized, with and without its last one or two syllables (particles),
    and without the "eu" Korean puts between consonants of a borrowed name ("브라운": braun)."""
    return [w.replace("eu", "") for w in _hangul_words(word)]


def _spelled_in_hangul(name: str, spelled: list[list[str]]) -> int | None:
    """Which Hangul word of the question a name of two or more words starts at, if it is
    written in Hangul word by word ("노암 브라운 인터뷰" for "Noam Brown"). Borrowed names
    come out of Hangul loosely, so the words must sound alike on average, none of them far
    off."""
    words = [w.lower() for w in WORD_RE.findall(name)]
    if len(words) < 2 or not all(w.isalpha() for w in words):  # "EP 288" is no spoken name
        return None
    for start in range(len(spelled) - len(words) + 1):
        scores = [
            max(
                (difflib.SequenceMatcher(None, s, w).ratio() for s in spelled[start + i]), default=0
            )
            for i, w in enumerate(words)
        ]
        if min(scores) >= 0.55 and sum(scores) / len(scores) >= 0.7:
            return start
    return None


# "the year-in-review episode", "the 'There Is No Secret' episode": an episode named by
# words of its title, in the words just before "episode" (no "the" among them).
TITLE_REFERENCE_RE = re.compile(
    r"\bthe\s+((?:(?!the\b)[\w'’\"“”.:,&-]+\s+){1,5}?)(?:episode|interview|conversation|show)\b",
    re.I,
)
# "GPT-5.2 에피소드", "DeepSeek 편에서": a Korean question names an episode by the English
# words of its title written just before its word for an episode.
KOREAN_TITLE_REFERENCE_RE = re.compile(
    r"((?:[A-Za-z0-9][A-Za-z0-9.'’:&-]*\s+){1,5})(?:에피소드|회차|인터뷰|방송|편(?![집하리안견]))"
)
# Words that pick an episode by its place or its form, never by its title.
NOT_TITLE_WORDS = frozenset(
    content_terms(
        "first last latest previous next new newest recent earlier later other same whole full "
        "entire very korean english summary intro write up article transcript recording"
    )
)


def title_terms(episodes: Sequence[EpisodeRef]) -> dict[str, set[str]]:
    """Each episode label's title words, stemmed (a label's files pooled)."""
    titles: dict[str, set[str]] = {}
    for e in episodes:
        titles.setdefault(e.label, set()).update(content_terms(e.title))
    return titles


def episodes_titled(
    question: str, episodes: Sequence[EpisodeRef], named: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Episodes the question names by their title's words, and the words that name them.

    The one episode whose title holds most of the words before "episode" (at least half of
    them) is named; a tie names none.
    """
    references = sorted(
        [*TITLE_REFERENCE_RE.finditer(question), *KOREAN_TITLE_REFERENCE_RE.finditer(question)],
        key=lambda m: m.start(),
    )
    if not references:  # most questions: no title's words to read (5 ms at 500 episodes)
        return [], []
    titles = title_terms(episodes)
    found: list[str] = []
    phrases: list[str] = []
    for m in references:
        phrase = m.group(1)
        words = set(content_terms(phrase)) - NOT_TITLE_WORDS
        if not words:
            continue
        held = {label: len(words & terms) for label, terms in titles.items()}
        best = max(held.values(), default=0)
        winners = [label for label, n in held.items() if n == best]
        if best and 2 * best >= len(words) and len(winners) == 1:
            if winners[0] not in named and winners[0] not in found:
                found.append(winners[0])
            phrases.append(phrase)
    return found, phrases


MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
# "the March episode", "the December 27, 2025 recording", "the December year-in-review":
# a month right after "the", with its day and year if given.
DATE_REFERENCE_RE = re.compile(
    r"\bthe\s+(" + "|".join(MONTHS) + r")\b(?:\s+(\d{1,2})(?:st|nd|rd|th)?\b)?(?:,?\s+(\d{4})\b)?"
    r"(\s+(?:episode|interview|show|recording|conversation)\b)?",
    re.I,
)
# "3월 에피소드", "2026년 3월 1일 방송", "12월 녹화분": a month that names an episode.
KOREAN_DATE_REFERENCE_RE = re.compile(
    r"(?:(\d{4})년\s*)?(\d{1,2})월(?:\s*(\d{1,2})일)?\s*(?:에\s*)?(?:녹화(?:한|된|분)?\s*)?"
    r"(?:에피소드|방송|편|회차|녹화분)"
)
# The words after a month that may say which of its episodes ("the December year-in-review
# to …"): up to four, ending at a word for an episode or at punctuation.
FOLLOWING_WORDS_RE = re.compile(r"(?:\s+(?!(?:episode|interview|show|recording)\b)[\w'’-]+){0,4}")


def episodes_dated(
    question: str, episodes: Sequence[EpisodeRef], named: Sequence[str] = ()
) -> tuple[list[str], list[str], list[str]]:
    """Episodes the question names by their date ("the March episode", "3월 에피소드"), the
    words that name them, and the references to an episode of a date none was recorded on
    ("the May episode"). A month followed by a word for an episode names the episode of
    that month; of several, or with no such word, the one whose title holds most of the
    words that follow the month ("the December year-in-review"), or none."""
    # (year, month, day), the words, the words after them, whether "episode" follows.
    references: list[tuple[tuple[int | None, int, int | None], str, str, bool]] = []
    for m in DATE_REFERENCE_RE.finditer(question):
        if not (m.group(1)[0].isupper() or m.group(4)):
            continue  # "the march of progress", "the may …": a month only when capitalised
        day, year = (int(g) if g else None for g in (m.group(2), m.group(3)))
        month = MONTHS.index(m.group(1).lower()) + 1
        # "the December episode about GPT-5.2": what follows the episode is its topic.
        after = None if m.group(4) else FOLLOWING_WORDS_RE.match(question, m.end())
        references.append(
            ((year, month, day), m.group(0), after.group(0) if after else "", bool(m.group(4)))
        )
    for m in KOREAN_DATE_REFERENCE_RE.finditer(question):
        year, month, day = (int(g) if g else None for g in m.groups())
        if month and 1 <= month <= 12:
            references.append(((year, month, day), m.group(0), "", True))
    dates = {e.label: when for e in episodes if (when := _ymd(e.date))} if references else {}
    if not dates:  # most questions: no month to read (titles cost 5 ms at 500 episodes)
        return [], [], []
    titles = title_terms(episodes)
    found: list[str] = []
    phrases: list[str] = []
    undated: list[str] = []
    for (year, month, day), phrase, after, episode_word in references:
        labels = [
            label
            for label, (y, mo, d) in dates.items()
            if mo == month and day in (None, d) and year in (None, y)
        ]
        recorded = bool(labels)
        # Without "episode" after it, a month names an episode only by the title words that
        # follow ("the December year-in-review"): "the March meetup" is no episode.
        if len(labels) > 1 or (labels and not episode_word):
            words = set(content_terms(after)) - NOT_TITLE_WORDS
            held = {label: len(words & titles[label]) for label in labels}
            best = max(held.values())
            labels = [label for label in labels if best and held[label] == best]
            # The words that picked it name it too ("year-in-review"); the rest may be topic.
            phrase += " " + " ".join(
                w for w in after.split() if labels and set(content_terms(w)) <= titles[labels[0]]
            )
        if len(labels) == 1:
            if labels[0] not in named and labels[0] not in found:
                found.append(labels[0])
            phrases.append(phrase)
        elif not recorded and episode_word:  # two December episodes: only ambiguous
            undated.append(phrase)
    return found, phrases, undated


def _ymd(date: str | None) -> tuple[int, int, int] | None:
    """An ISO date's year, month and day (``None`` for none or a malformed one)."""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", date or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


# A guest's name as the name of an episode: "the episode with Noam Brown", "the Noam Brown
# interview", "노암 브라운 인터뷰에서". Asking about the episode is not asking what the guest
# said: "On what kind of day was the episode with Noam Brown recorded?" is answered by a
# host, whose turn a narrowing to Noam's turns had left out.
EPISODE_PHRASE_RE = re.compile(
    r"(?:\bthe\s+(?:[A-Z][\w'’.-]*\s+){0,4})?"
    r"\b(?:episode|interview|conversation|podcast|show|chat|talk)\s+(?:with|featuring)\s+"
    r"(?:[A-Z][\w'’.-]*\s*){1,3}"
    r"|\bthe\s+(?:[A-Z][\w'’.-]*\s+){1,4}(?:episode|interview|conversation|podcast)\b"
    r"|(?:[\uac00-\ud7a3]+\s+)?[\uac00-\ud7a3]+\s*(?:인터뷰|에피소드|편)(?=\s|[을를은는이가의에도]|$)"
)


def without_episode_phrases(question: str) -> str:
    """The question less the phrases in which a name only names an episode."""
    return EPISODE_PHRASE_RE.sub(" ", question)


def speakers_named(question: str, speakers: Sequence[str]) -> list[str]:
    """Speakers a question names, by full or first name, in Latin letters or in Hangul
    ("성현 님", "노암이")."""
    q = question.lower()
    spelled = _hangul_words(question)
    named = []
    for name in speakers:
        first = name.lower().split()[:1]
        if (
            name.lower() in q
            or any(len(p) > 2 and re.search(rf"\b{re.escape(p)}\b", q) for p in first)
            or any(sounds_like(w, p) for w in spelled for p in first if len(p) > 2)
        ):
            named.append(name)
    return named


def _hangul_words(question: str) -> list[str]:
    """Each Hangul word of the question romanized, also without one or two trailing
    syllables (particles and honorifics stick to names: "성현이", "체스터가")."""
    out = []
    for word in HANGUL_RE.findall(question):
        for cut in range(len(word), max(len(word) - 3, 1), -1):
            out.append(romanize(word[:cut]))
    return out


def sounds_like(romanized: str, name: str, alike: float = HANGUL_NAME_MATCH) -> bool:
    """Whether a romanized Hangul word is a spelling of ``name`` (lower case): it starts
    with the name's letter and comes within ``alike`` of it."""
    # Measured on the transcripts' names: 성현 / Seonghyun .84, 승준 / Seungjoon .82,
    # 체스터 / Chester .75, 노암 / Noam 1.0; unrelated words and other names stay under .5.
    # A name starts as it is spelled: "날씨" (weather, nalssi) scored .77 against Alessio.
    return (
        romanized[:1] == name[:1]
        and difflib.SequenceMatcher(None, romanized, name).ratio() >= alike
    )
