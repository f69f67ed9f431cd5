"""Deterministic synthetic sample data for a Birmingham-like Community Safety Partnership.

Everything is seeded: the same seed gives the same frames. Nothing here touches a database;
``generator.build_dataset`` returns the small tables and an iterator of monthly incident frames
whose columns match :mod:`data_access.schema` (the loader derives the period and grid columns).
"""
