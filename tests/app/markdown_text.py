"""What a reader sees of markdown that escapes text from the data (:func:`kpis.text_safety.plain`):
the backslash escapes resolved, for tests that look for a name or a label on the page."""

from __future__ import annotations

import re
import string

_ESCAPED = re.compile("\\\\([" + re.escape(string.punctuation) + "])")


def as_shown(markdown: str) -> str:
    """``markdown`` with every backslash-escaped punctuation character shown as itself."""
    return _ESCAPED.sub(r"\1", markdown)
