"""`conveyor build bento`: build a Bento with the exact model the pipeline registered, export it,
and leave its complete Docker build context (env/docker/Dockerfile) on disk, checked.

`conveyor build image`: build that context into an image with buildah, no Docker engine, on a
stand-in of the Dockerfile's base image (deploy/docker/base-image.sh) where no registry is
reachable. On GitHub's runners the release workflow builds it with buildx instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from conveyor.config import bentofile_packages, read_yaml
from conveyor.errors import UserError
from conveyor.files import read_json, write_json
from conveyor.git import head_commit, is_dirty
from conveyor.tools import failure_reason, python_tool, run

__all__ = [
    "BASE_SCRIPT",
    "DOCKERFILE",
    "base_image",
    "build",
    "build_image",
    "check_dockerfile",
    "context_digest",
    "image_name",
    "model_tag",
    "store_args",
    "unsafe_members",
]

DOCKERFILE = Path("env/docker/Dockerfile")


def _bentoml(*args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    result = run([*python_tool("bentoml"), *args], cwd=cwd, env=env, timeout=900)
    if result.returncode != 0:
        raise UserError(f"bentoml {args[0]} failed: {failure_reason(result)}")
    return result.stdout


# BentoML's tag: "name:version", each part lowercase letters, digits, "_", "-" and ".", starting
# and ending with a letter or digit, at most 63 characters (bentoml/_internal/tag.py). Checked
# here so that no value shaped like an option ("--help") or with a space reaches its CLI.
_TAG_PART = r"[a-z0-9](?:[-._a-z0-9]{0,61}[a-z0-9])?"
TAG_PATTERN = re.compile(rf"{_TAG_PART}:{_TAG_PART}")


def model_tag(tag_file: Path) -> str:
    """The model tag the pipeline wrote (``{"tag": "name:version"}``), checked as BentoML's."""
    if not tag_file.exists():  # other problems (a folder, bad JSON): read_json names them
        raise UserError(
            f"{tag_file}: no such file: run the pipeline first (it registers the model)"
        )
    tag = read_json(tag_file, "the registered model's tag").get("tag")
    if not isinstance(tag, str) or TAG_PATTERN.fullmatch(tag) is None:
        raise UserError(
            f"{tag_file}: tag {json.dumps(tag)} is not a BentoML model tag 'name:version' "
            "(lowercase letters, digits, '_', '-', '.'; each part starts and ends with a letter "
            "or digit): run 'make pipeline' (or 'dvc repro register') to write it"
        )
    return tag


def model_store() -> str:
    """Where BentoML keeps its models: $BENTOML_HOME, else its default (~/bentoml)."""
    home = os.environ.get("BENTOML_HOME")
    return home if home else f"{Path.home() / 'bentoml'} (default)"


def require_stored_model(tag: str, tag_file: Path) -> str:
    """The full tag of model ``tag`` in the BentoML model store; a usage error when it is not
    there, since `bentoml build` would then package a Bento without it (and say so only after)."""
    import bentoml  # heavy: imported only by the command that needs it

    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise UserError(
            f"{tag_file}: model {tag} is not in the BentoML model store ({model_store()}): "
            "run 'make pipeline' (or 'dvc repro register') first"
        ) from None
    except (ValueError, OSError, bentoml.exceptions.BentoMLException) as error:
        raise UserError(
            f"{tag_file}: model {tag} cannot be read from the BentoML model store "
            f"({model_store()}): {error}"
        ) from None
    return str(stored.tag)


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


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.resolve().parts)


@contextmanager
def _dot_free(bentofile: Path, context: Path) -> Iterator[tuple[Path, Path, Path]]:
    """Where to run `bentoml build` from, and the bentofile and context relative to it.

    BentoML refuses a file whose absolute path has a part starting with "." ("Accessing hidden
    files is not allowed", e.g. a checkout under ~/.work/) and one outside its working directory.
    From such a checkout the build inputs are copied, at the same relative places, into a
    temporary folder without one: the bentofile, the context and the files the bentofile names.
    """
    root = Path.cwd()
    if not (_hidden(root) or _hidden(bentofile) or _hidden(context)):
        yield root, bentofile.resolve(), context
        return
    config = yaml.safe_load(bentofile.read_text(encoding="utf-8")) or {}
    named = [
        (config.get("docker") or {}).get("dockerfile_template"),
        (config.get("docker") or {}).get("setup_script"),
        (config.get("python") or {}).get("requirements_txt"),
    ]
    scratch = Path(tempfile.gettempdir())
    if _hidden(scratch):
        raise UserError(
            f"bentoml build refuses paths with a hidden folder ({root}) and the temporary "
            f"folder {scratch} has one too: set TMPDIR to a folder without one"
        )
    if not (context.resolve().is_relative_to(root) and bentofile.resolve().is_relative_to(root)):
        raise UserError(f"{bentofile} and {context} must be inside the current folder ({root})")
    with tempfile.TemporaryDirectory(prefix="conveyor-bento-", dir=scratch) as work:
        stage = Path(work)
        context_at = stage / context.resolve().relative_to(root)
        shutil.copytree(context, context_at, ignore=shutil.ignore_patterns("__pycache__"))
        bentofile_at = stage / bentofile.resolve().relative_to(root)
        bentofile_at.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(bentofile, bentofile_at)
        for name in filter(None, named):
            source = (context / name).resolve()
            if source.is_file() and source.is_relative_to(root):
                target = stage / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        yield stage, bentofile_at, context_at.relative_to(stage)


def build(bentofile: Path, context: Path, tag_file: Path, out: Path) -> dict[str, Any]:
    """Build, export and unpack the Bento; write and return ``out/build.json``."""
    packages = bentofile_packages(bentofile)  # the record lists their versions
    tag = require_stored_model(model_tag(tag_file), tag_file)  # before anything is built
    env = {**os.environ, "CONVEYOR_MODEL_TAG": tag, "BENTOML_DO_NOT_TRACK": "true"}
    with _dot_free(bentofile, context) as (where, bentofile_at, context_at):
        printed = _bentoml(
            "build", "-f", str(bentofile_at), "-o", "tag", "--", str(context_at), env=env, cwd=where
        )
    match = re.search(r"__tag__:(\S+)", printed)
    if match is None:
        raise UserError(f"bentoml build printed no tag: {printed.strip()[-200:]}")
    bento = match.group(1)
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{bento.replace(':', '-')}.bento"
    # bentoml misreads relative paths
    _bentoml("export", "--", bento, str(archive.resolve()), env=env)
    unpacked = out / "context"
    with tarfile.open(archive) as tar:
        _extract(tar, unpacked)
    packaged = models_in_bento(unpacked)
    if tag not in packaged:
        # An image of this Bento would start without its model: leave nothing to build it from.
        archive.unlink()
        shutil.rmtree(unpacked)
        raise BuildError(
            f"bento {bento} does not hold model {tag} (its models: "
            f"{', '.join(packaged) or 'none'}): does {bentofile}'s service declare the model "
            "it serves?"
        )
    problems = check_dockerfile(unpacked / DOCKERFILE)
    if problems:
        raise UserError("; ".join(problems))
    record = _record(bento, tag, unpacked, archive, env, packages)
    write_json(out / "build.json", record)
    return record


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Unpack only files and folders inside ``into``: no links, no absolute or `..` paths."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 filters itself
        tar.extractall(into, filter="data")
        return
    # Python 3.11.0-3.11.3 (e.g. Debian bookworm's 3.11.2) has no extraction filters: the same
    # refusals by hand, so an adopter's older 3.11 gets the same guarantee, not a TypeError.
    unsafe = unsafe_members(tar)
    if unsafe:
        raise BuildError(f"bento archive holds links or paths out of its folder: {unsafe[0]!r}")
    tar.extractall(into)  # noqa: S202 - every member was checked above


def unsafe_members(tar: tarfile.TarFile) -> list[str]:
    """Members that are not a plain file or folder, or whose path leaves the folder."""
    return [
        member.name
        for member in tar.getmembers()
        if not (member.isfile() or member.isdir())
        or Path(member.name).is_absolute()
        or ".." in Path(member.name).parts
    ]


def models_in_bento(unpacked: Path) -> list[str]:
    """The tags of the models an unpacked Bento holds, from its bento.yaml."""
    manifest = yaml.safe_load((unpacked / "bento.yaml").read_text(encoding="utf-8")) or {}
    # Every service of the Bento that loads a model lists it; each model counts once.
    return sorted(
        {m["tag"] for service in manifest.get("services", []) for m in service.get("models", [])}
    )


def _record(
    bento: str,
    model: str,
    unpacked: Path,
    archive: Path,
    env: dict[str, str],
    declared: list[str],
) -> dict[str, Any]:
    manifest = yaml.safe_load((unpacked / "bento.yaml").read_text(encoding="utf-8"))
    info = json.loads(_bentoml("models", "get", "-o", "json", "--", model, env=env))
    labels = info.get("labels") or {}
    packages = (manifest.get("docker") or {}).get("python_version")
    return {
        "bento_tag": bento,
        "model_tag": model,
        "models_in_bento": models_in_bento(unpacked),
        "git_commit": head_commit(),
        "git_dirty": is_dirty(),
        "model_git_commit": labels.get("git_commit"),
        "data_md5": labels.get("data_md5"),
        "archive": str(archive),
        "docker_context": str(unpacked),
        "dockerfile": str(unpacked / DOCKERFILE),
        "image_python": packages,
        "build_python": platform.python_version(),
        # the versions the build ran with, of BentoML and of what the bentofile declares
        "packages": {name: _version(name) for name in dict.fromkeys(["bentoml", *declared])},
    }


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# `conveyor build image`: the exported context built into an image with buildah, no Docker engine.

# Local images only (never pushed from here): the release workflow names the published one.
IMAGE_REGISTRY = "localhost"
# One path component of an image name (OCI distribution spec): what a Bento name must also be.
_IMAGE_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
BASE_SCRIPT = Path("deploy/docker/base-image.sh")


class BuildError(UserError):
    """A build that ran and failed (not a usage error): exit 1."""

    exit_code = 1


@cache
def storage_driver() -> str:
    """$CONVEYOR_STORAGE_DRIVER, else overlay where this machine can mount it (root, kernel
    overlayfs, not nested in another overlay), else vfs. Both hold the same images; overlay
    starts a container without first copying the whole image (vfs: ~40 s for 1 GB here)."""
    chosen = os.environ.get("CONVEYOR_STORAGE_DRIVER")
    if chosen:
        return chosen
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "vfs"
    with tempfile.TemporaryDirectory(prefix="conveyor-overlay-") as work:
        parts = [Path(work, name) for name in ("lower", "upper", "work", "merged")]
        for part in parts:
            part.mkdir()
        lower, upper, scratch, merged = parts
        options = f"lowerdir={lower},upperdir={upper},workdir={scratch}"
        mounted = run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], timeout=30)
        if mounted.returncode != 0:
            return "vfs"
        run(["umount", str(merged)], timeout=30)
    return "overlay"


def store_args(store: Path) -> list[str]:
    """buildah/podman options for the image store under ``store``, one folder per storage driver
    (a store cannot change driver). Absolute paths: both tools change directory."""
    root, driver = store.resolve(), storage_driver()
    suffix = "" if driver == "vfs" else f"-{driver}"
    graph, state = str(root / f"graph{suffix}"), str(root / f"run{suffix}")
    return ["--root", graph, "--runroot", state, "--storage-driver", driver]


def default_base_cache() -> Path:
    """Where stand-in base images are kept: outside the checkout, so every clone reuses them."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "conveyor"


def context_digest(context: Path) -> str:
    """sha256 over every file of the build context (path, mode, bytes): same context, same image."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(context).as_posix()
        digest.update(f"{relative}\0{path.stat().st_mode & 0o111:o}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def base_image(dockerfile: Path) -> str:
    """The first FROM of a Dockerfile, fully qualified as Docker resolves a short name."""
    match = re.search(r"^FROM\s+(\S+)", dockerfile.read_text(encoding="utf-8"), flags=re.M)
    if match is None:
        raise UserError(f"{dockerfile}: no FROM line")
    name = match.group(1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name


def image_exists(store: Path, ref: str) -> bool:
    """Whether ``ref`` is in the store (no registry is asked)."""
    result = run(["buildah", *store_args(store), "inspect", "--type", "image", ref], timeout=120)
    return result.returncode == 0


def _stream(args: list[str], what: str) -> None:
    """Run a long tool with its output on the terminal; a failure is one line after it."""
    try:
        code = subprocess.run(args, check=False).returncode
    except OSError as error:
        raise BuildError(f"{what}: {error}") from None
    if code != 0:
        raise BuildError(f"{what} failed (exit {code}; its output is above)")


def ensure_base(store: Path, image: str, cache: Path, script: Path) -> str:
    """Put the Dockerfile's base image into ``store``: from the cached archive, building that
    archive first with ``script`` (debootstrap, ~5 min) when there is none."""
    if image_exists(store, image):
        return "present"
    archive = cache / (re.sub(r"[^A-Za-z0-9_.-]+", "-", image.rpartition("/")[2]) + ".tar")
    built = "cached"
    if not archive.is_file():
        if not script.is_file():
            raise UserError(f"{script}: no such base-image script (run from the repository root)")
        print(f"base image {image}: building a stand-in into {archive} (once per machine)")
        _stream(["bash", str(script), image, str(archive)], f"{script}")
        built = "built"
    result = run(
        ["buildah", *store_args(store), "pull", "--quiet", f"docker-archive:{archive}"],
        timeout=900,
    )
    if result.returncode != 0:
        raise BuildError(f"buildah pull docker-archive:{archive} failed: {failure_reason(result)}")
    if not image_exists(store, image):
        raise BuildError(f"{archive} does not hold {image}: delete it to rebuild")
    return built


def image_name(context: Path) -> str:
    """``localhost/<the Bento's name>``: the project names its image (its bentofile's ``name``,
    which the exported context's bento.yaml records), conveyor never does."""
    name = read_yaml(context / "bento.yaml").get("name")
    if not isinstance(name, str) or _IMAGE_COMPONENT.fullmatch(name) is None:
        raise UserError(
            f"{context / 'bento.yaml'}: name {json.dumps(name)} is not usable as an image name "
            "(lowercase letters and digits, joined by '.', '_', '__' or '-'): set the "
            "bentofile's name, or pass --name"
        )
    return f"{IMAGE_REGISTRY}/{name}"


def build_image(
    context: Path,
    store: Path,
    name: str | None = None,
    base_cache: Path | None = None,
    base_script: Path = BASE_SCRIPT,
) -> dict[str, Any]:
    """Build the exported Bento context with buildah into ``store``; an image of the same context
    digest is reused; ``name`` defaults to image_name(). Returns the image reference, its base and
    whether it was built."""
    dockerfile = context / DOCKERFILE
    if not dockerfile.is_file():
        raise UserError(
            f"{context}: no Bento build context ({DOCKERFILE} missing): "
            "run 'conveyor build bento' first"
        )
    name = name or image_name(context)
    if shutil.which("buildah") is None:
        raise UserError("buildah is not installed: apt-get install buildah (Debian package)")
    ref = f"{name}:{context_digest(context)[:16]}"
    record: dict[str, Any] = {"image": ref, "context": str(context), "store": str(store)}
    if image_exists(store, ref):
        run(["buildah", *store_args(store), "tag", ref, f"{name}:latest"], timeout=120)
        return {**record, "built": False}
    base = base_image(dockerfile)
    record["base_image"] = base
    record["base"] = ensure_base(store, base, base_cache or default_base_cache(), base_script)
    _stream(
        [
            "buildah",
            *store_args(store),
            "bud",
            "--isolation",
            "chroot",
            "--format",
            "docker",  # OCI would drop HEALTHCHECK
            "--pull=never",  # no registry is reachable: the base is in the store
            "--layers=false",
            "-f",
            str(dockerfile.resolve()),
            "-t",
            ref,
            "-t",
            f"{name}:latest",
            str(context.resolve()),
        ],
        "buildah bud",
    )
    _prune(store, name, keep={ref, f"{name}:latest"})
    return {**record, "built": True}


def _prune(store: Path, name: str, keep: set[str]) -> None:
    """Remove the older images of ``name``: with vfs, each costs its full size on disk."""
    listed = run(["buildah", *store_args(store), "images", "--format", "{{.Name}}:{{.Tag}}"])
    stale = [ref for ref in listed.stdout.split() if ref.rpartition(":")[0] == name]
    stale = [ref for ref in stale if ref not in keep]
    if stale:
        run(["buildah", *store_args(store), "rmi", *stale], timeout=600)
