"""The Great Expectations 1.x backend: each rule becomes one expectation, run on pandas or on
Spark (GX's own data source for each; the rules are the same).

GX costs seconds to import, so it is imported here only, and one context serves every suite of
the process. Results are stored in that context so GX can render its HTML data docs.
"""

from __future__ import annotations

import functools
import html
import math
import re
import warnings
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conveyor.checks import pii
from conveyor.checks.backend import CheckBackend, RuleResult
from conveyor.checks.rules import Rule
from conveyor.checks.tables import Table

__all__ = ["GreatExpectationsBackend"]

SAMPLE_ROWS = 5
# Rules whose failing rows are worth showing; a zero-share rule's "failing" rows are just zeros.
ROW_CHECKS = frozenset({"not_null", "between", "in_set", "regex", "not_regex"})
PANDAS_TYPES = {
    "integer": [
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "Int8",
        "Int16",
        "Int32",
        "Int64",
    ],
    "float": ["float16", "float32", "float64", "Float32", "Float64"],
    "date": ["datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]"],
    "boolean": ["bool", "boolean"],
}
SPARK_QUANTILE_ERROR = 0.001  # relative rank error of Spark's quantiles (approxQuantile)
_MIDNIGHT = re.compile(r"\d{4}-\d{2}-\d{2}T00:00:00")
# The same types as Spark names them (GX compares the class names of the column's DataType).
SPARK_TYPES = {
    "integer": ["ByteType", "ShortType", "IntegerType", "LongType"],
    "float": ["FloatType", "DoubleType"],
    "date": ["DateType", "TimestampType", "TimestampNTZType"],
    "boolean": ["BooleanType"],
    "string": ["StringType"],
}


class GreatExpectationsBackend(CheckBackend):
    """Validate with an ephemeral GX context: no project directory, nothing sent anywhere."""

    def __init__(self) -> None:
        # GX imports pyspark when it is installed (conveyor[spark]), and pyspark 4.3 warns that
        # pandas 3 is not fully supported: not this command's business on either engine.
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._sources: dict[str, Any] = {}  # one GX data source per engine, added on first use
        self._stored: list[Any] = []
        # Columns of hashed person ids in any run: raw ids in them never reach the data docs.
        self._hashed_columns: set[str] = set()
        # Results already made safe for the docs (write_docs may run more than once).
        self._rendered: set[int] = set()

    def validate(
        self, suite: str, table: Table, rules: list[Rule], key_columns: list[str]
    ) -> list[RuleResult]:
        """Run every rule as one GX suite over ``table``; sample failing rows with their keys."""
        if not rules:
            return []
        gx = self._gx
        asset = self._source(table.engine).add_dataframe_asset(f"{suite}-{len(self._stored)}")
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": table.native}
        )
        # No `unexpected_index_column_names`: GX would collect the keys of *every* failing row
        # (minutes when most rows fail). The few sample rows are looked up afterwards instead.
        expectations = [_expectation(rule, table.engine) for rule in rules]
        # On Spark, GX fetches each rule's failing values with a job of its own (a filter and a
        # limit), which scans every row when none fails: ask for none, so the counts come from
        # the few bundled aggregations, then fetch values only for the rules with failing rows.
        first_sample = SAMPLE_ROWS if table.engine == "pandas" else 0
        result = batch.validate(
            gx.ExpectationSuite(name=suite, expectations=expectations),
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": first_sample},
        )
        if first_sample < SAMPLE_ROWS:
            sampled = {r.id for r in rules if r.check in ROW_CHECKS or r.check == "unique_key"}
            self._add_failing_values(suite, batch, result, sampled)
        # GX returns results in its own order: match them to rules by the id carried in `meta`.
        by_id = {rule.id: rule for rule in rules}
        outcomes = {}
        for outcome in result.results:
            rule = by_id[outcome.expectation_config.meta["rule"]]
            sample = _sample(rule, outcome.result or {}, table, key_columns)
            outcome.result = _plain(outcome.result)  # numpy scalars break GX's own JSON store
            outcome.success = bool(outcome.success)
            outcomes[rule.id] = _rule_result(rule, outcome, sample)
            if rule.id.startswith("pii.hashed_id.") and rule.column:
                self._hashed_columns.add(rule.column)
        self._stored.append((suite, batch, result, by_id))
        return [outcomes[rule.id] for rule in rules]

    def _add_failing_values(self, suite: str, batch: Any, result: Any, sampled: set[str]) -> None:
        """Re-run, with SAMPLE_ROWS failing values each, the ``sampled`` rules of ``result`` that
        have failing rows, and put those outcomes in its place: the same outcome as one run asking
        for them. (A zero-share rule's "failing" values are zeros: not worth a scan.)"""
        failing = [
            i
            for i, outcome in enumerate(result.results)
            if outcome.expectation_config.meta["rule"] in sampled
            and "partial_unexpected_list" in (outcome.result or {})
            and (outcome.result.get("unexpected_count") or 0) > 0
        ]
        if not failing:
            return
        configs = [result.results[i].expectation_config for i in failing]
        again = batch.validate(
            self._gx.ExpectationSuite(
                name=f"{suite}-failing",
                expectations=[config.to_domain_obj() for config in configs],
            ),
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS},
        )
        by_rule = {o.expectation_config.meta["rule"]: o for o in again.results}
        for i in failing:
            result.results[i] = by_rule[result.results[i].expectation_config.meta["rule"]]

    def _source(self, engine: str) -> Any:
        """GX's data source for ``engine`` ("pandas" or "spark")."""
        if engine not in self._sources:
            add = getattr(self._context.data_sources, f"add_{engine}")
            self._sources[engine] = add(f"conveyor-{engine}")
        return self._sources[engine]

    def write_docs(self, out_dir: Path) -> Path | None:
        """Render GX data docs for every suite run so far into ``out_dir``."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        site = f"conveyor-{out_dir.resolve()}"
        if site not in (self._context.config.data_docs_sites or {}):
            self._context.add_data_docs_site(
                site_name=site,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(out_dir.resolve()),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        for suite, batch, result, rules in self._stored:
            if id(result) not in self._rendered:
                for outcome in result.results:
                    rule = rules[outcome.expectation_config.meta["rule"]]
                    redacted = _redacted(outcome.result or {}, rule, self._hashed_columns)
                    # GX copies some values, column names and kwargs into its HTML unescaped
                    # (table cells, observed column lists): data text is escaped here, once,
                    # so a value or header like `<img onerror=...>` is shown, never run.
                    outcome.result = _html_escaped(redacted)
                    config = outcome.expectation_config
                    config.kwargs = _html_escaped(config.kwargs)
                    config.meta = _html_escaped(config.meta)
                self._rendered.add(id(result))
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite),
                run_id=RunIdentifier(run_name="conveyor"),
                batch_identifier=batch.id,
            )
            self._context.validation_results_store.set(key, result)
        self._context.build_data_docs(site_names=[site])
        index = out_dir / "index.html"
        return index if index.is_file() else None


def _expectation(rule: Rule, engine: str) -> Any:
    import great_expectations.expectations as gxe

    builders: dict[str, Callable[[Rule], Any]] = {
        "columns_match_set": lambda r: gxe.ExpectTableColumnsToMatchSet(
            column_set=[_gx_name(c, engine) for c in r.params["columns"]],
            exact_match=r.params["exact"],
        ),
        "row_count": lambda r: gxe.ExpectTableRowCountToBeBetween(
            min_value=r.params["min"], max_value=r.params["max"]
        ),
        "exists": lambda r: gxe.ExpectColumnToExist(column=_column(r, engine)),
        "type": lambda r: _type_expectation(r, engine),
        "not_null": lambda r: gxe.ExpectColumnValuesToNotBeNull(column=_column(r, engine)),
        "between": lambda r: gxe.ExpectColumnValuesToBeBetween(
            column=_column(r, engine),
            min_value=_bound(r.params["min"]),
            max_value=_bound(r.params["max"]),
        ),
        "in_set": lambda r: gxe.ExpectColumnValuesToBeInSet(
            column=_column(r, engine), value_set=[_bound(v) for v in r.params["values"]]
        ),
        "regex": lambda r: gxe.ExpectColumnValuesToMatchRegex(
            column=_column(r, engine), regex=r.params["regex"]
        ),
        "not_regex": lambda r: gxe.ExpectColumnValuesToNotMatchRegex(
            column=_column(r, engine), regex=r.params["regex"]
        ),
        "unique_key": lambda r: _unique_expectation(r, engine),
        "distinct_count": lambda r: gxe.ExpectColumnUniqueValueCountToBeBetween(
            column=_column(r, engine), min_value=r.params["min"], max_value=r.params["max"]
        ),
        "mean": lambda r: gxe.ExpectColumnMeanToBeBetween(
            column=_column(r, engine), min_value=r.params["min"], max_value=r.params["max"]
        ),
        "quantiles": lambda r: _quantiles_expectation(r, engine),
        # "at most X zeros" is "not zero for at least 1 - X of the rows".
        "zero_share": lambda r: gxe.ExpectColumnValuesToNotBeInSet(
            column=_column(r, engine), value_set=[0], mostly=max(1 - r.params["max"], 1e-9)
        ),
        "max_at_least": lambda r: gxe.ExpectColumnMaxToBeBetween(
            column=_column(r, engine), min_value=_bound(r.params["min"])
        ),
        "max_at_most": lambda r: gxe.ExpectColumnMaxToBeBetween(
            column=_column(r, engine), max_value=_bound(r.params["max"])
        ),
    }
    expectation = builders[rule.check](rule)
    expectation.meta = {"rule": rule.id, "severity": rule.severity}
    return expectation


def _quantiles_expectation(rule: Rule, engine: str) -> Any:
    import great_expectations.expectations as gxe

    kind = _approx_quantiles() if engine == "spark" else gxe.ExpectColumnQuantileValuesToBeBetween
    expectation = kind(
        column=_column(rule, engine),
        quantile_ranges={
            "quantiles": rule.params["quantiles"],
            "value_ranges": rule.params["ranges"],
        },
    )
    return expectation


@functools.cache
def _approx_quantiles() -> Any:
    """GX's quantile expectation with a relative rank error, for Spark: exact quantiles there
    hold every value in one task (10M rows: out of memory), and a rank error of 0.1% is far
    inside a contract's bands. A subclass because GX's own field turns a number given to it
    into text, which its Spark metric then refuses."""
    import great_expectations.expectations as gxe

    class ExpectColumnApproxQuantileValuesToBeBetween(gxe.ExpectColumnQuantileValuesToBeBetween):
        allow_relative_error: float = SPARK_QUANTILE_ERROR  # type: ignore[assignment]

    return ExpectColumnApproxQuantileValuesToBeBetween


def _type_expectation(rule: Rule, engine: str) -> Any:
    import great_expectations.expectations as gxe

    if engine == "spark":
        return gxe.ExpectColumnValuesToBeInTypeList(
            column=_column(rule, engine), type_list=SPARK_TYPES[rule.params["type"]]
        )
    if rule.params["type"] == "string":
        # pandas 3 stores text as the "str" dtype, which GX recognises only this way.
        return gxe.ExpectColumnValuesToBeOfType(column=_column(rule, engine), type_="str")
    return gxe.ExpectColumnValuesToBeInTypeList(
        column=_column(rule, engine), type_list=PANDAS_TYPES[rule.params["type"]]
    )


def _unique_expectation(rule: Rule, engine: str) -> Any:
    import great_expectations.expectations as gxe

    columns = [_gx_name(c, engine) for c in rule.params["columns"]]
    if len(columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=columns[0])
    return gxe.ExpectCompoundColumnsToBeUnique(column_list=columns)


def _column(rule: Rule, engine: str) -> str:
    """The column of a column-level rule (rules.py gives each one; GX would refuse None too), as
    GX names it on ``engine``."""
    if rule.column is None:
        raise ValueError(f"rule {rule.id} ({rule.check}) names no column")
    return _gx_name(rule.column, engine)


def _gx_name(column: str, engine: str) -> str:
    """``column`` as GX knows it: on Spark, a name with a dot in backticks (GX's Spark metrics
    list such a column so, and find it only so: otherwise a struct field); on pandas, as is."""
    if engine == "spark" and "." in column and not _backticked(column):
        return f"`{column}`"
    return column


def _data_name(column: str) -> str:
    """The data's name of a column GX reported (the inverse of ``_gx_name``)."""
    return column[1:-1] if "." in column and _backticked(column) else column


def _backticked(column: str) -> bool:
    return len(column) > 1 and column.startswith("`") and column.endswith("`")


def _bound(value: object) -> Any:
    # Dates in contracts compare against datetime64 columns as timestamps.
    return pd.Timestamp(value) if isinstance(value, date) else value


def _rule_result(rule: Rule, outcome: Any, sample: list[dict[str, Any]]) -> RuleResult:
    result = outcome.result or {}
    error = _exception_message(outcome.exception_info)
    if error:
        return RuleResult(rule, False, f"could not be evaluated: {error}")
    if "unexpected_count" in result:
        # GX on Spark reports an empty data set's counts as None, pandas as 0.
        count = int(result["unexpected_count"] or 0)
        percent = float(result.get("unexpected_percent") or 0.0)
        total = int(result.get("element_count") or 0)
        observed = f"{count:,} of {total:,} rows ({percent:.3g}%) fail"
        if rule.check == "zero_share":
            observed = f"share of zeros {percent / 100:.4g}"
        return RuleResult(rule, outcome.success, observed, count, percent, sample)
    return RuleResult(rule, outcome.success, _observed_text(rule, result))


def _observed_text(rule: Rule, result: dict[str, Any]) -> str:
    observed = result.get("observed_value")
    if observed is None or observed is pd.NaT:  # a statistic of no rows (pandas: NaT)
        return "none"
    if rule.check == "columns_match_set":
        mismatch = (result.get("details") or {}).get("mismatched") or {}
        parts = [
            f"{what} {sorted(_data_name(c) for c in cols)}"
            for what, cols in mismatch.items()
            if cols
        ]
        return "; ".join(parts) if parts else f"columns {sorted(_data_name(c) for c in observed)}"
    if rule.check == "quantiles" and isinstance(observed, dict):
        pairs = zip(observed["quantiles"], observed["values"], strict=True)
        return "; ".join(f"q{q:g} = {'none' if v is None else f'{v:.4g}'}" for q, v in pairs)
    if isinstance(observed, float):
        return f"{observed:.4g}" if math.isfinite(observed) else str(observed)
    return _value_text(observed)


def _value_text(observed: Any) -> str:
    """A date as its day (GX on pandas gives timestamps, on Spark ISO text at midnight)."""
    if isinstance(observed, pd.Timestamp | datetime):
        return str(observed.date().isoformat())
    if isinstance(observed, str) and _MIDNIGHT.fullmatch(observed):
        return observed[:10]
    return str(observed)


def _sample(
    rule: Rule, result: dict[str, Any], table: Table, keys: list[str]
) -> list[dict[str, Any]]:
    """Up to SAMPLE_ROWS failing rows, key first: found by the values GX reported as failing."""
    values = result.get("partial_unexpected_list") or []
    if not values:
        return []
    if rule.check == "unique_key":
        return [_plain(v) for v in values[:SAMPLE_ROWS] if isinstance(v, dict)]
    if rule.check not in ROW_CHECKS or rule.column not in table.columns:
        return []
    picked = None if rule.check == "not_null" else [v for v in values if v is not None]
    columns = [k for k in keys if k != rule.column] + [rule.column]
    return [_plain(row) for row in table.rows_where(rule.column, picked, columns, SAMPLE_ROWS)]


def _redacted(result: dict[str, Any], rule: Rule, hashed: set[str]) -> dict[str, Any]:
    """GX's own record of failing values, as the data docs may show it (see ``pii.redact``)."""

    def one(value: Any) -> Any:
        if isinstance(value, dict):  # a compound key's row
            return {k: pii.redact(v, k, hashed) for k, v in value.items()}
        return pii.redact(value, rule.column or "", hashed)

    out = dict(result)
    for name in ("partial_unexpected_list", "unexpected_list"):
        if isinstance(out.get(name), list):
            out[name] = [one(v) for v in out[name]]
    if isinstance(out.get("partial_unexpected_counts"), list):
        out["partial_unexpected_counts"] = [
            {**entry, "value": one(entry.get("value"))} if isinstance(entry, dict) else entry
            for entry in out["partial_unexpected_counts"]
        ]
    # Whatever else GX kept (observed values, details): PII-shaped text masked.
    scrubbed: dict[str, Any] = pii.scrub(out)
    return scrubbed


def _html_escaped(value: Any) -> Any:
    """``value`` with every string in it (keys too) HTML-escaped: what GX may paste into HTML.
    Where GX escapes as well the text shows doubly escaped (``&amp;lt;``): legible, and safe."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {_html_escaped(k): _html_escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_html_escaped(v) for v in value]
    return value


def _exception_message(info: Any) -> str | None:
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            message = str(entry.get("exception_message") or "error")
            return message.splitlines()[0][:200]
    return None


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, timestamps to ISO dates, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
