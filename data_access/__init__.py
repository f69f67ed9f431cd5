"""Data access: schema, engine, queries and importers (no Streamlit outside connection.py)."""
