"""The command-line interface (typer). Thin commands over the library API."""
