"""`python -m vpccni` runs the vpccni command."""

from vpccni.cli import main

main()
