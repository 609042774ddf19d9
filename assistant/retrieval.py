"""Hybrid search: dense vectors from Chroma and BM25 over the same chunks, fused by
reciprocal rank, filtered by episode and speaker.

Only ids and a few small fields per chunk stay in memory for BM25 and filters; passage text
is fetched from Chroma for the handful of hits returned, never held twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .chunking import speaker_key
from .lexical import open_lexical, tokenize
from .schema import Hit, format_timestamp
from .store import Manifest, Store
from .text import WORD_RE, stopword_stems
from .transcripts import detect_language

if TYPE_CHECKING:
    import chromadb

    from .embeddings import LocalEmbedder

RRF_K = 60
# Chroma's own filtered search reads the metadata of every matching row: ~65 µs a row, 0.33 s
# for "English chunks only" at 100x the shipped corpus, where an unfiltered search for the
# nearest 4,000 takes 25 ms. So a filter that keeps more than FILTER_ROWS chunks asks for the
# nearest OVERFETCH times the candidates unfiltered and keeps the matching ones, asking for 8
# times more while too few match, up to WIDEST; only then does Chroma filter. A filter that
# keeps at most FILTER_ROWS chunks scores them exactly from their stored vectors.
FILTER_ROWS = 500
OVERFETCH = 4
WIDEST = 4096


class FilterError(ValueError):
    """A filter names an episode or speaker the index does not have."""


@dataclass
class Filters:
    """Resolved filters: exact episode labels and speaker names as indexed."""

    episodes: list[str] | None = None
    speakers: list[str] | None = None

    def where(self) -> dict | None:
        """The Chroma ``where`` clause for these filters."""
        clauses: list[dict] = []
        if self.episodes:
            clauses.append({"episode": {"$in": self.episodes}})
        if self.speakers:
            ors = [{speaker_key(s): True} for s in self.speakers]
            clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


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
    """Searches one generation of the index."""

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        embedder: LocalEmbedder,
        crosslingual: LocalEmbedder | None = None,
    ) -> None:
        self.manifest = manifest
        self.embedder = embedder
        self.collection = store.collection(manifest)
        self.crosslingual = crosslingual if manifest.crosslingual else None
        self.xcollection = (
            store.collection(manifest, crosslingual=True) if self.crosslingual else None
        )
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_queries = True  # the benchmark turns it off to time real embedding
        self._lock = threading.Lock()
        self.lexical = open_lexical(store, manifest, self.collection)
        # Every word of the corpus, unstemmed, to tell whether a name in a question occurs at all.
        # Names live in metadata, not passage text: "Roh" must count as known.
        self.vocabulary = set(self.lexical.vocabulary)
        for ep in manifest.episodes:
            for text in (ep.label, ep.title, *ep.speakers):
                self.vocabulary.update(WORD_RE.findall(text.lower()))
        self.ids = self.lexical.ids
        self._row = {pid: i for i, pid in enumerate(self.ids)}
        # Rows of files an update replaced, not yet deleted (or left by a killed update): the
        # dense search asks for that many more and drops them.
        self._stale = max(0, self.collection.count() - len(self.ids))
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
        self._speakers = self.lexical.speakers
        self._english = self.lexical.english
        self._speaker_masks: dict[str, np.ndarray] = {}

    def unknown_share(self, query: str) -> float:
        """Share of the query's (stemmed, non-stopword) terms that occur nowhere in the corpus.

        "a good recipe for sourdough bread" scores 0.5: half of what it asks about is simply
        not in the episodes, however close "recipe" comes to "secret recipe".
        """
        terms = [t for t in tokenize([query])[0] if len(t) > 2 and t not in stopword_stems()]
        if not terms:
            return 0.0
        return sum(not self.lexical.known(t) for t in terms) / len(terms)

    def rarity(self, term: str) -> float:
        """How rare a stemmed term is in this generation (inverse document frequency)."""
        return self.lexical.rarity(term)

    def query_vector(self, query: str, *, crosslingual: bool = False) -> np.ndarray:
        """The query's embedding, cached: the same question asked twice is embedded once."""
        key = ("x:" if crosslingual else "d:") + query
        with self._lock:
            if self.cache_queries and key in self._query_cache:
                self._query_cache.move_to_end(key)
                return self._query_cache[key]
        embedder = self.crosslingual if crosslingual and self.crosslingual else self.embedder
        vector = embedder.embed_query(query)
        with self._lock:
            self._query_cache[key] = vector
            while len(self._query_cache) > 512:
                self._query_cache.popitem(last=False)
        return vector

    def _mask(self, filters: Filters, *, english_only: bool = False) -> np.ndarray | None:
        if not filters.episodes and not filters.speakers and not english_only:
            return None
        mask = self._english.copy() if english_only else np.ones(len(self.ids), dtype=bool)
        if filters.episodes:
            codes = [self._episode_codes[e] for e in filters.episodes if e in self._episode_codes]
            mask &= np.isin(self._episode, np.array(codes, dtype=np.int32))
        if filters.speakers:
            mask &= np.logical_or.reduce([self._speaker_mask(s) for s in filters.speakers])
        return mask

    def _speaker_mask(self, speaker: str) -> np.ndarray:
        """Chunks where ``speaker`` speaks (computed once per speaker and generation)."""
        with self._lock:
            mask = self._speaker_masks.get(speaker)
        if mask is None:
            mask = np.array([speaker in s.split("|") for s in self._speakers], dtype=bool)
            with self._lock:
                self._speaker_masks[speaker] = mask
        return mask

    def _bm25_ranking(self, query: str, filters: Filters, limit: int) -> list[str]:
        if not self.ids:
            return []
        terms = tokenize([query])[0]
        if not terms:
            return []
        scores = self.lexical.scores(terms)
        mask = self._mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        if limit < len(scores):
            top = np.argpartition(-scores, limit)[:limit]
            top = top[np.argsort(-scores[top], kind="stable")]
        else:
            top = np.argsort(-scores, kind="stable")
        return [self.ids[i] for i in top if scores[i] > 0]

    def _dense_ranking(
        self,
        vector: np.ndarray,
        filters: Filters,
        limit: int,
        *,
        english_only: bool = False,
        crosslingual: bool = False,
    ) -> list[str]:
        collection = self.xcollection if crosslingual else self.collection
        mask = self._mask(filters, english_only=english_only)
        matching = len(self.ids) if mask is None else int(mask.sum())
        n = min(limit, matching)
        if n == 0:
            return []
        if mask is not None and matching <= FILTER_ROWS:
            return self._exact_ranking(collection, vector, mask, n)
        # If n matching chunks are among the nearest unfiltered ones, they are the nearest
        # matching ones. Unfiltered, only rows this generation does not hold are dropped.
        wide = n + self._stale if mask is None else n * OVERFETCH
        while True:
            got = collection.query(query_embeddings=[vector], n_results=wide, include=[])
            found = got["ids"][0]
            kept = [
                pid
                for pid in found
                if (row := self._row.get(pid)) is not None and (mask is None or mask[row])
            ]
            if len(kept) >= n or len(found) < wide:
                return kept[:n]
            if mask is not None and wide >= WIDEST:
                break
            wide *= 8 if mask is not None else 2
        where = filters.where()
        if english_only:
            en = {"language": "en"}
            where = {"$and": [where, en]} if where else en
        got = collection.query(
            query_embeddings=[vector], n_results=n + self._stale, where=where, include=[]
        )
        return [pid for pid in got["ids"][0] if pid in self._row][:n]

    def _exact_ranking(
        self, collection: chromadb.Collection, vector: np.ndarray, mask: np.ndarray, n: int
    ) -> list[str]:
        """The n nearest of a few matching chunks, scored exactly from their stored vectors:
        7 ms for an episode's 108 chunks at 100x, where Chroma's own filtered search took
        50-350 ms (it reads the metadata of the rows it filters)."""
        ids = [self.ids[i] for i in np.flatnonzero(mask)]
        got = collection.get(ids=ids, include=["embeddings"])
        if not got["ids"]:
            return []
        scores = np.asarray(got["embeddings"], dtype=np.float32) @ vector
        order = np.argsort(-scores, kind="stable")[:n]
        return [got["ids"][i] for i in order]

    def search(
        self, query: str, k: int = 5, filters: Filters | None = None, candidates: int = 30
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first."""
        filters = filters or Filters()
        english = detect_language(query) == "en"
        # In the cross-lingual space a question not in English needs no e5 vector at all: its
        # relevance is measured there too. Each vector is embedded once per search.
        crosslingual = not english and self.xcollection is not None
        vector = None if crosslingual else self.query_vector(query)
        rankings = [self._bm25_ranking(query, filters, candidates)]
        if not crosslingual:
            rankings.append(self._dense_ranking(vector, filters, candidates))
        if not english:
            # e5 pulls same-language text first: a Korean question finds the Korean article
            # before the English turns that answer it. A ranking over English chunks alone lets
            # those compete, in the cross-lingual space when there is one. BM25 stays: such
            # questions often carry English terms ("MoE", "continual learning").
            if not crosslingual:
                rankings.append(self._dense_ranking(vector, filters, candidates, english_only=True))
            else:
                xvector = self.query_vector(query, crosslingual=True)
                for english_only in (False, True):
                    rankings.append(
                        self._dense_ranking(
                            xvector,
                            filters,
                            candidates,
                            english_only=english_only,
                            crosslingual=True,
                        )
                    )
        fused: dict[str, float] = {}
        for ranking in rankings:
            for rank, pid in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused, key=lambda p: -fused[p])[:k]
        hits = self.fetch(best, vector, fused)
        if crosslingual:
            self._crosslingual_relevance(hits, xvector)
        return hits

    def outline(self, episodes: list[str]) -> list[Hit]:
        """An episode's shape for a summary: the first passage of each chapter, in episode
        order, and the first passage of its article, if it has one."""
        out: list[str] = []
        for label in episodes:
            code = self._episode_codes.get(label)
            if code is None:
                continue
            # Chunk ids carry their position in the episode: "<episode id>:<00042>:<hash>".
            ids = sorted(self.ids[i] for i in np.flatnonzero(self._episode == code))
            got = self.collection.get(ids=ids, include=["metadatas"])
            meta = dict(zip(got["ids"], got["metadatas"], strict=True))
            seen: set[tuple[str, str]] = set()
            for pid in ids:
                m = meta.get(pid)
                if m is None:
                    continue
                key = (m.get("source_file", ""), m.get("chapter") or "")
                if m.get("kind") == "article":
                    key = (key[0], "")  # one article passage is enough
                if key not in seen:
                    seen.add(key)
                    out.append(pid)
        return self.fetch(out, None)

    def _crosslingual_relevance(self, hits: list[Hit], xvector: np.ndarray) -> None:
        """For a question in another language, relevance is measured in the aligned space."""
        got = self.xcollection.get(ids=[h.id for h in hits], include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        for hit in hits:
            if hit.id in by_id:
                hit.relevance = float(np.dot(xvector, np.asarray(by_id[hit.id])))

    def fetch(
        self, ids: list[str], vector: np.ndarray | None, scores: dict[str, float] | None = None
    ) -> list[Hit]:
        """Hits for chunk ids, in the given order, with cosine relevance to ``vector``
        (0 without one)."""
        if not ids:
            return []
        include = ["documents", "metadatas"] + (["embeddings"] if vector is not None else [])
        got = self.collection.get(ids=ids, include=include)
        embeddings = got["embeddings"] if vector is not None else [None] * len(got["ids"])
        by_id = {
            pid: (doc, meta, emb)
            for pid, doc, meta, emb in zip(
                got["ids"], got["documents"], got["metadatas"], embeddings, strict=True
            )
        }
        hits = []
        for pid in ids:
            if pid not in by_id:
                continue
            doc, meta, emb = by_id[pid]
            relevance = float(np.dot(vector, np.asarray(emb))) if vector is not None else 0.0
            hits.append(hit_from(pid, doc, meta, relevance, scores))
        return hits


def hit_from(
    pid: str, text: str, meta: dict, relevance: float, scores: dict[str, float] | None
) -> Hit:
    """A ``Hit`` from a chunk's stored metadata."""
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
        speakers=[s for s in (meta.get("speakers") or "").split("|") if s],
        text=text,
        source_file=meta["source_file"],
        kind=meta.get("kind", "transcript"),
        language=meta.get("language", "en"),
        url=meta.get("url") or None,
        score=(scores or {}).get(pid, 0.0),
        relevance=relevance,
        turns=meta.get("turns") or "[]",
        estimates=meta.get("estimates") or "[]",
    )
