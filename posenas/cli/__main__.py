"""`python -m posenas.cli` runs the command line."""

from posenas.cli import main

main()
