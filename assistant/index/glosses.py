"""Terms a Korean text glosses in English, in parentheses: "정보 검색(information retrieval)".

A Korean write-up of an English episode gives the English of many of its terms this way, so
the corpus itself says how its Korean and its English name the same thing, names and
phrases a dictionary lacks included ("자가 대국(Self-Play)", "일리야(Ilya)"). The index keeps
each file's glosses; a question in one language is then matched in the other's words.
"""

from __future__ import annotations

import re

from assistant.text import STOPWORDS

# Hangul words, then the English in parentheses right after them: letters, digits, spaces,
# hyphens, apostrophes; a few words at most (a parenthesis holding a sentence glosses none).
GLOSS_RE = re.compile(
    r"((?:[\uac00-\ud7a3]+ ){0,3}[\uac00-\ud7a3]+) ?\(([A-Za-z][A-Za-z0-9 '’&.-]{0,40})\)"
)
ENGLISH_WORD_RE = re.compile(r"[A-Za-z0-9]+")
# As many Hangul words as the English has, at most this many.
MAX_WORDS = 3


def glosses(text: str) -> set[tuple[str, str]]:
    """(Korean, English) for each term ``text`` glosses, the Korean as many words as the
    English has ("친칠라 스케일링 법칙(Chinchilla scaling law)"; "그리고 자가 대국(Self-Play)":
    자가 대국), both as written."""
    out: set[tuple[str, str]] = set()
    for m in GLOSS_RE.finditer(text):
        english = m.group(2).strip(" .-")
        # "theory of mind": 마음 이론, two words.
        count = sum(w.lower() not in STOPWORDS for w in ENGLISH_WORD_RE.findall(english))
        if not count or count > MAX_WORDS + 2:
            continue
        korean = m.group(1).split()[-min(count, MAX_WORDS) :]
        out.add((" ".join(korean), english))
    return out
