"""What every test shares: quiet, offline tools. Fixtures live beside the tests that use them."""

from __future__ import annotations

import os

# Quiet and offline for every tool a test may start.
os.environ.update(DVC_NO_ANALYTICS="1", BENTOML_DO_NOT_TRACK="true", GX_ANALYTICS_ENABLED="False")
