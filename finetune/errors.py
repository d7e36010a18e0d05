"""Errors a user can act on: the CLI prints the message in one line and exits 2."""

from __future__ import annotations


class FinetuneError(ValueError):
    """Base class: a bad input, recipe or run state; the message says what and where."""


class DataError(FinetuneError):
    """A dataset file that is missing, malformed (the message names the line) or empty."""


class RecipeError(FinetuneError):
    """A training recipe (YAML or options) with an unknown or invalid field."""


class TrainingError(FinetuneError):
    """A run that cannot start, resume or finish (NaN loss, out of memory, changed data); nothing is registered."""
