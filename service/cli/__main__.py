"""`python -m service.cli`: the same as the `stance` entry point."""

from service.cli import main

main()
