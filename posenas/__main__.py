"""`python -m posenas` runs the command line."""

from posenas.cli import main

main()
