"""Retrieval: hybrid dense + BM25 search over one index generation."""
