"""The board pack: one or all priority boards for a period, as PDF and as PowerPoint.

Pure: it takes the summaries the page already computed (:mod:`kpis.priority_boards`) and returns
bytes; no database, no Streamlit. Charts are the page's own figures (:mod:`kpis.board_charts`)
rendered to PNG by kaleido with Debian's chromium (``BROWSER_PATH=/usr/bin/chromium``).

Reproducible: the same period and data give byte-identical files. Nothing reads the clock: the
PDF is written here object by object with no dates, the PowerPoint's document dates are set to
the data's as-at day and its zip entries get a fixed timestamp. Chart PNGs from the same chromium
are identical for identical figures.

Contents: a cover with the data-as-at line and the exception summary (special-cause concerning
and off-target KPIs, most urgent first); per board its KPI table, one page (slide) per KPI with
its SPC chart and icons in words, and the board's actions with overdue ones flagged in words.

Disclosure: the pack shows exactly the summaries the page drew. A protected summary
(:func:`kpis.priority_boards.protected_summary`, a sensitive KPI below partnership level) has no
chart, icons or monthly value in the pack either: only its period figure or the same
"withheld" label as on the page.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from kpis import board_charts
from kpis.priority_boards import (PROTECTED_NOTE, BoardRow, KpiSummary, exception_table,
                                  format_value)

# (plotly figures, width, height) -> one PNG per figure
ImageRenderer = Callable[[list, int, int], list[bytes]]

CHART_WIDTH, CHART_HEIGHT = 1100, 480
MAX_ACTIONS = 60  # per board: the pack is for a meeting, the page has the full list


@dataclass(frozen=True)
class PackContent:
    """Everything a pack shows, decided by the caller (the page)."""

    title: str  # e.g. "Priority boards pack"
    partnership: str
    period_label: str
    area_label: str
    as_at: dt.date  # the data's as-at day (also the documents' date)
    data_line: str  # e.g. "Data to 30 Sep 2025 · complete months to 30 Sep 2025"
    rows: tuple[BoardRow, ...]
    actions: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # board id -> action_summary
    disclosure_note: str = ""  # the page's note on withheld figures (when any KPI is protected)
    show_actions: bool = True  # False: no actions pages (a role that may not see them)

    @property
    def summaries(self) -> list[KpiSummary]:
        """Every KPI in the pack, board by board, exceptions first."""
        return [s for row in self.rows for s in row.summaries]

    @property
    def withheld(self) -> frozenset[str]:
        """Ids of KPIs whose monthly figures are withheld (protected summaries)."""
        return frozenset(s.kpi.id for s in self.summaries if s.is_protected)


# --- chart images ---------------------------------------------------------------------------

def kaleido_pngs(figures: list, width: int, height: int) -> list[bytes]:
    """PNG bytes of plotly figures, rendered by one kaleido browser (Debian's chromium).

    One browser per call, started and closed here: thread-safe (each pack build has its own) and
    about 0.3 s a chart once the browser is up, where a browser per chart took seconds each.
    """
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    import asyncio

    import kaleido

    opts = {"format": "png", "width": width, "height": height, "scale": 1}

    async def render() -> list[bytes]:
        async with kaleido.Kaleido(n=1, mathjax=False) as browser:
            return [await browser.calc_fig(figure, opts=opts) for figure in figures]

    return asyncio.run(render()) if figures else []


def kaleido_png(figure, width: int, height: int) -> bytes:
    """PNG bytes of one plotly figure (see :func:`kaleido_pngs`)."""
    return kaleido_pngs([figure], width, height)[0]


def chart_images(content: PackContent, renderer: ImageRenderer | None = None) -> dict[str, bytes]:
    """PNG of each KPI's SPC chart (none for withheld or empty KPIs), keyed by KPI id."""
    renderer = renderer or kaleido_pngs
    chosen = [s for s in content.summaries if not s.is_protected and s.spc is not None]
    figures = [board_charts.spc_figure(s, height=CHART_HEIGHT, font_size=15, show_title=False)
               for s in chosen]
    for figure in figures:
        # Static export does not grow the margins for tick labels as a browser does.
        figure.update_layout(margin={"l": 80, "r": 24, "t": 56, "b": 56})
    pngs = renderer(figures, CHART_WIDTH, CHART_HEIGHT)
    return {s.kpi.id: png for s, png in zip(chosen, pngs)}


# --- words shared by both formats ---------------------------------------------------------------

def _when(summary: KpiSummary) -> str:
    return f"{summary.latest_period:%b %Y}" if summary.latest_period is not None else "no data"


def _latest(summary: KpiSummary, content: PackContent) -> str:
    del content
    if summary.protected is not None:
        return f"{summary.protected.text} ({summary.protected.period})"
    return f"{format_value(summary.latest_value, summary.kpi.unit)} ({_when(summary)})"


def kpi_lines(summary: KpiSummary, content: PackContent) -> list[str]:
    """The words under a KPI's chart (a protected KPI: its period figure and why, no chart)."""
    kpi = summary.kpi
    if summary.protected is not None:
        lines = [f"{summary.protected.period}: {summary.protected.text}.", PROTECTED_NOTE]
        if summary.protected.withheld and content.disclosure_note:
            lines.append(content.disclosure_note)
        return lines
    lines = [
        f"Latest: {_latest(summary, content)}; {summary.vs_target}.",
        f"Variation: {summary.variation.text} - {summary.variation.label}.",
        f"Assurance: {summary.assurance.text} - {summary.assurance.label}.",
    ]
    if summary.is_exception:
        lines.append(f"EXCEPTION: {summary.exception_reason}.")
    if kpi.target is not None:
        lines.append(f"Target rule: {kpi.target.describe()}.")
    if kpi.description:
        lines.append(kpi.description)
    if kpi.source:
        lines.append(f"Source: {kpi.source}.")
    if summary.spc is not None:
        lines.extend(f"Note: {note}." for note in summary.spc.notes)
    return lines


def exception_rows(content: PackContent) -> pd.DataFrame:
    """Board, KPI, Latest, Why: the cover's exception summary."""
    table = exception_table(content.rows)
    if table.empty:
        return pd.DataFrame(columns=["Board", "KPI", "Latest", "Why"])
    latest = []
    for kpi_id, text in zip(table["kpi_id"], table["latest"]):
        latest.append("withheld" if kpi_id in content.withheld else text)
    return pd.DataFrame({"Board": table["board"], "KPI": table["kpi"], "Latest": latest,
                         "Why": table["reason"]})


def action_rows(actions: pd.DataFrame) -> pd.DataFrame:
    """Overdue, Code, Action, Owner, Due, Status from an action_summary frame."""
    if actions is None or actions.empty:
        return pd.DataFrame(columns=["Overdue", "Code", "Action", "Owner", "Due", "Status"])
    due = pd.to_datetime(actions["due_date"])
    return pd.DataFrame({
        "Overdue": actions["flag"].fillna(""), "Code": actions["code"].fillna(""),
        "Action": actions["title"].fillna(""), "Owner": actions["owner"].fillna(""),
        "Due": [f"{d:%d %b %Y}" if pd.notna(d) else "" for d in due],
        "Status": actions["status_label"].fillna(""),
    }).head(MAX_ACTIONS)


# --- PDF -----------------------------------------------------------------------------------------

# Helvetica's WinAnsi encoding has no geometric shapes: icons keep their words, glyphs become ASCII.
_PDF_SUBSTITUTES = {"▲": "^", "▼": "v", "●": "o", "◐": "o", "○": "o", "⚑": "!", "’": "'",
                    "“": '"', "”": '"', "…": "...", "·": "-", "–": "-"}
_PAGE_W, _PAGE_H, _MARGIN = 842.0, 595.0, 40.0  # A4 landscape, points


def _pdf_text(text: str) -> bytes:
    text = "".join(_PDF_SUBSTITUTES.get(ch, ch) for ch in str(text))
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _wrap(text: str, size: float, width: float) -> list[str]:
    # Helvetica averages about half an em per character; a little under keeps lines inside.
    per_line = max(10, int(width / (size * 0.52)))
    words, lines, current = str(text).split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if len(candidate) > per_line and current:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines or [""]


class _Pdf:
    """A minimal, deterministic PDF writer: Helvetica text and PNG images, page by page."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.pages: list[tuple[bytes, dict[str, tuple[int, int, bytes]]]] = []
        self._ops: list[bytes] = []
        self._images: dict[str, tuple[int, int, bytes]] = {}
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        if self._ops:
            self.pages.append((b"\n".join(self._ops), self._images))
        self._ops, self._images = [], {}
        self.y = _PAGE_H - _MARGIN

    def finish_page(self) -> None:
        self.pages.append((b"\n".join(self._ops), self._images))
        self._ops, self._images = [], {}

    def text(self, text: str, size: float = 11, bold: bool = False, gap: float = 1.35) -> None:
        for line in _wrap(text, size, _PAGE_W - 2 * _MARGIN):
            if self.y - size < _MARGIN:
                self.new_page()
            self.y -= size * gap
            font = b"/F2" if bold else b"/F1"
            self._ops.append(b"BT " + font + b" %.1f Tf %.1f %.1f Td (" % (size, _MARGIN, self.y)
                             + _pdf_text(line) + b") Tj ET")

    def space(self, points: float) -> None:
        self.y -= points

    def image(self, png: bytes, width: float) -> None:
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            rgb = im.convert("RGB")
            w_px, h_px = rgb.size
            data = zlib.compress(rgb.tobytes(), 6)
        height = width * h_px / w_px
        self.y -= 8  # clear of the line above (descenders)
        if self.y - height < _MARGIN:
            self.new_page()
        name = f"Im{len(self._images) + 1}"
        self._images[name] = (w_px, h_px, data)
        self.y -= height
        self._ops.append(b"q %.2f 0 0 %.2f %.2f %.2f cm /%s Do Q"
                         % (width, height, _MARGIN, self.y, name.encode()))

    def output(self) -> bytes:
        if self._ops:
            self.finish_page()
        objects: list[bytes] = []

        def add(body: bytes) -> int:
            objects.append(body)
            return len(objects)

        catalog = add(b"")  # filled below
        pages_id = add(b"")
        font1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
        font2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
        page_ids = []
        for ops, images in self.pages:
            xobjects = []
            for name, (w_px, h_px, data) in images.items():
                img = add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace "
                          b"/DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\n"
                          b"stream\n" % (w_px, h_px, len(data)) + data + b"\nendstream")
                xobjects.append(b"/%s %d 0 R" % (name.encode(), img))
            content = zlib.compress(ops, 6)
            content_id = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
                             + content + b"\nendstream")
            resources = (b"<< /Font << /F1 %d 0 R /F2 %d 0 R >> /XObject << %s >> >>"
                         % (font1, font2, b" ".join(xobjects)))
            page_ids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                                b"/Resources %s /Contents %d 0 R >>"
                                % (pages_id, _PAGE_W, _PAGE_H, resources, content_id)))
        objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
        objects[pages_id - 1] = (b"<< /Type /Pages /Kids [%s] /Count %d >>"
                                 % (b" ".join(b"%d 0 R" % p for p in page_ids), len(page_ids)))
        info = add(b"<< /Title (" + _pdf_text(self.title) + b") /Producer (CSP dashboard) >>")
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(objects) + 1, catalog, info, xref))
        return out.getvalue()


def _pdf_table(pdf: _Pdf, frame: pd.DataFrame, size: float = 10) -> None:
    for record in frame.astype(str).to_dict("records"):
        pdf.text(" | ".join(v for v in record.values() if v and v != "nan"), size=size)


def build_pdf(content: PackContent, images: Mapping[str, bytes]) -> bytes:
    """The pack as a PDF (A4 landscape)."""
    pdf = _Pdf(f"{content.title} - {content.period_label}")
    pdf.text(content.title, size=24, bold=True)
    pdf.text(content.partnership, size=14)
    pdf.text(f"Period: {content.period_label} - Area: {content.area_label}", size=14)
    pdf.text(content.data_line, size=12)
    if content.disclosure_note:
        pdf.text(content.disclosure_note, size=10)
    pdf.space(10)
    exceptions = exception_rows(content)
    pdf.text(f"Exception summary ({len(exceptions)})", size=16, bold=True)
    if exceptions.empty:
        pdf.text("No KPI is special-cause concerning or off target.")
    for n, record in enumerate(exceptions.to_dict("records"), start=1):
        pdf.text(f"{n}. {record['Board']}: {record['KPI']} - {record['Latest']} - {record['Why']}",
                 size=11)
    pdf.space(8)
    pdf.text("Icons follow NHS Making Data Count: Improving/Concerning is special-cause variation, "
             "Common cause is normal variation; P, F and ? say whether the target will be met "
             "consistently, missed consistently, or hit and miss.", size=9)
    for row in content.rows:
        pdf.new_page()
        pdf.text(row.label, size=20, bold=True)
        counts = row.counts
        pdf.text(f"{counts['kpis']} KPIs - {counts['concerning']} concerning - "
                 f"{counts['off_target']} off target - {counts['improving']} improving", size=12)
        pdf.space(6)
        for s in row.summaries:
            if s.is_protected:
                pdf.text(f"{s.kpi.label}: {_latest(s, content)} - monthly figures for the whole "
                         "partnership only", size=11)
                continue
            pdf.text(f"{s.kpi.label}: {_latest(s, content)} - {s.variation.short} - "
                     f"{s.assurance.short} - {s.vs_target}", size=11)
        for s in row.summaries:
            pdf.new_page()
            pdf.text(f"{row.label}", size=11)
            pdf.text(s.kpi.label, size=18, bold=True)
            if s.kpi.id in images:
                pdf.image(images[s.kpi.id], width=_PAGE_W - 2 * _MARGIN - 120)
            for line in kpi_lines(s, content):
                pdf.text(line, size=10)
        if not content.show_actions:
            continue
        actions = action_rows(content.actions.get(row.board_id))
        pdf.new_page()
        pdf.text(f"{row.label}: outputs and actions", size=18, bold=True)
        if actions.empty:
            pdf.text("No actions recorded.")
        else:
            overdue = int((actions["Overdue"] != "").sum())
            pdf.text(f"{len(actions)} actions, {overdue} overdue as at {content.as_at:%d %b %Y}.", size=12)
            _pdf_table(pdf, actions)
    return pdf.output()


# --- PowerPoint ------------------------------------------------------------------------------------

def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with a fixed timestamp on every entry, so the same pack gives the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def _table_slides(prs, title: str, frame: pd.DataFrame, widths: Iterable[float], per_slide: int = 10):
    from pptx.util import Inches, Pt

    chunks = [frame.iloc[i:i + per_slide] for i in range(0, len(frame), per_slide)] or [frame]
    for part, chunk in enumerate(chunks, start=1):
        slide = prs.slides.add_slide(prs.slide_layouts[5])  # title only
        suffix = f" ({part} of {len(chunks)})" if len(chunks) > 1 else ""
        slide.shapes.title.text = title + suffix
        if chunk.empty:
            box = slide.shapes.add_textbox(Inches(0.6), Inches(1.6), Inches(12), Inches(1))
            box.text_frame.text = "None."
            continue
        rows, cols = len(chunk) + 1, len(chunk.columns)
        shape = slide.shapes.add_table(rows, cols, Inches(0.4), Inches(1.4), Inches(12.5),
                                       Inches(0.4) * rows)
        table = shape.table
        for j, (name, width) in enumerate(zip(chunk.columns, widths)):
            table.columns[j].width = Inches(width)
            table.cell(0, j).text = str(name)
        for i, record in enumerate(chunk.astype(str).to_dict("records"), start=1):
            for j, name in enumerate(chunk.columns):
                table.cell(i, j).text = "" if record[name] == "nan" else record[name]
        for row in table.rows:
            for cell in row.cells:
                for paragraph in cell.text_frame.paragraphs:
                    for run in paragraph.runs:
                        run.font.size = Pt(12)


def build_pptx(content: PackContent, images: Mapping[str, bytes]) -> bytes:
    """The pack as a 16:9 PowerPoint presentation."""
    from pptx import Presentation
    from pptx.util import Inches, Pt

    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    when = dt.datetime.combine(content.as_at, dt.time())
    props = prs.core_properties
    props.title = f"{content.title} - {content.period_label}"
    props.author = props.last_modified_by = "CSP dashboard"
    props.created = props.modified = when
    props.revision = 1

    cover = prs.slides.add_slide(prs.slide_layouts[0])
    cover.shapes.title.text = content.title
    cover.placeholders[1].text = (f"{content.partnership}\n{content.period_label} - "
                                  f"{content.area_label}\n{content.data_line}")
    if content.disclosure_note:
        note = cover.shapes.add_textbox(Inches(0.8), Inches(6.3), Inches(11.7), Inches(1.0))
        note.text_frame.word_wrap = True
        note.text_frame.text = content.disclosure_note
        note.text_frame.paragraphs[0].font.size = Pt(12)
    _table_slides(prs, "Exception summary", exception_rows(content), (2.8, 4.2, 1.8, 3.7))

    for row in content.rows:
        overview = pd.DataFrame([{
            "KPI": s.kpi.label, "Latest": _latest(s, content),
            "Variation": "" if s.is_protected else s.variation.text,
            "Assurance": "" if s.is_protected else s.assurance.text,
            "Against target": "" if s.is_protected else s.vs_target,
        } for s in row.summaries], columns=["KPI", "Latest", "Variation", "Assurance", "Against target"])
        _table_slides(prs, row.label, overview, (4.0, 2.4, 1.8, 2.0, 2.3), per_slide=9)
        for s in row.summaries:
            slide = prs.slides.add_slide(prs.slide_layouts[5])
            slide.shapes.title.text = s.kpi.label
            slide.shapes.title.text_frame.paragraphs[0].runs[0].font.size = Pt(30)
            top = Inches(1.35)
            if s.kpi.id in images:
                slide.shapes.add_picture(io.BytesIO(images[s.kpi.id]), Inches(0.3), top,
                                         width=Inches(8.6))
            box = slide.shapes.add_textbox(Inches(9.0), top, Inches(4.1), Inches(5.6))
            frame = box.text_frame
            frame.word_wrap = True
            frame.text = f"{row.label}"
            for line in kpi_lines(s, content):
                paragraph = frame.add_paragraph()
                paragraph.text = line
                paragraph.font.size = Pt(14)
        if content.show_actions:
            _table_slides(prs, f"{row.label}: outputs and actions",
                          action_rows(content.actions.get(row.board_id)),
                          (1.2, 1.1, 5.2, 2.6, 1.3, 1.1), per_slide=10)
    out = io.BytesIO()
    prs.save(out)
    return _fixed_zip(out.getvalue())


def build_pack(content: PackContent, fmt: str, renderer: ImageRenderer | None = None) -> bytes:
    """The pack as ``fmt`` ("pdf" or "pptx"); charts rendered by ``renderer`` (kaleido by default)."""
    if fmt not in ("pdf", "pptx"):
        raise ValueError(f"format must be pdf or pptx, not {fmt!r}")
    images = chart_images(content, renderer)
    return build_pdf(content, images) if fmt == "pdf" else build_pptx(content, images)
