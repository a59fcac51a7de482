"""`python -m tonemorph`: the command line."""

from tonemorph.cli import main

main()
