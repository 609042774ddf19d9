"""The parse of every shipped episode, pinned, and bad input reported by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.ingestion.corpus import load_corpus
from assistant.ingestion.text_formats import discover_speakers
from assistant.ingestion.transcripts import parse_file
from assistant.schema import format_timestamp

EPISODES = Path(__file__).resolve().parent.parent / "episodes"


@pytest.fixture(scope="module")
def corpus():
    return {e.source_file: e for e in load_corpus(EPISODES).episodes}


def chapter_times(episode):
    return [format_timestamp(c.seconds) for c in episode.chapters]


def test_ep81_header_chapters_and_speakers(corpus):
    ep = corpus["000_ffc5dd2c9992a3bc.txt"]
    assert (ep.number, ep.label, ep.kind, ep.language) == ("EP 81", "EP 81", "transcript", "en")
    assert ep.title == "Everything DeepSeek Changed: MoE and RLVR, 2025 AI Year in Review"
    assert sorted(ep.speakers) == ["Chester Roh", "Seonghyun Kim", "Seungjoon Choi"]
    assert chapter_times(ep) == [
        "00:00", "01:14", "04:34", "09:01", "12:01", "18:22", "28:01",
        "33:40", "40:06", "48:05", "49:37", "53:10", "1:00:13", "1:08:24",
    ]  # fmt: skip
    assert ep.chapters[2].title == "MoE, Higher Performance with Less Computation"
    assert ep.chapters[12].title == "How Should We Live in the Age of AI?"
    assert ep.chapters[12].seconds == 3613


def test_ep81_turns_word_for_word(corpus):
    ep = corpus["000_ffc5dd2c9992a3bc.txt"]
    first = ep.segments[0]
    assert first.speaker == "Chester Roh"
    assert first.text.startswith(
        "Today, as we are recording, is December 27, 2025, a Saturday morning."
    )
    # An unlabelled continuation line belongs to the same turn, as a new paragraph.
    assert "\nEspecially since 2025 had such a steep pace of change" in first.text
    assert (first.chapter, first.seconds, first.exact_time) == (
        "2025 AI Retrospective and 2026 Forecast", 0, False,
    )  # fmt: skip
    multiplier = next(s for s in ep.segments if "It’s called the compute multiplier." in s.text)
    assert multiplier.speaker == "Seonghyun Kim"
    assert multiplier.chapter == "MoE, Higher Performance with Less Computation"
    assert format_timestamp(multiplier.seconds) == "04:34"
    short = next(s for s in ep.segments if s.text == "They’re all Chinese.")
    assert short.speaker == "Seungjoon Choi"


def test_ep88_wrapped_lines_are_joined_into_sentences(corpus):
    ep = corpus["001_9b9945b10c66cd29.txt"]
    assert (ep.number, ep.title) == ("EP 88", "There Is No Secret")
    assert len(ep.chapters) == 20
    assert chapter_times(ep)[:4] == ["00:00", "01:17", "02:23", "03:40"]
    assert chapter_times(ep)[-1] == "49:01"
    env = next(c for c in ep.chapters if c.title.startswith("Environment Scaling"))
    assert format_timestamp(env.seconds) == "15:15"
    first = ep.segments[0]
    assert first.speaker == "Chester Roh"
    # "…is March 1st, 2026," / "a Sunday morning." were one sentence wrapped over two lines.
    assert first.text.startswith("Today, as we’re recording, is March 1st, 2026, a Sunday morning.")
    assert sorted(ep.speakers) == ["Chester Roh", "Seonghyun Kim", "Seungjoon Choi"]
    assert all(s.speaker in ep.speakers for s in ep.segments)


def test_ep79_chapters_and_two_hosts(corpus):
    ep = corpus["002_f53cec6422cb45fe.txt"]
    assert ep.number == "EP 79"
    assert ep.title == "AI Frontier: The Runaways' Alliance Retrospective & GPT 5.2"
    assert sorted(ep.speakers) == ["Chester Roh", "Seungjoon Choi"]
    assert len(ep.chapters) == 14
    assert chapter_times(ep)[-1] == "1:04:30"
    gdp = next(s for s in ep.segments if "the one I focused on is called GDPVal" in s.text)
    assert (gdp.speaker, format_timestamp(gdp.seconds)) == ("Chester Roh", "00:35")


def test_article_linked_to_ep88_without_timestamps(corpus):
    ep = corpus["003_30d4cdc4b6ed023c.txt"]
    assert (ep.number, ep.label, ep.kind) == ("EP 88", "EP 88", "article")
    assert ep.title.startswith("There Is No Secret | A New Sense of Balance")
    assert "preview image" not in ep.title
    assert all(s.seconds is None and s.speaker is None for s in ep.segments)
    env = next(s for s in ep.segments if "Environment Scaling" in s.text and s.chapter)
    assert env.chapter == ["3", "Environment Scaling: The Decisive Bottleneck of AI Progress"][1]


def test_stamped_turns_exact_times_and_korean_article(corpus):
    ep = corpus["004_8e7b0f6b4a5f4fe1.txt"]
    assert ep.label == "Latent Space · Noam Brown"  # from episodes.yaml
    assert ep.number is None
    assert set(ep.speakers) == {"Noam", "swyx", "Alessio"}
    listed = [s for s in ep.segments if s.kind == "article" and s.chapter == "타임스탬프"]
    article = [s for s in ep.segments if s.kind == "article" and s not in listed]
    turns = [s for s in ep.segments if s.kind == "transcript"]
    assert len(turns) == 182
    assert article and all(s.language == "ko" for s in article)
    # The write-up's chapter list: a row a passage of the write-up, for outlines.
    assert len(listed) == 21
    assert (
        listed[-1].text == "1:10:00 Closing Thoughts – Five-Year View and Open Research Directions"
    )
    assert all(s.language == "en" for s in turns)
    noam = next(s for s in turns if s.text.startswith("If you're asking if I used Cicero"))
    assert (noam.speaker, format_timestamp(noam.seconds), noam.exact_time) == (
        "Noam", "01:55", True,
    )  # fmt: skip
    # The chapter list is not transcript text, nor a chapter of any turn.
    assert not any("Games as Research Proving Grounds" in s.text for s in turns)
    assert not any(s.chapter for s in turns)


def test_magic_the_gathering_is_never_labelled_with_the_closing_chapter(corpus):
    ep = corpus["004_8e7b0f6b4a5f4fe1.txt"]
    magic = [s for s in ep.segments if s.kind == "transcript" and "Magic the Gathering" in s.text]
    assert magic and format_timestamp(magic[0].seconds) == "1:14:23"
    for seg in magic:
        assert seg.chapter is None or not seg.chapter.startswith("Closing")


def test_out_of_order_turn_time_is_not_shown_as_exact():
    result = parse_file(EPISODES / "004_8e7b0f6b4a5f4fe1.txt")
    bad = next(s for s in result.episode.segments if s.line_start == 150)
    assert (bad.seconds, bad.exact_time) == (11 * 60, False)
    assert any(i.line == 150 and "out of order" in i.message for i in result.issues)


def test_speakers_are_discovered_not_listed():
    lines = [
        "Ada Lovelace Hello there.",
        "Charles Babbage Good day.",
        "Of course, we continue.",
        "Ada Lovelace Let us begin.",
        "Charles Babbage Indeed.",
        "Claude Code is a tool.",
        "Ada Lovelace Yes.",
        "Charles Babbage Certainly.",
        "Claude Code is fine.",
        "Claude Code is here.",
    ]
    assert discover_speakers(lines) == ["Ada Lovelace", "Charles Babbage"]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_input_is_reported_by_file_and_line(tmp_path):
    empty = parse_file(write(tmp_path, "empty.txt", b"  \n"))
    assert empty.episode is None and "empty" in empty.issues[0].message

    binary = parse_file(write(tmp_path, "blob.txt", b"\x89PNG\x00\x00\x01"))
    assert binary.episode is None and "binary" in binary.issues[0].message

    bad = parse_file(write(tmp_path, "bad.txt", b"line one\nline two \xff\xfe here\n"))
    assert bad.episode is not None
    assert bad.issues[0].line == 2 and "invalid UTF-8" in bad.issues[0].message
    assert str(bad.issues[0]).startswith("warning: bad.txt:2:")


def test_bom_crlf_and_malformed_timestamp(tmp_path):
    text = (
        "\ufeffEP 7\r\nA Title\r\nIntro 00:00\r\nAnn Lee Hello there.\r\nBob Ray Hi.\r\n"
        "Ann Lee Good.\r\nBob Ray Fine.\r\nAnn Lee Bye.\r\nBob Ray Bye.\r\nLater 12:75\r\n"
        "Ann Lee After.\r\n"
    )
    result = parse_file(write(tmp_path, "ep7.txt", text.encode("utf-8")))
    ep = result.episode
    assert (ep.number, ep.title) == ("EP 7", "A Title")
    assert [c.title for c in ep.chapters] == ["Intro"]
    assert any(i.line == 10 and "malformed" in i.message for i in result.issues)
    assert not any("\r" in s.text for s in ep.segments)


def test_unknown_text_is_indexed_as_plain_text_with_a_warning(tmp_path):
    result = parse_file(write(tmp_path, "notes.md", b"Some notes.\n\nMore notes here.\n"))
    assert result.episode.kind == "text"
    assert len(result.episode.segments) == 2
    assert "plain text" in result.issues[0].message


def test_a_huge_single_line_parses(tmp_path):
    line = ("word " * 2_000_000).encode()  # 10 MB, no line break, no full stop
    result = parse_file(write(tmp_path, "huge.txt", line))
    assert result.episode is not None and result.episode.kind == "text"
