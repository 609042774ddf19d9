"""The eval harness (``episode-assistant eval``): held-out Q&A, scoring, judges, reports."""
