"""Bulk inserts keep every value exactly as it was, on DuckDB and on PostgreSQL (COPY).

Text from partners' files can hold anything: a lone carriage return (which once split a COPY
row, so a crafted value could add a row of its own), exactly ``\\N`` (once read back as NULL),
tabs, quotes, commas and backslashes. Each must come back unchanged, a missing value must stay
NULL, and the table must hold exactly the rows inserted.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access import loading, schema

# A forged second row: what a lone "\r" once let through as a row of its own.
FORGED = "x\r999999,police_uk,,burglary,,2025-04-01,day"
TEXTS = ["\r", "a\rb", "\\N", "\\\\N", "\\n", "x\ny", "x\r\ny", "tab\tx", "", "  ",
         '"quoted", comma', "back\\slash", "\\.", "ünïcödé – ✓", "\u2028line sep", FORGED,
         "ends with \\", "\\r literally", "NULL", "null"]


def _incidents(texts: list[str | None]) -> pd.DataFrame:
    n = len(texts)
    return loading.prepare_incidents(pd.DataFrame({
        "incident_id": range(1, n + 1), "source": "police_uk", "category": "burglary",
        "incident_date": [dt.date(2025, 4, 1) + dt.timedelta(days=i) for i in range(n)],
        "location_text": texts, "source_ref": list(reversed(texts)),
        "subcategory": texts,  # NOT NULL: "" and "\N" must stay text
        "hour": [None if i % 3 == 0 else i % 24 for i in range(n)],
        "longitude": [None if i % 4 == 0 else -1.9 for i in range(n)],
        "latitude": [None if i % 4 == 0 else 52.48 for i in range(n)],
        "is_hate": [i % 2 == 0 for i in range(n)],
    }), import_id=None)


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    url = (f"duckdb:///{tmp_path / 'loading.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_url"))
    engine = sa.create_engine(url)
    schema.metadata.create_all(engine, tables=[schema.incidents])
    yield engine
    engine.dispose()


def test_every_text_comes_back_exactly_and_no_row_is_added(engine):
    texts = [*TEXTS, None]
    frame = _incidents(texts)
    frame["subcategory"] = [t if t is not None else "" for t in texts]
    with engine.begin() as conn:
        assert loading.bulk_insert(conn, schema.incidents, frame) == len(texts)
    i = schema.incidents.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(i.incident_id, i.location_text, i.source_ref,
                                      i.subcategory, i.incident_date, i.hour, i.longitude,
                                      i.is_hate, i.import_id, i.cell_250)
                            .order_by(i.incident_id)).all()
    assert len(rows) == len(texts)  # nothing forged
    assert [r.incident_id for r in rows] == list(range(1, len(texts) + 1))
    assert [r.location_text for r in rows] == texts  # "\N" is text; None is NULL
    assert [r.source_ref for r in rows] == list(reversed(texts))
    assert [r.subcategory for r in rows] == [*TEXTS, ""]
    assert [r.incident_date for r in rows] == list(frame["incident_date"].dt.date)
    assert [r.hour for r in rows] == [None if n % 3 == 0 else n % 24 for n in range(len(texts))]
    assert [r.longitude is None for r in rows] == [n % 4 == 0 for n in range(len(texts))]
    assert [r.is_hate for r in rows] == [n % 2 == 0 for n in range(len(texts))]
    assert {r.import_id for r in rows} == {None}
    assert [r.cell_250 is None for r in rows] == [n % 4 == 0 for n in range(len(texts))]


def test_other_tables_keep_dates_numbers_and_nulls(engine):
    schema.metadata.create_all(engine, tables=[schema.events])
    frame = pd.DataFrame({
        "event_id": [1, 2], "name": ["\\N", "Carnival\r\nday"], "kind": ["festival", "\r"],
        "start_date": pd.to_datetime(["2025-08-23", "2025-12-31"]),
        "end_date": [dt.date(2025, 8, 25), dt.date(2026, 1, 1)],
    })
    optional = [c.name for c in schema.events.columns
                if c.name not in frame and c.nullable]
    for name in optional:
        frame[name] = None
    with engine.begin() as conn:
        loading.bulk_insert(conn, schema.events, frame)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.events).order_by(schema.events.c.event_id)
                            ).mappings().all()
    assert [r["name"] for r in rows] == ["\\N", "Carnival\r\nday"]
    assert [r["kind"] for r in rows] == ["festival", "\r"]
    assert [r["start_date"] for r in rows] == [dt.date(2025, 8, 23), dt.date(2025, 12, 31)]
    assert [r["end_date"] for r in rows] == [dt.date(2025, 8, 25), dt.date(2026, 1, 1)]
    assert all(r[name] is None for r in rows for name in optional)
