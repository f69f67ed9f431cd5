"""Measures and their maths as pure functions (no Streamlit, no database)."""
