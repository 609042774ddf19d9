"""Answering: read the question, judge coverage, synthesize, verify citations."""
