"""The transcript formats people bring (WebVTT, SRT, Podcasting 2.0 JSON and HTML, text
exports of transcription tools): speakers and exact times per turn and per cue, bad input
reported by file and line, and every format cited with speaker and time end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import Assistant, Settings
from assistant.answering.citations import cite
from assistant.ingestion.transcripts import parse_file
from assistant.schema import format_timestamp
from assistant.text import split_sentences

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"


def parsed(name: str):
    return parse_file(FIXTURES / name)


def turns(name: str) -> list[tuple[str | None, str | None]]:
    return [(s.speaker, format_timestamp(s.seconds)) for s in parsed(name).episode.segments]


def time_of(segment, words: str) -> str | None:
    return format_timestamp(segment.seconds_at(segment.text.index(words)))


def test_webvtt_voices_inline_names_notes_and_per_cue_times():
    result = parsed("harbour.vtt")
    ep = result.episode
    assert not result.issues
    assert (ep.kind, ep.title, ep.speakers) == (
        "transcript",
        "Harbour Lights, episode 3",
        ["Ann Lee", "Bob Ray"],
    )
    # <v.host Ann Lee> (closed and not), <v Bob Ray>, inline "Bob Ray:", two voices in one cue.
    assert turns("harbour.vtt") == [
        ("Ann Lee", "00:01"), ("Bob Ray", "00:14"), ("Ann Lee", "00:24"),
        ("Bob Ray", "01:31"), ("Ann Lee", "01:31"),
    ]  # fmt: skip
    first = ep.segments[0]
    assert all(s.exact_time for s in ep.segments)
    # Three cues make Ann's first turn; a quote from the third gets the third cue's time.
    assert time_of(first, "The Fresnel lens weighed") == "00:09"
    assert time_of(first, "who kept the lamp burning") == "00:04"  # a multi-line cue is one cue
    # No STYLE, REGION, NOTE, identifiers, settings or markup leaks into the text.
    text = " ".join(s.text for s in ep.segments)
    for leak in ("::cue", "width:40%", "NOTE", "intro", "align:", "<v", "</v>", "&amp;"):
        assert leak not in text
    assert "the beam swept the sea & the shore" in text
    # "Sam, can you hear me?" and "Note: …" are sentences, not speaker labels.
    third = ep.segments[2]
    assert third.text.startswith("Sam, can you hear me?")
    assert time_of(third, "Note: the keepers logged") == "01:27"


def test_srt_bom_numbers_inline_names_tags_and_blank_line_quirks():
    result = parsed("soil.srt")
    assert not result.issues
    assert turns("soil.srt") == [
        ("Mira Patel", "00:02"),
        ("Tom Okafor", "00:15"),
        ("Mira Patel", "01:26"),
    ]
    mira, tom, _ = result.episode.segments
    # A cue without a label continues the speaker before it; each keeps its own start.
    assert time_of(mira, "Today we dig into mycorrhizal networks, the fungal") == "00:05"
    assert time_of(mira, "A single teaspoon") == "00:09"
    # Cues 3 and 4 have no blank line between them: still two cues, two speakers.
    assert time_of(tom, "Farmers who stopped tilling") == "01:20"
    assert result.episode.segments[2].text.startswith("Mira, Tom and I")


def test_podcast_json_sentences_and_words_with_absent_speakers():
    sleep = parsed("sleep.json").episode
    assert turns("sleep.json") == [
        ("Iris Cho", "00:00"),
        ("Dev Rao", "00:09"),
        ("Iris Cho", "01:02"),
    ]
    dev = sleep.segments[1]
    # A segment without a speaker continues the one before it, with its own time.
    assert time_of(dev, "Even a twenty-minute nap") == "00:21"
    octopus = parsed("octopus.json").episode
    kemal = octopus.segments[0]
    # Word-timed segments are merged into sentences and turns, timed by their first word.
    assert kemal.text.startswith("Octopuses taste with the suckers on their arms. Each arm can")
    assert time_of(kemal, "Each arm can decide") == "00:05"
    assert [s.speaker for s in octopus.segments] == ["Kemal Aydin", "Lucy Hart", "Kemal Aydin"]
    assert len(kemal.cues) == 1  # one cue per sentence, not per word


def test_podcast_html_cite_time_paragraphs():
    result = parsed("bread.html")
    ep = result.episode
    assert not result.issues and ep.title == "Bread Lab, episode 9"
    assert turns("bread.html") == [
        ("Ruth Baker", "00:00"),
        ("Jon Miller", "00:12"),
        ("Ruth Baker", "01:05"),
    ]
    assert "rye flour every Sunday & it never complains" in ep.segments[1].text
    assert time_of(ep.segments[2], "Salt slows the fermentation") == "01:30"


@pytest.mark.parametrize(
    "name", ["garden.txt", "garden_paren.txt", "garden_otter.txt", "garden_trint.txt"]
)
def test_text_exports_of_transcription_tools(name):
    result = parsed(name)
    assert result.episode.kind == "transcript" and not result.issues
    assert turns(name) == [
        ("Priya Shah", "00:03"), ("Leo Grant", "00:09"), ("Priya Shah", "01:02"), ("Leo Grant", "01:10"),
    ]  # fmt: skip
    assert all(s.exact_time for s in result.episode.segments)


def test_text_export_sentence_starting_with_a_name_is_not_a_speaker():
    ep = parsed("garden.txt").episode
    assert ep.title == "Garden Hour, episode 12: espalier pears"
    leo = ep.segments[1]
    assert "Priya, that line was a sentence, not a speaker label." in leo.text
    # A bare "[00:01:42] …" line is a new stamp inside the current turn.
    assert time_of(ep.segments[3], "The wall stores the heat") == "01:42"


@pytest.mark.parametrize("name", ["broken.vtt", "broken.srt"])
def test_bad_cues_are_reported_by_line_and_the_rest_is_kept(name):
    result = parsed(name)
    where = {i.line: i.message for i in result.issues}
    first_line = 6 if name.endswith(".vtt") else 5
    assert "without a timing line" in where[first_line]
    assert "before it starts" in where[8]
    assert any("overlaps" in m for m in where.values())
    assert all(str(i).startswith(f"warning: {name}:") for i in result.issues)
    text = " ".join(s.text for s in result.episode.segments)
    for kept in ("forty metres", "meltwater lakes", "end comes before", "Crevasses", "moraine"):
        assert kept in text
    assert turns(name) == [("Lena Ortiz", "00:01"), ("Omar Said", "00:10"), ("Lena Ortiz", "00:12")]


def test_json_that_is_not_a_transcript_and_html_without_cite():
    other = parsed("package.json")
    assert other.episode is None
    assert str(other.issues[0]).startswith("warning: package.json:1: JSON but not a Podcasting")
    bees = parsed("nocite.html")
    assert any(i.line == 4 and "no <cite>" in i.message for i in bees.issues)
    assert [(s.speaker, format_timestamp(s.seconds)) for s in bees.episode.segments] == [
        (None, "00:00")
    ]
    assert time_of(bees.episode.segments[0], "Smoke masks") == "00:40"


def test_detection_goes_by_content_before_extension(tmp_path):
    copy = tmp_path / "captions.txt"
    shutil.copy(FIXTURES / "harbour.vtt", copy)
    assert parse_file(copy).episode.speakers == ["Ann Lee", "Bob Ray"]
    bad = tmp_path / "broken.json"
    bad.write_text('{"segments": [\n{"body": "x", "startTime": 1},\n', encoding="utf-8")
    result = parse_file(bad)
    assert result.episode is None and result.issues[0].line == 3


# --- end to end: index the fixtures, search and ask, check speaker and time ---------------


@pytest.fixture(scope="module")
def formats_bot(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("formats")
    corpus = root / "corpus"
    # One layout of the text exports: the others hold the same words and would crowd it out.
    shutil.copytree(FIXTURES, corpus, ignore=shutil.ignore_patterns("garden_*"))
    bot = Assistant(Settings(corpus_dir=corpus, index_dir=root / "index", answerer="offline"))
    report = bot.index()
    return bot, report


def test_a_bad_file_never_costs_the_rest(formats_bot):
    bot, report = formats_bot
    names = {e.source_file for e in bot.episodes()}
    assert "package.json" not in names
    assert {"harbour.vtt", "broken.vtt", "soil.srt", "sleep.json", "bread.html"} <= names
    assert any(str(i).startswith("warning: broken.vtt:6:") for i in report.issues)


@pytest.mark.parametrize(
    ("question", "file", "quote_words", "speaker", "timestamp"),
    [
        ("What did the Fresnel lens float on?", "harbour.vtt", "bath of mercury", "Ann Lee", "00:09"),
        ("How much fungal hyphae is in a teaspoon of forest soil?", "soil.srt", "teaspoon", "Mira Patel", "00:09"),
        ("Does a twenty-minute nap before the night shift improve reaction times?", "sleep.json", "nap", "Dev Rao", "00:21"),
        ("How many of the octopus neurons sit in the arms?", "octopus.json", "neurons", "Kemal Aydin", "00:16"),
        ("How fast does a wild yeast colony double at room temperature?", "bread.html", "doubles", "Ruth Baker", "01:05"),
        ("How many summers before an espalier pear gives its first fruit?", "garden.txt", "four summers", "Leo Grant", "01:10"),
    ],
)  # fmt: skip
def test_every_format_is_cited_with_speaker_and_time(
    formats_bot, question, file, quote_words, speaker, timestamp
):
    bot, _ = formats_bot
    hits = bot.search(question, k=3)
    hit = next(h for h in hits if h.source_file == file)
    assert hit.exact_time and hit.speaker
    sentence = next(s for s in split_sentences(hit.text) if quote_words in s)
    cited = cite(hit, sentence, 1)
    assert (cited.speaker, cited.timestamp) == (speaker, timestamp)
    answer = bot.ask(question)
    ours = [c for c in answer.citations if c.source_file == file and quote_words in c.quote]
    assert ours, answer.text
    assert (ours[0].speaker, ours[0].timestamp) == (speaker, timestamp)


def test_a_cue_out_of_order_is_reported_and_never_shown_as_exact(tmp_path):
    path = tmp_path / "order.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:10.000 --> 00:00:12.000\n<v Ann Lee>First.\n\n"
        "00:00:05.000 --> 00:00:06.000\n<v Bob Ray>Stamped before the cue above.\n",
        encoding="utf-8",
    )
    result = parse_file(path)
    assert [(i.line, "starts before" in i.message) for i in result.issues] == [
        (6, True)
    ]  # its timing line
    bob = result.episode.segments[1]
    assert (format_timestamp(bob.seconds), bob.exact_time) == ("00:10", False)
