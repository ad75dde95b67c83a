"""`python -m autopeft` runs the command line."""

from autopeft.cli import main

main()
