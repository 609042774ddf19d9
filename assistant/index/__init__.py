"""The index: embedders, the embedding cache, the Chroma store, BM25, and building it."""
