"""Errors every layer may raise (the bottom of the import graph: it imports nothing)."""


class UserInputError(ValueError):
    """Bad input from a user: reported as one line, never as a traceback."""
