"""Importers: the partnership's own files into the database, validated first, all or nothing.

Each importer reads and checks its files without touching the database (``read_*``), collecting
every problem as a :class:`~data_access.importers.common.Problem` (file, row, column, message),
then writes inside the caller's one transaction (``load_*``) and returns an
:class:`~data_access.importers.common.ImportSummary`. A problem anywhere raises
:class:`~data_access.importers.common.ImportRejected` carrying all of them, so the transaction
rolls back and the database is unchanged.

- :mod:`.police_uk`: police.uk street-level monthly CSVs (a folder, files, or the site's zip);
- :mod:`.police_counts`: monthly counts by LSOA x police.uk crime type;
- :mod:`.partner`: partner extracts with date and time (calls for service, council ASB cases);
- :mod:`.areas`: ONS boundaries (GeoJSON) and the LSOA -> ward -> LCSP lookup with population;
- :mod:`.records`: KPI returns, outputs/actions and calendar events.

The command line is :mod:`data_access.load`.
"""
