"""``python -m assistant …``: the same command line as ``episode-assistant``."""

from .cli import main

main()
