"""Text from data files, made safe to show in Streamlit's markdown.

``st.markdown``, ``st.caption``, ``st.info``/``warning``/``error``/``success``, titles and
headers, metric labels and deltas, widget labels, page-link labels and ``help`` tooltips all
render Markdown. Text that came from a file (an action's title, an event's name, a ward's name,
a bid's description, a KPI's label) may carry link or image syntax
(``[click](https://phish.example)``, ``![](https://tracker.example/p.png)``), emphasis,
headings or Streamlit's own ``:red[...]`` and ``$...$`` syntax, and would be drawn live:
checked in Chromium, such a link shows its own words over any address and such an image is
fetched from any host. Raw HTML is not the risk
there (without ``unsafe_allow_html`` Streamlit shows tags as text, and its front end turns
``javascript:`` links into ``#``).

:func:`plain` escapes every ASCII punctuation character with a backslash (CommonMark lets any of
them be escaped, and an escaped character is always shown as itself), so the text reads exactly
as written and none of it is markup. A bare web address stays a link that shows that very
address (GitHub-flavoured Markdown links addresses after escapes are resolved), which deceives
no one. It is for markdown only: text placed inside raw HTML (``unsafe_allow_html=True``) needs
:func:`html.escape` instead, because backslash escapes do not apply inside an HTML block.

:func:`code_span` quotes a value (one typed into a link, say) as a code span cut short: shown
literally, in a code font that sets it apart from the sentence around it.
"""

from __future__ import annotations

import re
import string

import pandas as pd

_ESCAPE = {ord(ch): "\\" + ch for ch in string.punctuation}
_BREAKS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")  # and tabs: all become one space
_CODE_BREAKS = {ord(ch): " " for ch in "\r\n\t\f\v\u2028\u2029"}
QUOTE_LIMIT = 40  # characters of a quoted value shown (a link's value may be any length)


def plain_text(value: object) -> str:
    """``value`` as text: None or NaN -> ""."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                         and pd.isna(value)):
        return ""
    return str(value)


def plain(value: object) -> str:
    """``value`` as markdown that shows exactly its text: punctuation escaped, line breaks
    (which could start a list, a heading or a quote) turned into spaces; None or NaN -> ""."""
    return _BREAKS.sub(" ", plain_text(value)).translate(_ESCAPE)


def code_span(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``value`` (e.g. a value from a link that was ignored) quoted as a markdown code span,
    shown literally and cut to ``limit`` characters: backticks (which would close the span)
    are dropped, and each line break (a blank line would end the paragraph, and the span with
    it) becomes a space."""
    text = plain_text(value).replace("`", "").translate(_CODE_BREAKS)
    return f"`{text[:limit]}`"

