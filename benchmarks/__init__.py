"""Benchmarks (``episode-assistant bench``): timings, synthetic corpora, ingestion."""
