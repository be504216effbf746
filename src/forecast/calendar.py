"""The holiday calendar shared by the generator and the features (known in advance, never leaks)."""

from __future__ import annotations

import datetime as dt

import holidays
import numpy as np

from conveyor.errors import ConfigError


def holiday_dates(country: str, start: dt.date, end: dt.date) -> np.ndarray:
    """Sorted public-holiday dates of ``country`` between ``start`` and ``end`` (datetime64[D])."""
    try:
        calendar = holidays.country_holidays(country, years=range(start.year, end.year + 2))
    except NotImplementedError:
        raise ConfigError(
            f"data.holidays_country: unknown country code {country!r} (use ISO 3166, e.g. US)"
        ) from None
    # One year beyond `end`, so "days to next holiday" is defined at the end of the data.
    days = sorted(day for day in calendar if start <= day)
    return np.array(days, dtype="datetime64[D]")
