"""The reliability figures the README quotes, counted by the tests that establish them and
printed at the end of the run (see ``conftest.pytest_terminal_summary``)."""

from collections import Counter

COUNTS: Counter[str] = Counter()
