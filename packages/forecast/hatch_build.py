"""Build hook of the example model's package: its source lives in the repository's src/forecast/
(beside conveyor, where the DVC stages and the Bento's build context find it), not in this
folder. Hatchling's `force-include` would copy it into the editable install too, leaving a stale
copy ahead of the source on sys.path: so it is added for the regular wheel only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ForecastSource(BuildHookInterface):
    """Put src/forecast/ at forecast/ in the wheel (not in the editable one)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Called by hatchling before each build; ``version`` is "standard" or "editable"."""
        if version == "standard":
            source = Path(self.root, "..", "..", "src", "forecast").resolve()
            build_data["force_include"][str(source)] = "forecast"
