"""Allow ``python -m elman``."""

from elman.cli import main

main()
