"""Which partner categories count as sensitive (their small counts are withheld below
partnership level)."""

from data_access.importers.partner import _category_rows


def test_sensitive_partner_categories():
    labels = {c: c for c in ("domestic_abuse_incident", "rape", "other_sexual_offences",
                             "child_sexual_exploitation", "child_criminal_exploitation",
                             "modern_slavery", "human_trafficking", "hate_crime",
                             "burglary", "vehicle_nuisance", "criminal_damage")}
    rows = _category_rows("calls", labels)
    sensitive = {c for c, (_, _, flag) in rows.items() if flag}
    assert sensitive == {"domestic_abuse_incident", "rape", "other_sexual_offences",
                         "child_sexual_exploitation", "child_criminal_exploitation",
                         "modern_slavery", "human_trafficking", "hate_crime"}
