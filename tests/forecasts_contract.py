"""The batch's data contract (policies/data/forecasts.yaml) counts the default data's series and
horizon days: tests on other data sizes count theirs with this, in one place."""

from __future__ import annotations


def sized_forecasts_contract(spec: dict, clubs: int, items: int, days: int) -> dict:
    """policies/data/forecasts.yaml's contract (``spec``) counting another data set's batch:
    its rows (every series x horizon day) and its distinct clubs, items and days."""
    spec["rows"] = {"min": clubs * items * days, "max": clubs * items * days}
    for column, count in (("club_id", clubs), ("item_id", items), ("date", days)):
        spec["columns"][column]["distinct"] = {"min": count, "max": count}
    return spec
