"""The `compute:` section of params.yaml: the engine the data stages run on, and Spark's master
and settings when that engine is Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationError
from pydantic import Strict as PydanticStrict

from conveyor.config import Number, Strict, format_validation_error, parse_yaml, read_text
from conveyor.errors import ConfigError

__all__ = ["ComputeParams", "SparkSettings", "load_compute"]

Text = Annotated[str, PydanticStrict(), StringConstraints(min_length=1)]
ConfValue = Text | Annotated[int, PydanticStrict()] | Annotated[bool, PydanticStrict()]


class SparkSettings(Strict):
    """How to reach Spark: its master URL and any `spark.*` settings to start the session with."""

    master: Text = Field("local[2]", description="local[N], spark://HOST:PORT, yarn, k8s://URL")
    conf: dict[Text, ConfValue] = Field(default_factory=dict, description="spark.* settings")
    connect_timeout_seconds: Number = Field(
        10, gt=0, le=50, description="how long to wait for a cluster master to answer"
    )


class ComputeParams(Strict):
    """`engine: local` runs each stage in its own process; `engine: spark` on a Spark session."""

    engine: Literal["local", "spark"] = "local"
    spark: SparkSettings = Field(default_factory=SparkSettings)


def load_compute(params: Path, missing_ok: bool = True) -> ComputeParams:
    """The `compute:` section of ``params`` (validated, errors name file and key); without the
    section, or without the file when ``missing_ok`` (the default path, not one a user named),
    the engine is local, as it was before the switch existed."""
    if missing_ok and not params.exists() and not params.is_symlink():
        return ComputeParams()
    text = read_text(params)
    data = parse_yaml(params, text)
    if not data:
        raise ConfigError(f"{params}: empty: expected the pipeline's params (a mapping)")
    section = data.get("compute")
    if section is None:
        return ComputeParams()
    try:
        return ComputeParams.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(params, exc, text, ("compute",))) from None
