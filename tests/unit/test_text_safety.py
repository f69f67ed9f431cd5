"""plain(): text from data files shown in Streamlit markdown exactly as written, never as markup."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pytest

from kpis.text_safety import code_span, plain, plain_text


def unescape(markdown: str) -> str:
    """What CommonMark shows for text with backslash escapes (and no other markup)."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in string.punctuation:
            out.append(markdown[i + 1])
            i += 2
        else:
            out.append(markdown[i])
            i += 1
    return "".join(out)


def test_links_and_images_are_escaped():
    assert plain("[click](javascript:alert(1))") == r"\[click\]\(javascript\:alert\(1\)\)"
    assert plain("![p](https://x.example/p.png)") == r"\!\[p\]\(https\:\/\/x\.example\/p\.png\)"


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "**bold** _it_ ~~no~~",
    "# Heading", "> quote", "- item", "1. item", ":red[red] :material/home:", "$x^2$",
    "`code`", "a | b", "<https://x.example>", "Fish & chips &amp; peas", "100% of a_b",
    "O'Neil \"quoted\"", "back\\slash", "{braces} =@+-",
])
def test_every_markup_character_is_escaped_and_the_text_reads_the_same(text):
    escaped = plain(text)
    assert unescape(escaped) == text  # shown exactly as written
    # No markup character is left unescaped.
    plain_chars = [ch for i, ch in enumerate(escaped)
                   if ch in string.punctuation and not (i and escaped[i - 1] == "\\")
                   and not (ch == "\\" and i + 1 < len(escaped) and escaped[i + 1] in
                            string.punctuation)]
    assert plain_chars == [], plain_chars


def test_line_breaks_cannot_start_a_block():
    assert plain("Ward\n# Heading\r\n- item\u2028x\ty") == r"Ward \# Heading \- item x y"


def test_letters_digits_and_other_scripts_are_untouched():
    assert plain("Aston 2025 ünïcödé ward – Ålesund") == "Aston 2025 ünïcödé ward – Ålesund"


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA, pd.NaT])
def test_missing_values_are_empty(value):
    assert plain(value) == ""


def test_numbers_and_other_values_become_text():
    assert plain(12) == "12"
    assert plain(-1.5) == r"\-1\.5"
    assert plain(pd.Timestamp("2025-04-01")) == r"2025\-04\-01 00\:00\:00"


def test_a_quoted_value_is_one_code_span_cut_short():
    assert code_span("2025/26") == "`2025/26`"
    assert code_span("x" * 100) == "`" + "x" * 40 + "`"
    assert code_span("abcdef", limit=3) == "`abc`"
    # A backtick would close the span early and leave the rest live: it is dropped.
    assert code_span("a`[click](https://x.example)`") == "`a[click](https://x.example)`"


@pytest.mark.parametrize("breaks", ["\n\n", "\r\r", "\r\n\r\n", "\u2028\u2028", "\n \n"])
def test_a_quoted_value_cannot_end_the_paragraph(breaks):
    # A blank line would end the paragraph, and the code span with it, leaving the rest live.
    quoted = code_span(f"a{breaks}[click](https://x.example)")
    assert quoted.count("`") == 2 and quoted.startswith("`a") and quoted.endswith(")`")
    assert not any(ch in quoted for ch in "\r\n\u2028\u2029")


def test_plain_text_of_missing_values_is_empty():
    assert [plain_text(v) for v in (None, float("nan"), pd.NA, "x", 3)] == ["", "", "", "x", "3"]
