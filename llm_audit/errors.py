"""The one exception type for errors a user can cause.

The CLI prints its message as a single line and exits non-zero, never a traceback. Messages name the
file, row, column or config key at fault.
"""


class AuditError(Exception):
    """A user-facing error: bad input, bad config, a refused overwrite."""
