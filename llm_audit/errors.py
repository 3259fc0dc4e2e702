"""The one exception type for errors a user can cause.

The CLI prints its message as a single line and exits non-zero, never a traceback. Messages name the
file, row, column or config key at fault.
"""

from __future__ import annotations

from typing import Any


class AuditError(Exception):
    """A user-facing error: bad input, bad config, a refused overwrite."""


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so messages show ``3``, not numpy 2's ``np.int64(3)``."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value
