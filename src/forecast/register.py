"""The `register` stage: save the trained model to the BentoML model store for serving.

What is stored is the serving bundle (forecast.forecaster): model, recent sales history and
feature settings. The tag's version is the hash of that bundle, so re-running on the same model
and data finds the same entry instead of piling up copies. Labels carry the git commit and the
raw data hash (DVC's md5), so the served model can be traced back to exactly this pipeline run.

The stage's DVC output (``out``) holds only what follows from the stage's inputs: the tag, the
data and model hashes. The commit it ran at is provenance, not a product of the inputs: it lives
in the store's labels (and build.json), never in the output, or every commit and every clone
would change the output's hash in dvc.lock and leave the tree dirty.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from conveyor.files import write_json
from conveyor.git import head_commit, is_dirty
from conveyor.hashing import file_md5
from forecast.forecaster import MODEL_FILE, write_bundle
from forecast.params import PipelineParams


def run(
    model_path: Path, raw_path: Path, metrics: dict[str, Any], params: PipelineParams, out: Path
) -> str:
    """Store the serving bundle unless this model is stored already; write the tag to ``out``."""
    import bentoml  # heavy: imported only by the stage that needs it

    with tempfile.TemporaryDirectory() as work:
        bundle = Path(work)
        write_bundle(
            bundle,
            model_path,
            raw_path,
            params.features,
            params.data.holidays_country,
            params.monitoring.max_model_age_days,
        )
        # The version is the hash of everything served (model, history, settings).
        digest = hashlib.md5(usedforsecurity=False)
        for file in sorted(bundle.iterdir()):
            digest.update(file.name.encode() + file_md5(file).encode())
        tag = f"{params.model_store.model_name}:{digest.hexdigest()[:20]}"
        labels = {
            "git_commit": head_commit() or "none",
            "git_dirty": str(is_dirty()).lower(),
            "data_md5": file_md5(raw_path),
            "model_md5": file_md5(model_path),
        }
        try:
            stored = bentoml.models.get(tag)
        except bentoml.exceptions.NotFound:
            metadata = {
                "framework": "lightgbm",
                "wape": metrics["model"]["wape"],
                "skill_wape": metrics["skill"]["wape"],
            }
            with bentoml.models.create(tag, labels=labels, metadata=metadata) as stored:
                for file in bundle.iterdir():
                    shutil.copyfile(file, Path(stored.path) / file.name)
    write_json(
        out,
        {
            "tag": str(stored.tag),
            "file": MODEL_FILE,
            "data_md5": labels["data_md5"],
            "model_md5": labels["model_md5"],
        },
    )
    return str(stored.tag)
