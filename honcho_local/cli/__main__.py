"""`python -m honcho_local.cli …` runs the command line (tests and scripts start the server this way)."""

from honcho_local.cli import main

main()
