"""Nothing a corpus file holds makes parsing or chunking take quadratic time.

Times are compared within one run (1 MB against 100 KB of the same text), never against a
fixed budget: a slow machine is as linear as a fast one. Linear work gives a ratio near 10;
the regexes and loops this replaced gave 100 and more (50 KB of "." took 55 s to index).
"""

from __future__ import annotations

import gc
import random
import re
import time

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.ingestion.chunking import chunk_episode
from assistant.ingestion.text_formats import MD_HEADING_RE, md_heading
from assistant.ingestion.transcripts import Metadata, parse_text
from assistant.text import split_sentences

SMALL, LARGE = 100_000, 1_000_000
# Linear work measures ~10, quadratic 100 and more; 30 leaves room for a busy 2-core machine
# (a run beside six test suites measured 32 once for 20 at rest) and still fails quadratic.
MAX_RATIO = 30
# Pieces that the parsers' patterns look for: end marks, capitals, stamps, headings, cues.
FRAGMENTS = [
    ".", "…", "?", " ", "\n", "\t", "A", "a", "Ann Lee ", "**", "[", "]", ":", "9", "99",
    "[00:01]", "#", "# ", "EP ", "1:00", "-->", "<v Ann>", '"', ")", "-", "'", "00:00:01.000",
]  # fmt: skip
PREFIXES = ["", "EP 1\nA title\n", "EP 1: An article\n\n", "WEBVTT\n\n", "### Timestamps\n"]


def _seconds(text: str) -> float:
    """Time to parse and chunk ``text`` as a corpus file. The garbage collector is paused:
    its passes over a million fresh objects are amortised linear but land at random, and
    this measures how the parsers' own work grows. CPU time, not wall time: parsing runs on
    one thread, and on a shared 2-core machine wall time also counts the moments another
    process held the core (1 MB of "." once measured 31.8 times 100 KB that way)."""
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        result = parse_text(text, "probe.txt", Metadata())
        if result.episode is not None:
            chunk_episode(result.episode, 512, 64)
        return time.thread_time() - started
    finally:
        gc.enable()


def _ratio(prefix: str, unit: str) -> float:
    def sized(size: int) -> str:
        return prefix + unit * (size // len(unit))

    small = min(_seconds(sized(SMALL)) for _ in range(2))
    large = _seconds(sized(LARGE))
    for _ in range(2):  # more tries: a busy machine, not a slow parser
        if large / small < MAX_RATIO:
            break
        large = min(large, _seconds(sized(LARGE)))
    return large / max(small, 1e-4)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(PREFIXES),
    unit=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10).map("".join),
)
@example(prefix="", unit=".")  # a run of dots: split_sentences
@example(prefix="EP 1\nA title\n", unit="Aa")  # one long capitalised word: the speaker names
@example(prefix="", unit="**Ann [99:99]**: hi\n")  # stamped turns with malformed times
@example(prefix="# a", unit=" ")  # a heading with a long run of spaces
def test_parse_and_chunk_time_grows_linearly(prefix, unit):
    _seconds("warm up the tokenizer. " * 10)
    assert _ratio(prefix, unit) < MAX_RATIO


_END_MARKS = '. !?…。"”’)a\n\t\u00a0'
_OLD_SENTENCE_RE = re.compile(r"[^\n]+?(?:[.!?…。]+[\"”’)]*(?=\s|$)|$)", re.DOTALL)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_END_MARKS, max_size=14))
def test_sentences_split_where_they_always_did(text):
    # The linear split must cut exactly where the old pattern did: chunks, quotes and the
    # shipped embedding cache (keyed by chunk text) all depend on it.
    old = [
        m.group(0).strip()
        for line in text.split("\n")
        for m in _OLD_SENTENCE_RE.finditer(line)
        if m.group(0).strip()
    ]
    assert split_sentences(text) == old


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="# \t\u3000a", max_size=10))
def test_markdown_headings_read_as_they_always_did(line):
    m = MD_HEADING_RE.match(line)
    assert md_heading(line) == (m.group("title") if m else None)


def test_sixteen_thousand_stamped_turns_with_bad_times_are_kept_and_each_named():
    rng = random.Random(13)
    lines = [
        f"**Ann [{rng.randint(60, 99)}:{rng.randint(60, 99)}]**: turn {i}" for i in range(16_000)
    ]
    result = parse_text("\n".join(lines), "probe.txt", Metadata())
    assert result.episode is not None and len(result.episode.segments) == 16_000
    assert not any(s.exact_time for s in result.episode.segments)
    named = {i.line for i in result.issues if "malformed turn timestamp" in i.message}
    assert named == set(range(1, 16_001))
