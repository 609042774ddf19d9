"""Hybrid search: exact dense scores and BM25 over the same chunks, fused by reciprocal
rank, filtered by episode and speaker.

Only ids, vectors (memory-mapped) and a few small fields per chunk stay in memory for
search and filters; passage text is fetched from Chroma for the handful of hits returned,
never held twice, and a speaker filter asks Chroma which chunks list that speaker.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from assistant.config import RetrievalSettings
from assistant.errors import FilterError
from assistant.index.lexical import CROSSLINGUAL, MAIN, open_lexical, tokenize
from assistant.index.store import Manifest, Store, decode_metadata
from assistant.ingestion.text_formats import is_chapter_list
from assistant.retrieval.dense import DenseSpace
from assistant.retrieval.passages import PassageTable
from assistant.schema import Hit, format_timestamp
from assistant.text import WORD_RE, detect_language, stopword_stems

if TYPE_CHECKING:
    from collections.abc import Iterable

    from assistant.index.embeddings import LocalEmbedder

# Fusion's k and BM25's weight are settings (RetrievalSettings, with their measurements).
OTHER_LANGUAGES_WEIGHT = 0.5  # see Retriever.search
# An outline of a transcript with no chapters: a stretch per this many passages, at most so
# many stretches (a 75-minute interview of 140 passages gets 8 of about 9 minutes each).
SECTION_ROWS = 12
MAX_SECTIONS = 8
# A moment this long after an episode's last timed passage is past its end.
MOMENT_AFTER_END = 300
# Sentence vectors kept for the offline answerer (USE-m3's 512 floats: 8 MB at most).
SENTENCE_CACHE = 4096
# Passages read to tell whether two words are said one after the other.
ADJACENT_ROWS = 40
ADJACENT_KEPT = 1024


@dataclass
class Filters:
    """Resolved filters: exact episode labels and speaker names as indexed."""

    episodes: list[str] | None = None
    speakers: list[str] | None = None
    # Keep the episodes' articles in this language beside the speakers' turns: a write-up has
    # no speakers but is about them ("노암은 어떤 크레딧을…" is answered by the article on Noam).
    articles_in: str | None = None


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def resolve_filters(
    manifest: Manifest, episode: str | list[str] | None, speaker: str | list[str] | None
) -> Filters:
    """Match loosely written filters ("ep81", "81", "Noam") to what the index holds."""
    labels = list(dict.fromkeys(e.label for e in manifest.episodes))
    speakers = sorted({s for e in manifest.episodes for s in e.speakers})
    out = Filters()
    for wanted, known, field_name in ((episode, labels, "episode"), (speaker, speakers, "speaker")):
        if not wanted:
            continue
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        found: list[str] = []
        for name in names:
            key = _norm(name)
            digits = "".join(ch for ch in name if ch.isdigit())
            matches = [k for k in known if _norm(k) == key]
            if not matches and field_name == "episode" and digits:
                matches = [k for k in known if "".join(c for c in k if c.isdigit()) == digits]
            if not matches and key:
                matches = [k for k in known if key in _norm(k)]
            if not matches:
                raise FilterError(
                    f"no {field_name} matches {name!r}; the index has: {', '.join(known) or 'none'}"
                )
            found.extend(matches)
        setattr(out, field_name + "s", list(dict.fromkeys(found)))
    return out


class Retriever:
    """Searches one generation of the index.

    Dense search is exact and deterministic: each chunk's cosine to the question is one
    product with the generation's saved vector matrix (above ``retrieval.shortlist_above``
    chunks, with the rows a projection's scan shortlists; see ``DenseSpace``), so the same
    question gets the same passages in every process (Chroma's approximate search did not),
    and a filter is a mask, not a query. Chroma is read for the text and metadata of a
    passage the first time a search returns it (``PassageTable``), and for the rows a
    speaker filter names, the first time it is asked.
    """

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        embedder: LocalEmbedder,
        crosslingual: LocalEmbedder | None = None,
        fusion: RetrievalSettings | None = None,
    ) -> None:
        self.manifest = manifest
        self.fusion = fusion or RetrievalSettings()
        self.embedder = embedder
        self.collection = store.collection(manifest)
        self.crosslingual = crosslingual if manifest.crosslingual else None
        collections = [self.collection]
        if manifest.crosslingual:
            collections.append(store.collection(manifest, crosslingual=True))
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sentence_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._thread = threading.local()
        # The benchmark turns it off to time real embedding.
        self.cache_queries = self.fusion.query_cache > 0
        self._lock = threading.Lock()
        self.lexical = open_lexical(store, manifest, collections)
        # Every word of the corpus, unstemmed, to tell whether a name in a question occurs at all.
        # Names live in metadata, not passage text: "Roh" must count as known.
        self.vocabulary = set(self.lexical.vocabulary)
        for ep in manifest.episodes:
            for text in (ep.label, ep.title, *ep.speakers):
                self.vocabulary.update(WORD_RE.findall(text.lower()))
        # The words of speakers' names and episode labels, lower case.
        self.names = {
            w.lower()
            for ep in manifest.episodes
            for text in (ep.label, *ep.speakers)
            for w in WORD_RE.findall(text)
            if len(w) > 2 and w.isalpha()
        }
        self.ids = self.lexical.ids
        # (Korean, English) of each term the corpus's Korean text glosses in English.
        self.glosses = self.lexical.glosses
        self._dense = {
            space: DenseSpace(
                matrix,
                shortlist_above=self.fusion.shortlist_above,
                # Never fewer rows than a ranking hands to the fusion.
                shortlist=max(self.fusion.shortlist, self.fusion.candidates),
            )
            for space, matrix in self.lexical.vectors.items()
        }
        # Episode labels as small integers: np.isin over 50,000 label strings took 0.5 s when
        # a question named a label shared by many episodes ("Latent Space").
        self._episode_codes: dict[str, int] = {}
        self._episode = np.array(
            [
                self._episode_codes.setdefault(e, len(self._episode_codes))
                for e in self.lexical.episodes
            ],
            dtype=np.int32,
        )
        self._rows: dict[str, int] | None = None  # chunk id -> row, made for a speaker filter
        self._english = self.lexical.english
        # Rows where a speaker speaks, or of the articles in a language, asked of Chroma once.
        self._masks: dict[tuple[str, str], np.ndarray] = {}
        self._chapters: dict[str, dict[str, str]] = {}
        self._timelines: dict[str, list[tuple[int, int, str]]] = {}
        self._adjacent: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[str, str] | None] = {}
        # A write-up's chapter list is there for outlines, not search (dev: 2 lost to it).
        self._searchable = self.lexical.searchable
        self.passages = PassageTable()
        # Chroma's first read of a collection in a process took 0.11 s (loading its
        # segments): paid here, while opening, rather than by the first question.
        self.fetch(self.ids[:1])

    def unknown_share(self, terms: Iterable[str]) -> float:
        """Share of stemmed ``terms`` (those of three letters or more, stop words out) that
        occur nowhere in the corpus.

        "a good recipe for sourdough bread" scores 0.5: half of what it asks about is simply
        not in the episodes, however close "recipe" comes to "secret recipe".
        """
        terms = [t for t in terms if len(t) > 2 and t not in stopword_stems()]
        if not terms:
            return 0.0
        return sum(not self.lexical.known(t) for t in terms) / len(terms)

    @property
    def multilingual(self) -> bool:
        """Whether some chunks are in another language than English."""
        return not self._english.all()

    def adjacent(self, first: Iterable[str], second: Iterable[str]) -> tuple[str, str] | None:
        """The two words, if some passage says one of the words ``first`` right before one
        of ``second`` ("board game", "sync-up"): up to ``ADJACENT_ROWS`` passages holding
        both are read."""
        firsts, seconds = sorted(first), sorted(second)
        if not firsts or not seconds or not self.ids:
            return None
        key = (tuple(firsts), tuple(seconds))
        with self._lock:  # a question's searches ask it again, from any thread
            if key in self._adjacent:
                return self._adjacent[key]
        found = self._said_together(firsts, seconds)
        with self._lock:
            if len(self._adjacent) >= ADJACENT_KEPT:
                self._adjacent.clear()
            self._adjacent[key] = found
        return found

    def _said_together(self, firsts: list[str], seconds: list[str]) -> tuple[str, str] | None:
        # The passages that hold both sides best are read, not the first in store order:
        # with many words each side ("틱": tic, take, tech …) the one passage that says "Tic-Tac"
        # was past the first ADJACENT_ROWS holding any of them.
        both = np.full(len(self.ids), np.inf)
        for words in (firsts, seconds):
            scores = self._bm25_scores(" ".join(words))
            if scores is not None:  # None: stop words only ("up"), which BM25 does not keep
                both = np.minimum(both, scores)
        rows = np.flatnonzero(both > 0)
        rows = rows[np.argsort(-both[rows], kind="stable")][:ADJACENT_ROWS]
        ids = [self.ids[r] for r in rows]
        if not ids:
            return None
        either = "|".join(map(re.escape, firsts)), "|".join(map(re.escape, seconds))
        pattern = re.compile(rf"\b({either[0]})[\s-]+({either[1]})\b", re.I)
        texts = (text for _, text, _ in self.passages.get(ids, self.collection))
        found = next((m for text in texts if (m := pattern.search(text))), None)
        return (found.group(1).lower(), found.group(2).lower()) if found else None

    def rarity(self, term: str) -> float:
        """How rare a stemmed term is in this generation (inverse document frequency)."""
        return self.lexical.rarity(term)

    def query_vector(self, query: str, *, crosslingual: bool = False) -> np.ndarray:
        """The query's embedding, cached: the same question asked twice is embedded once."""
        key = ("x:" if crosslingual else "d:") + query
        # One answer searches its question several times (narrowed, then for the write-up,
        # the chapters, the names): this thread's last vector is kept even with the cache off.
        last = getattr(self._thread, "query", None)
        if last is not None and last[0] == key:
            return last[1]
        with self._lock:
            if self.cache_queries and key in self._query_cache:
                self._query_cache.move_to_end(key)
                return self._query_cache[key]
        embedder = self.crosslingual if crosslingual and self.crosslingual else self.embedder
        vector = embedder.embed_query(query)
        self._thread.query = (key, vector)
        with self._lock:
            self._query_cache[key] = vector
            while len(self._query_cache) > self.fusion.query_cache:
                self._query_cache.popitem(last=False)
        return vector

    @property
    def scores_sentences(self) -> bool:
        """Whether ``sentence_similarity`` is cheap enough to call for every answer."""
        return (self.crosslingual or self.embedder).cheap

    def sentence_similarity(self, question: str, sentences: list[str]) -> np.ndarray | None:
        """Each sentence's cosine to ``question`` in the space aligned across languages (the
        cross-lingual one, else the main one); ``None`` when that space is too slow for it
        (``scores_sentences``).

        Passage sentences are embedded on demand and kept (``SENTENCE_CACHE`` of them):
        overlapping passages and repeated questions share most of them.
        """
        space = self.crosslingual or self.embedder
        if not space.cheap or not sentences:
            return None
        vector = self.query_vector(question, crosslingual=self.crosslingual is not None)
        unique = list(dict.fromkeys(sentences))
        # One answer scores its sentences twice (choosing the lead passage, then writing):
        # what this thread embedded for this question is kept even with the cache off.
        recent = getattr(self._thread, "sentences", None)
        if recent is None or recent[0] != question:
            recent = self._thread.sentences = (question, {})
        vectors = {s: recent[1][s] for s in unique if s in recent[1]}
        with self._lock:
            for sentence in unique:
                if sentence not in vectors and sentence in self._sentence_cache:
                    self._sentence_cache.move_to_end(sentence)
                    vectors[sentence] = self._sentence_cache[sentence]
        need = [s for s in unique if s not in vectors]
        if need:
            fresh = dict(zip(need, space.embed_passages(need), strict=True))
            vectors.update(fresh)
            recent[1].update(fresh)
            with self._lock:
                # Not kept across questions while the benchmark times real embedding.
                if self.cache_queries:
                    self._sentence_cache.update(fresh)
                    while len(self._sentence_cache) > SENTENCE_CACHE:
                        self._sentence_cache.popitem(last=False)
        return np.array([vectors[s] for s in sentences]) @ vector

    def _mask(self, filters: Filters) -> np.ndarray | None:
        if not filters.episodes and not filters.speakers:
            return None if self._searchable.all() else self._searchable
        mask = self._searchable.copy()
        if filters.episodes:
            codes = [self._episode_codes[e] for e in filters.episodes if e in self._episode_codes]
            mask &= np.isin(self._episode, np.array(codes, dtype=np.int32))
        if filters.speakers:
            masks = [
                self._rows_where(("speaker", s), {"speakers": {"$contains": s}})
                for s in filters.speakers
            ]
            if filters.articles_in:
                language = filters.articles_in
                where = {"$and": [{"kind": "article"}, {"language": language}]}
                masks.append(self._rows_where(("articles", language), where))
            mask &= np.logical_or.reduce(masks)
        return mask

    def _rows_where(self, key: tuple[str, str], where: dict) -> np.ndarray:
        """A mask of the chunks Chroma finds for ``where`` (asked once per ``key`` and
        generation; ids of chunks this generation does not count are ignored)."""
        with self._lock:
            mask = self._masks.get(key)
        if mask is None:
            got = self.collection.get(where=where, include=[])
            if self._rows is None:
                self._rows = {pid: row for row, pid in enumerate(self.ids)}
            rows = [self._rows[pid] for pid in got["ids"] if pid in self._rows]
            mask = np.zeros(len(self.ids), dtype=bool)
            mask[rows] = True
            with self._lock:
                self._masks[key] = mask
        return mask

    def _bm25_scores(self, query: str) -> np.ndarray | None:
        terms = tokenize([query])[0] if self.ids else []
        return self.lexical.scores(terms) if terms else None

    def dense_space(self, *, crosslingual: bool = False) -> DenseSpace:
        """The vectors of the main or the cross-lingual space."""
        return self._dense[CROSSLINGUAL if crosslingual else MAIN]

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        candidates: int = 30,
        *,
        words: str | None = None,
        bm25_weight: float | None = None,
        other_words: str | None = None,
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first; BM25 matches ``words`` instead
        of the query when given, and counts ``bm25_weight`` in the fusion when given. An
        English query's ``other_words`` (its words in other languages) are matched in the
        chunks in other languages, a ranking of their own."""
        filters = filters or Filters()
        if not self.ids:
            return []
        english = detect_language(query) == "en"
        # A question not in English is searched in the cross-lingual space when the index has
        # one (the main space then needs no vector at all); its relevance is measured there.
        crosslingual = not english and self.crosslingual is not None
        vector = self.query_vector(query, crosslingual=crosslingual)
        mask = self._mask(filters)
        # The second dense ranking's rows (see below): chunks in the other languages.
        other = ~self._english if english else self._english
        second = other if mask is None else mask & other
        space = self.dense_space(crosslingual=crosslingual)
        dense = space.scores(vector, [mask, second])
        rankings: list[tuple[float, np.ndarray]] = [(1.0, top_rows(dense, mask, candidates))]
        bm25 = self._bm25_scores(words or query)
        if bm25 is not None:
            # Counted once for other languages: a Korean question's own words match only the
            # Korean article, and counted twice they put article chunks with a cosine under
            # 0.06 at rank 1 for 3 of the 10 Korean dev questions (hit@1 / hit@5 unchanged).
            weight = bm25_weight or (self.fusion.bm25_weight if english else 1.0)
            rankings.append((weight, top_rows(bm25, mask, candidates, positive=True)))
        if not english:
            # A space that is not perfectly aligned still pulls same-language text first: a
            # Korean question finds the Korean article before the English turns that answer
            # it. A ranking over English chunks alone lets those compete. BM25 stays: such
            # questions often carry English terms ("MoE", "continual learning").
            rankings.append((1.0, top_rows(dense, second, candidates)))
        else:
            # The other way round, at half weight: an English question whose answer is only
            # in the Korean article. On five such questions (none in the eval set) a Korean
            # passage reached the top 5 for 2 without this ranking, 4 with it at weight 0.5
            # and 5 at 1.0; on the dev split 0.5 changed nothing and 1.0 cost a question.
            rankings.append((OTHER_LANGUAGES_WEIGHT, top_rows(dense, second, candidates)))
            # And its words as the other languages say them, matched in their chunks: the
            # Korean write-up's "환경적 영향" for "environmental impact", which USE-m3 ranked
            # below 30 other chunks (dev: 2 such questions found, none lost; same at 0.25).
            translated = self._bm25_scores(other_words) if other_words else None
            if translated is not None:
                ranking = top_rows(translated, second, candidates, positive=True)
                rankings.append((OTHER_LANGUAGES_WEIGHT, ranking))
        fused: dict[int, float] = {}
        for weight, ranking in rankings:
            for rank, row in enumerate(ranking.tolist()):
                fused[row] = fused.get(row, 0.0) + weight / (self.fusion.rrf_k + rank + 1)
        # Weights 2 and 1 make exact ties common (BM25's 7th place scores what dense's 1st
        # does): the stronger BM25 match wins them, then the closer vector, then the row.
        lexical = bm25 if bm25 is not None else np.zeros(len(self.ids))
        space.fill(dense, vector, list(fused))  # BM25's rows a dense shortlist left out
        best = sorted(fused, key=lambda r: (-fused[r], -lexical[r], -dense[r], r))[:k]
        return self.fetch(
            [self.ids[r] for r in best],
            {self.ids[r]: float(dense[r]) for r in best},
            {self.ids[r]: fused[r] for r in best},
        )

    def outline(self, episodes: list[str], *, whole_articles: bool = False) -> list[Hit]:
        """An episode's shape for a summary: the first passage of each chapter, in episode
        order, and the first passage of its article (every one with ``whole_articles``: a
        summary of the write-up itself) and its chapter list, if it has them. A transcript
        with no chapters at all gives the most typical passage of each of its stretches
        instead (``sections``)."""
        out: list[str] = []
        for label in episodes:
            rows = self._episode_rows(label)
            if not rows:
                continue
            ids = [self.ids[r] for r in rows]
            meta = {pid: m for pid, _, m in self.passages.get(ids, self.collection)}
            # Each transcript's rows, unless a chapter of its own says how it goes.
            unchaptered: dict[str, list[int]] = {}
            chaptered: set[str] = set()
            for row, pid in zip(rows, ids, strict=True):
                m = meta.get(pid) or {}
                if m.get("kind") == "transcript":
                    unchaptered.setdefault(m.get("source_file", ""), []).append(row)
                    if m.get("chapter"):
                        chaptered.add(m.get("source_file", ""))
            seen: set[tuple[str, str, str]] = set()
            for pid in ids:
                m = meta.get(pid)
                if m is None:
                    continue
                # One file can hold a write-up and the transcript after it.
                file, kind = m.get("source_file", ""), m.get("kind", "")
                key = (file, kind, m.get("chapter") or "")
                if kind == "article" and is_chapter_list(m.get("chapter")):
                    key = (file, kind, pid)  # the whole list
                elif kind == "article":
                    key = (file, kind, pid if whole_articles else "")  # else one is enough
                if key in seen:
                    continue
                seen.add(key)
                if kind == "transcript" and file not in chaptered:
                    out.extend(self.ids[r] for r in self.sections(unchaptered[file]))
                else:
                    out.append(pid)
        return self.fetch(out, None)

    def sections(self, rows: list[int]) -> list[int]:
        """Of a transcript's rows in episode order, split into up to ``MAX_SECTIONS`` even
        stretches, the row of each stretch closest to the stretch's mean vector: what most
        of that stretch is about, where no chapter says it."""
        count = min(MAX_SECTIONS, max(1, round(len(rows) / SECTION_ROWS)))
        matrix = self.dense_space().matrix
        typical = []
        for part in np.array_split(np.array(rows), count):
            vectors = np.asarray(matrix[part], dtype=np.float32)
            typical.append(int(part[int(np.argmax(vectors @ vectors.mean(axis=0)))]))
        return typical

    def chapter_starts(self, label: str) -> dict[str, str]:
        """An episode's transcript chapters, in order, each with its first passage's id (read
        once: a generation's chapters never change)."""
        with self._lock:
            starts = self._chapters.get(label)
        if starts is None:
            starts = {}
            for hit in self.outline([label]):
                if hit.kind == "transcript" and hit.chapter:
                    starts.setdefault(hit.chapter, hit.id)
            with self._lock:
                self._chapters[label] = starts
        return starts

    def at(self, label: str, seconds: int, k: int = 2) -> list[Hit]:
        """The transcript passages of an episode from ``seconds`` on: the one being said
        then and the ones after it, ``k`` in all; none when the episode is over by then."""
        timeline = self._timeline(label)
        if not timeline or seconds > timeline[-1][1] + MOMENT_AFTER_END:
            return []
        # The first passage under way then, where the turn said then starts (passages
        # overlap); else the last begun by then (the first, before any is timed).
        during = [i for i, (start, end, _) in enumerate(timeline) if start <= seconds <= end]
        begun = [i for i, (start, _, _) in enumerate(timeline) if start <= seconds]
        first = during[0] if during else max(begun, default=0)
        return self.fetch([pid for _, _, pid in timeline[first : first + k]])

    def ends(self, label: str) -> int | None:
        """The last time an episode's passages give (``None``: it has none)."""
        timeline = self._timeline(label)
        return timeline[-1][1] if timeline else None

    def last(self, label: str) -> list[Hit]:
        """An episode's last timed transcript passage (none when it has none)."""
        timeline = self._timeline(label)
        return self.fetch([timeline[-1][2]]) if timeline else []

    def _timeline(self, label: str) -> list[tuple[int, int, str]]:
        """(start, end, id) of an episode's timed transcript passages, in episode order,
        read once: estimated times where only chapters are stamped."""
        with self._lock:
            timeline = self._timelines.get(label)
        if timeline is None:
            timeline = []
            for hit in self.fetch([self.ids[r] for r in self._episode_rows(label)]):
                times = [t for t in (hit.seconds, hit.end_seconds) if t is not None]
                times += [e.seconds for e in hit.estimates] + [
                    t.seconds for t in hit.turns if t.seconds is not None
                ]
                if hit.kind == "transcript" and times:
                    start = hit.estimate_at(0) if hit.estimates else hit.seconds
                    timeline.append(
                        (start if start is not None else min(times), max(times), hit.id)
                    )
            with self._lock:
                self._timelines[label] = timeline
        return timeline

    def openings(self, limit: int) -> list[Hit]:
        """The first passage of each episode, up to ``limit`` episodes in the index's order:
        of its transcript where it has one, else of its write-up."""
        articles = self._rows_where(("kind", "article"), {"kind": "article"})
        out: list[str] = []
        for label in list(dict.fromkeys(e.label for e in self.manifest.episodes))[:limit]:
            code = self._episode_codes.get(label)
            if code is None:
                continue
            rows = (self._episode == code) & self._searchable
            for found in (rows & ~articles, rows):
                if found.any():
                    out.append(self._first_id(found))
                    break
        return self.fetch(out, None)

    def introductions(self, people: list[tuple[str, str]]) -> list[Hit]:
        """For each (episode, speaker): the passage where the episode's transcript first
        names them or they first speak, whichever comes first (a host's welcome says who a
        guest is), then the first passage of its write-up that names them; in the order
        given."""
        articles = self._rows_where(("kind", "article"), {"kind": "article"})
        out: list[str] = []
        for label, person in people:
            code = self._episode_codes.get(label)
            if code is None:
                continue
            rows = (self._episode == code) & self._searchable
            speaks = self._rows_where(("speaker", person), {"speakers": {"$contains": person}})
            terms = tokenize([person.split()[0]])[0]
            named = self.lexical.scores(terms[:1]) > 0 if terms else np.zeros(len(rows), bool)
            for found in (rows & ~articles & (speaks | named), rows & articles & named):
                if found.any():
                    out.append(self._first_id(found))
        return self.fetch(list(dict.fromkeys(out)), None)

    def _episode_rows(self, label: str) -> list[int]:
        """An episode's rows in episode order (none for a label the index lacks)."""
        code = self._episode_codes.get(label)
        if code is None:
            return []
        # Chunk ids carry their position in the episode: "<episode id>:<00042>:<hash>".
        return sorted(np.flatnonzero(self._episode == code).tolist(), key=self.ids.__getitem__)

    def _first_id(self, rows: np.ndarray) -> str:
        """The id of the earliest chunk among ``rows`` (a non-empty mask): chunk ids sort by
        file, then by position in it."""
        return min(self.ids[r] for r in np.flatnonzero(rows))

    def fetch(
        self,
        ids: list[str],
        relevance: dict[str, float] | None = None,
        scores: dict[str, float] | None = None,
    ) -> list[Hit]:
        """Hits for chunk ids, in the given order, with their cosine ``relevance`` to the
        question (0 without one) and fused ``scores``."""
        if not ids:
            return []
        return [
            hit_from(pid, text, meta, (relevance or {}).get(pid, 0.0), scores)
            for pid, text, meta in self.passages.get(ids, self.collection)
        ]


def top_rows(
    scores: np.ndarray, mask: np.ndarray | None, limit: int, *, positive: bool = False
) -> np.ndarray:
    """Rows of the ``limit`` highest ``scores`` among ``mask`` (above 0 if ``positive``),
    best first; equal scores go to the earlier row, so every process ranks alike."""
    keep = scores > 0 if positive else np.isfinite(scores)
    if mask is not None:
        keep &= mask
    rows = np.flatnonzero(keep)
    if limit < len(rows):
        rows = rows[np.argpartition(-scores[rows], limit - 1)[:limit]]
    return rows[np.lexsort((rows, -scores[rows]))]


def hit_from(
    pid: str, text: str, stored: dict, relevance: float, scores: dict[str, float] | None
) -> Hit:
    """A ``Hit`` from a chunk's metadata as Chroma stores it."""
    meta = decode_metadata(stored)
    seconds = meta.get("seconds", -1)
    seconds = None if seconds is None or seconds < 0 else int(seconds)
    end = meta.get("end_seconds", -1)
    return Hit(
        id=pid,
        episode=meta["episode"],
        episode_title=meta.get("episode_title", ""),
        chapter=meta.get("chapter") or None,
        timestamp=format_timestamp(seconds),
        seconds=seconds,
        end_seconds=None if end is None or end < 0 else int(end),
        exact_time=bool(meta.get("exact_time")),
        speaker=meta.get("speaker") or None,
        speakers=meta["speakers"],
        text=text,
        source_file=meta["source_file"],
        kind=meta.get("kind", "transcript"),
        language=meta.get("language", "en"),
        url=meta.get("url") or None,
        score=(scores or {}).get(pid, 0.0),
        relevance=relevance,
        turns=meta["turns"],
        estimates=meta["estimates"],
    )
