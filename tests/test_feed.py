"""A podcast RSS feed read from disk: titles, numbers, dates and deep links completed from
it, its chapters put on turns by time, episodes.yaml still winning, nothing fetched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant, Settings
from assistant.ingestion.corpus import load_corpus
from assistant.schema import format_timestamp

FEED = Path(__file__).resolve().parent / "fixtures" / "feed"


@pytest.fixture
def feed_corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(FEED, target)
    return target


def test_feed_completes_the_files_and_its_chapters_label_turns_by_time():
    corpus = load_corpus(FEED)
    episodes = {e.source_file: e for e in corpus.episodes}
    # The feed and the chapters file it names are not episodes; of an episode's two
    # transcripts only the one that names speakers per cue is indexed, with a note.
    assert sorted(episodes) == ["hl-003.vtt", "tides.vtt"]
    twice = next(i for i in corpus.issues if "hl-003.srt" in i.message)
    assert (twice.file, twice.line) == ("feed.xml", 7)
    assert "hl-003.vtt is indexed, not hl-003.srt" in twice.message
    ep = episodes["hl-003.vtt"]
    assert (ep.label, ep.number, ep.show, ep.date) == (
        "EP 3",
        "EP 3",
        "Harbour Lights",
        "2026-03-03",
    )
    assert ep.title == "The Last Keeper of the Fastnet Rock"  # episodes.yaml wins over the feed
    assert ep.url == "https://cdn.harbour.example/audio/hl-003.mp3#t={seconds}"
    assert [(c.title, c.seconds) for c in ep.chapters] == [
        ("Welcome aboard", 0), ("The lens", 60), ("Automation", 120),
    ]  # fmt: skip
    # Ann's one turn runs across the chapter start at 1:00: it is split at the cue of 1:05.
    assert [(s.speaker, s.chapter, format_timestamp(s.seconds)) for s in ep.segments] == [
        ("Ann Lee", "Welcome aboard", "00:01"),
        ("Ann Lee", "The lens", "01:05"),
        ("Bob Ray", "Automation", "02:05"),
    ]
    assert ep.segments[0].seconds_at(ep.segments[0].text.index("The crossing")) == 20
    # A file the feed does not describe keeps what it says itself.
    assert (episodes["tides.vtt"].label, episodes["tides.vtt"].chapters) == ("tides", [])
    # A transcript only online is never fetched: the warning says which file to put where.
    missing = next(i for i in corpus.issues if "hl-004.json" in i.message)
    assert (missing.file, missing.line) == ("feed.xml", 17)
    assert "nothing is downloaded" in missing.message
    assert f"save it as {FEED / 'hl-004.json'}" in missing.message


def test_a_feed_outside_the_corpus_folder(tmp_path, feed_corpus):
    outside = tmp_path / "show.xml"
    (feed_corpus / "feed.xml").rename(outside)
    episodes = {e.source_file: e for e in load_corpus(feed_corpus, outside).episodes}
    assert episodes["hl-003.vtt"].label == "EP 3"
    assert episodes["hl-003.vtt"].chapters


def test_feed_citations_carry_chapter_time_and_deep_link(tmp_path, feed_corpus):
    bot = Assistant(
        Settings(corpus_dir=feed_corpus, index_dir=tmp_path / "index", answerer="offline")
    )
    report = bot.index()
    assert sorted(report.added) == ["hl-003.vtt", "tides.vtt"]
    hit = bot.search("What did the Fresnel lens float on?", k=1)[0]
    assert (hit.episode, hit.episode_title) == ("EP 3", "The Last Keeper of the Fastnet Rock")
    assert (hit.chapter, hit.timestamp, hit.speaker) == ("The lens", "01:05", "Ann Lee")
    answer = bot.ask("What did the Fresnel lens float on?")
    cited = next(c for c in answer.citations if "mercury" in c.quote)
    assert (cited.chapter, cited.timestamp, cited.speaker) == ("The lens", "01:05", "Ann Lee")
    assert cited.url == "https://cdn.harbour.example/audio/hl-003.mp3#t=65"
    # The feed's date names the episode: "the March 3 episode" is EP 3's outline.
    outline = bot.ask("What is the March 3, 2026 episode about?")
    assert outline.citations and {c.episode for c in outline.citations} == {"EP 3"}
    assert {c.chapter for c in outline.citations} == {"Welcome aboard", "The lens", "Automation"}

    # Editing the chapters re-indexes the episode they belong to, and only that one.
    chapters = feed_corpus / "hl-003.chapters.json"
    data = json.loads(chapters.read_text(encoding="utf-8"))
    data["chapters"][1]["title"] = "Mercury and glass"
    chapters.write_text(json.dumps(data), encoding="utf-8")
    report = bot.index()
    assert (report.updated, report.added, report.unchanged) == (["hl-003.vtt"], [], ["tides.vtt"])
    assert bot.search("What did the Fresnel lens float on?", k=1)[0].chapter == "Mercury and glass"


def test_cli_index_with_a_feed_outside_the_corpus(tmp_path, feed_corpus):
    outside = tmp_path / "show.xml"
    (feed_corpus / "feed.xml").rename(outside)
    (feed_corpus / "package.json").write_text('{"name": "not an episode"}', encoding="utf-8")
    env = {**os.environ, "EPISODE_ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    cli = [str(Path(sys.executable).parent / "episode-assistant"), "index"]
    done = subprocess.run(
        [*cli, "--corpus", str(feed_corpus), "--feed", str(outside)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 added, 0 updated, 0 removed, 0 unchanged, 1 skipped" in done.stdout
    assert "show.xml:17:" in done.stderr and "package.json:1:" in done.stderr
    bot = Assistant(Settings(corpus_dir=feed_corpus, index_dir=tmp_path / "index"))
    assert {e.label: e.show for e in bot.episodes()} == {"EP 3": "Harbour Lights", "tides": None}
    missing = subprocess.run(
        [*cli, "--feed", str(tmp_path / "nope.xml")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "feed file not found" in missing.stderr
