"""`python -m nasc` runs the CLI."""
from nasc.cli.app import main

main()
