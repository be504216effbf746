"""The `register` stage: save the trained model to the BentoML model store for serving.

The tag's version is the model file's hash, so re-running on the same model finds the same entry
instead of piling up copies. Labels carry the git commit and the raw data hash (DVC's md5), so the
served model can be traced back to exactly this pipeline run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from conveyor.files import write_json
from conveyor.gitinfo import head_commit, is_dirty
from conveyor.hashing import file_md5
from forecast.params import ModelStoreParams

MODEL_FILE = "model.txt"


def run(
    model_path: Path, raw_path: Path, metrics: dict[str, Any], params: ModelStoreParams, out: Path
) -> str:
    """Store the model unless this exact model is already stored; write its tag to ``out``."""
    import bentoml  # heavy: imported only by the stage that needs it

    model_hash = file_md5(model_path)
    tag = f"{params.model_name}:{model_hash[:20]}"
    labels = {
        "git_commit": head_commit() or "none",
        "git_dirty": str(is_dirty()).lower(),
        "data_md5": file_md5(raw_path),
        "model_md5": model_hash,
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
            shutil.copyfile(model_path, Path(stored.path) / MODEL_FILE)
    write_json(out, {"tag": str(stored.tag), "labels": stored.info.labels, "file": MODEL_FILE})
    return str(stored.tag)
