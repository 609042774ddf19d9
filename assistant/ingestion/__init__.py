"""Ingestion: transcript formats → episodes → speaker-turn chunks."""
