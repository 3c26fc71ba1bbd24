"""followup: follow-up lists and subscription account status from club-system exports."""

__version__ = "0.1.0"
