"""`conveyor build bento`: build a Bento with the exact model the pipeline registered, export it,
and leave its complete Docker build context (env/docker/Dockerfile) on disk, checked.

Building the image needs a Docker engine and runs on GitHub's runners (docker/build-push-action
on the exported context); everything up to that boundary happens here.
"""

from __future__ import annotations

import json
import os
import platform
import re
import tarfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from conveyor.errors import UserError
from conveyor.files import write_json
from conveyor.gitinfo import head_commit, is_dirty
from conveyor.tools import failure_reason, python_tool, run

DOCKERFILE = Path("env/docker/Dockerfile")


def _bentoml(*args: str, env: dict[str, str]) -> str:
    result = run([*python_tool("bentoml"), *args], env=env, timeout=900)
    if result.returncode != 0:
        raise UserError(f"bentoml {args[0]} failed: {failure_reason(result)}")
    return result.stdout


def model_tag(tag_file: Path) -> str:
    """The model tag the pipeline wrote (``{"tag": ...}``)."""
    if not tag_file.is_file():
        raise UserError(
            f"{tag_file}: no such file: run the pipeline first (it registers the model)"
        )
    return json.loads(tag_file.read_text(encoding="utf-8"))["tag"]


def check_dockerfile(path: Path) -> list[str]:
    """Problems of a generated Dockerfile: it must end as a non-root user, with a healthcheck."""
    text = path.read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    problems = []
    if not users or users[-1] in ("root", "0"):
        problems.append(
            f"{path}: the image runs as root (last USER: {users[-1] if users else 'none'})"
        )
    if not re.search(r"^HEALTHCHECK\s+", text, flags=re.M):
        problems.append(f"{path}: no HEALTHCHECK")
    return problems


def build(bentofile: Path, context: Path, tag_file: Path, out: Path) -> dict[str, Any]:
    """Build, export and unpack the Bento; write and return ``out/build.json``."""
    tag = model_tag(tag_file)
    env = {**os.environ, "CONVEYOR_MODEL_TAG": tag, "BENTOML_DO_NOT_TRACK": "true"}
    printed = _bentoml("build", "-f", str(bentofile.resolve()), "-o", "tag", str(context), env=env)
    match = re.search(r"__tag__:(\S+)", printed)
    if match is None:
        raise UserError(f"bentoml build printed no tag: {printed.strip()[-200:]}")
    bento = match.group(1)
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{bento.replace(':', '-')}.bento"
    _bentoml("export", bento, str(archive.resolve()), env=env)  # bentoml misreads relative paths
    unpacked = out / "context"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")  # refuses links and paths out of the folder
    problems = check_dockerfile(unpacked / DOCKERFILE)
    if problems:
        raise UserError("; ".join(problems))
    record = _record(bento, tag, unpacked, archive, env)
    write_json(out / "build.json", record)
    return record


def _record(
    bento: str, model: str, unpacked: Path, archive: Path, env: dict[str, str]
) -> dict[str, Any]:
    manifest = yaml.safe_load((unpacked / "bento.yaml").read_text(encoding="utf-8"))
    # Every service of the Bento that loads a model lists it; each model counts once.
    packaged = sorted(
        {m["tag"] for service in manifest.get("services", []) for m in service.get("models", [])}
    )
    info = json.loads(_bentoml("models", "get", model, "-o", "json", env=env))
    labels = info.get("labels") or {}
    packages = (manifest.get("docker") or {}).get("python_version")
    return {
        "bento_tag": bento,
        "model_tag": model,
        "models_in_bento": packaged,
        "git_commit": head_commit(),
        "git_dirty": is_dirty(),
        "model_git_commit": labels.get("git_commit"),
        "data_md5": labels.get("data_md5"),
        "archive": str(archive),
        "docker_context": str(unpacked),
        "dockerfile": str(unpacked / DOCKERFILE),
        "image_python": packages,
        "build_python": platform.python_version(),
        "packages": {
            name: _version(name)
            for name in ("bentoml", "lightgbm", "polars", "pyarrow", "numpy", "pandas", "pydantic")
        },
    }


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
