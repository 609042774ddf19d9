"""OpenAI (or OpenAI-compatible) embeddings, for users who prefer them and have a key."""

from __future__ import annotations

import numpy as np
from pydantic import PrivateAttr

from assistant.config import Settings
from assistant.index.embeddings.base import LocalEmbedder
from assistant.openai_client import make_client

DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder(LocalEmbedder):
    """Embeddings from the ``/embeddings`` endpoint through the official ``openai`` client."""

    _client: object = PrivateAttr()

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        model = settings.index.openai_embedding_model
        super().__init__(model_name=f"openai-{model}", embed_batch_size=64, **kwargs)
        self._client = make_client(settings)
        self._model_id = model
        self.dimension = DIMENSIONS.get(model) or len(self.encode(["probe"], query=False)[0])

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """One request per batch; the order of the answer's items is restored by index."""
        response = self._client.embeddings.create(model=self._model_id, input=list(texts))
        items = sorted(response.data, key=lambda d: d.index)
        return np.asarray([d.embedding for d in items], dtype=np.float32)


def make_openai_embedder(settings: Settings) -> OpenAIEmbedder:
    """Factory named in ``BACKENDS``."""
    return OpenAIEmbedder(settings)
