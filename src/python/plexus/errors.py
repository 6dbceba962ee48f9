"""Errors the plexus package raises."""


class PlexusError(Exception):
    """Base class of Plexus's own errors."""


class UsageError(PlexusError, ValueError):
    """The caller's to fix: a bad option, a missing input file (the command line's exit code 2)."""


class ModelError(UsageError):
    """A mistake in a model, located like the command line's messages.

    Attributes: ``file`` (the model file, or ``<dict>``), ``line`` (0 when unknown), ``key`` (the dotted
    key path, e.g. ``projections.ee.weight``).
    """

    def __init__(self, message, file="", line=0, key=""):
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key


class RunError(PlexusError, RuntimeError):
    """A run ended with a failure."""
