"""``python -m assistant …``: the same command line as ``episode-assistant``."""

from assistant.surfaces.cli import main

main()
