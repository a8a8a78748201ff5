"""The errors chainrule.datasets raises for problems the user can fix."""


class DataError(ValueError):
    """Bad input data: an empty, binary or undecodable corpus, a malformed vectors file, an unknown name.

    The message names the file and, where it helps, the line or byte offset.
    """


class FetchError(DataError):
    """A registry package could not be downloaded, verified or unpacked; the message says what was tried."""
