"""`conveyor data manifest`: what DVC tracks of a data set kept outside its cache."""

from __future__ import annotations

import argparse

from conveyor import extras
from conveyor.cli import options
from conveyor.files import output_file, path_or_url

__all__ = ["add"]


def _manifest(args: argparse.Namespace) -> int:
    extras.require("data manifest")
    from conveyor.files import write_json
    from conveyor.manifest import build_manifest

    manifest = build_manifest(args.location)
    write_json(args.out, manifest)
    delta = f", Delta version {manifest['delta']['version']}" if "delta" in manifest else ""
    print(
        f"{len(manifest['files'])} file(s), {manifest['rows']:,} rows{delta}, content "
        f"{manifest['content_id'][:12]} -> {args.out}"
    )
    return 0


def add(commands: options.Commands) -> None:
    """Register `data manifest`."""
    kinds = options.group(commands, "data", "data sets kept outside the DVC cache")
    manifest = kinds.add_parser(
        "manifest",
        help="list a Parquet data set's files, rows and schema as a manifest for DVC",
        description="Write the manifest of the Parquet file, every Parquet file below the "
        "folder, or the current version of the Delta table at URL_OR_PATH: each file's path, "
        "size and checksum, the rows from the footers and the schema (no data is read), a "
        "content id and a Delta table's version. Declare it as the stage's output in dvc.yaml. "
        "Exit 0 written, 1 the files disagree on a column, 2 usage error.",
    )
    manifest.add_argument(
        "location",
        type=path_or_url,
        metavar="URL_OR_PATH",
        help="s3://, gs://, abfs:// (their fsspec package installed) or a local file or folder",
    )
    manifest.add_argument(
        "--out", type=output_file, required=True, help="the manifest JSON to write"
    )
    manifest.set_defaults(func=_manifest)
