"""`conveyor build bento|image`: package the model for serving."""

from __future__ import annotations

import argparse
from pathlib import Path

from conveyor import extras
from conveyor.cli import options
from conveyor.errors import ConfigError
from conveyor.files import existing_dir, output_dir

__all__ = ["add"]


def _build_bento(args: argparse.Namespace) -> int:
    extras.require("build bento")
    from conveyor.build import build, model_tag
    from conveyor.config import read_yaml

    # Both inputs are read before `bentoml build` (slow, and its errors name neither file).
    if not read_yaml(args.bentofile).get("service"):
        raise ConfigError(f"{args.bentofile}: service: required key is missing (not a bentofile?)")
    model_tag(args.model_tag_file)  # a BentoML tag, never an option or a blank
    record = build(args.bentofile, args.context, args.model_tag_file, args.out)
    print(
        f"bento {record['bento_tag']} with model {record['model_tag']}; Docker build context "
        f"{record['docker_context']} (Dockerfile checked: non-root user, HEALTHCHECK); "
        f"{args.out / 'build.json'}"
    )
    return 0


def _build_image(args: argparse.Namespace) -> int:
    from conveyor.build import build_image, store_args

    record = build_image(args.context, args.store, args.name, args.base_cache)
    verb = "built" if record["built"] else "up to date"
    print(f"image {record['image']} {verb}, also tagged :latest; run it with")
    store = " ".join(store_args(args.store))
    print(f"  podman {store} --runtime runc --cgroup-manager=cgroupfs run ...")
    return 0


def add(commands: options.Commands) -> None:
    """Register `build bento` and `build image`."""
    kinds = options.group(commands, "build", "package the model for serving")
    bento = kinds.add_parser(
        "bento",
        help="build and export the Bento with the pipeline's model; write build.json",
        description="bentoml build + bentoml export, then unpack the Docker build context and "
        "check its Dockerfile (non-root USER, HEALTHCHECK). No Docker engine needed.",
    )
    bento.add_argument("--bentofile", type=Path, default=Path("bentofile.yaml"))
    bento.add_argument(
        "--context",
        type=existing_dir,
        default=Path("src"),
        help="build context holding the service's packages (default: src)",
    )
    bento.add_argument(
        "--model-tag-file",
        type=Path,
        default=Path("models/bentoml_model.json"),
        help="the registered model's tag, as the pipeline wrote it",
    )
    options.out_dir(bento, "build/bento", "the .bento archive, its unpacked context and build.json")
    bento.set_defaults(func=_build_bento)
    image = kinds.add_parser(
        "image",
        help="build the exported Bento context into an image with buildah (no Docker engine)",
        description="buildah bud (vfs storage, chroot isolation, docker format) of the context "
        "`conveyor build bento` exported; the Dockerfile's base image comes from a local "
        "stand-in (deploy/docker/base-image.sh, cached outside the checkout). An image of the "
        "same context digest is reused.",
    )
    image.add_argument("--context", type=Path, default=Path("build/bento/context"))
    image.add_argument(
        "--store",
        type=output_dir,
        default=Path("build/containers"),
        help="buildah/podman image store (graph/ and run/ inside; default: build/containers)",
    )
    image.add_argument(
        "--name",
        default=None,
        help="the image's name (default: localhost/ and the Bento's name, the bentofile's name)",
    )
    image.add_argument(
        "--base-cache",
        type=output_dir,
        default=None,
        help="where stand-in base images are cached (default: ~/.cache/conveyor)",
    )
    image.set_defaults(func=_build_image)
