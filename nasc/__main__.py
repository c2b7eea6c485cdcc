"""`python -m nasc` runs the CLI."""
from __future__ import annotations

from nasc.cli.app import main

main()
