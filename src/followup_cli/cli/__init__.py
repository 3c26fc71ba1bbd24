"""The command line (Typer and Rich live only here): options in, one job call, rendering, exit
code."""

# First of all: signals are handled before Polars and Typer are imported (see start.py).
from followup_cli.cli import start  # noqa: F401
