"""The nightly job as a library call: one request in, one outcome out, no Typer or Rich."""
