"""Errors a user can act on. Each carries one line that says what is wrong and where."""


class RestorationError(Exception):
    """Base class: the CLI prints ``str(err)`` as one line and exits non-zero."""


class ReelError(RestorationError):
    """A reel cannot be read: missing, empty, truncated, not video, unsupported format."""


class OutputError(RestorationError):
    """An output cannot be written where asked: a file in the way, a folder not writable."""


class OutputExistsError(OutputError):
    """The output path already exists and would be overwritten."""


class StoreError(RestorationError):
    """The provenance store is missing, inconsistent, or does not match the reel."""
