"""A cache of passage embeddings keyed by (embedder, text hash): no text is embedded twice.

It lives in ``index/embeddings.sqlite`` and is seeded from ``<corpus>/.embeddings/<model>.npz``
when the corpus ships one, so a fresh checkout's first run does not wait for the embedder.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np


def text_hash(text: str) -> str:
    """The key a text is cached under."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """sqlite-backed map from (model, sha256 of text) to a float32 vector."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors ("
            "model TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL, "
            "PRIMARY KEY (model, hash))"
        )
        self._db.commit()

    def check(self) -> str | None:
        """What SQLite's own check finds wrong with the file, or ``None`` when it is sound."""
        with self._lock:
            try:
                verdict = self._db.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                verdict = str(exc)
        if verdict == "ok":
            return None
        self.close()
        return verdict

    def get_many(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for those of ``hashes`` that are present."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                batch = hashes[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT hash, vector FROM vectors WHERE model=? AND hash IN ({marks})",
                    [model, *batch],
                ).fetchall()
                found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        return found

    def put_many(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store vectors (committed at once, so an interrupted run keeps what it embedded)."""
        rows = [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._db.commit()

    def seed_from(self, npz: Path, model: str) -> int:
        """Load a shipped ``.npz`` (arrays ``hashes`` and ``vectors``); returns rows added."""
        if not npz.exists():
            return 0
        data = np.load(npz, allow_pickle=False)
        hashes = [str(h) for h in data["hashes"]]
        have = self.get_many(model, hashes)
        new = [(h, v) for h, v in zip(hashes, data["vectors"], strict=True) if h not in have]
        self.put_many(model, new)
        return len(new)

    def export(self, npz: Path, model: str, hashes: list[str]) -> int:
        """Write the vectors of ``hashes`` to a ``.npz`` to ship beside a corpus."""
        found = self.get_many(model, hashes)
        keys = [h for h in dict.fromkeys(hashes) if h in found]
        npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(npz, hashes=np.array(keys), vectors=np.stack([found[k] for k in keys]))
        return len(keys)

    def embed(
        self,
        model: str,
        texts: list[str],
        embed_batch: Callable[[list[str]], np.ndarray],
        batch_size: int = 16,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts``, embedding only what the cache lacks, in batches."""
        hashes = [text_hash(t) for t in texts]
        found = self.get_many(model, hashes)
        missing = [i for i, h in enumerate(hashes) if h not in found]
        if progress:
            progress(len(texts) - len(missing))
        todo = list(dict.fromkeys(hashes[i] for i in missing))
        text_of = {hashes[i]: texts[i] for i in missing}
        # Chunks with the same text count once each when their shared vector arrives.
        copies = Counter(hashes[i] for i in missing)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            vectors = embed_batch([text_of[h] for h in batch])
            self.put_many(model, zip(batch, vectors, strict=True))
            found.update(zip(batch, vectors, strict=True))
            if progress:
                progress(sum(copies[h] for h in batch))
        return np.stack([found[h] for h in hashes]) if texts else np.zeros((0, 0), np.float32)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
