"""Reading a query's result into a DataFrame, the same way for every query module."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa


def read_frame(engine: sa.Engine, statement: sa.Executable) -> pd.DataFrame:
    """Run ``statement`` and return its rows with the select's column names (also when empty)."""
    with engine.connect() as conn:
        result = conn.execute(statement)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
