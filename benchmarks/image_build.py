"""Image build and start-up: cold base image, warm build, image size, container start -> ready.

    .venv/bin/python benchmarks/image_build.py            # after `make image` (uses its Bento)
    .venv/bin/python benchmarks/image_build.py --no-cold  # skip the ~5 min debootstrap

- cold base: deploy/docker/base-image.sh into a scratch archive (the cached one is left alone);
- warm build: `conveyor build image` of build/bento/context with the base image already in the
  store and the image removed first, so every step of the Dockerfile runs;
- image size: as podman reports it (uncompressed layers);
- start -> ready: `podman run` under the prod overlay's pod options (tests/podman_pod.py) until
  /readyz answers 200, three times, median.

Targets (issue 13): warm build <= 3 min on 2 cores, image <= 1.0 GB, ready <= 15 s. Figures go
to stdout and benchmarks/.work/image_build.json. Exit 0 even when a target is missed (a report),
2 when there is no Bento to build (run `make image` first).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/podman_pod.py: the pod options the image tests use

from tests import podman_pod  # noqa: E402

from conveyor.build import (  # noqa: E402
    BASE_SCRIPT,
    DOCKERFILE,
    base_image,
    build_image,
    context_digest,
    image_name,
    store_args,
)

STORE = REPO / "build" / "containers"
CONTEXT = REPO / "build" / "bento" / "context"
PROD = REPO / "deploy" / "environments" / "prod"
TARGETS = {"warm_build_s": 180.0, "image_gb": 1.0, "ready_s": 15.0}


def cold_base(image: str) -> float:
    """Seconds to build the stand-in base image from nothing (debootstrap included)."""
    with tempfile.TemporaryDirectory(prefix="conveyor-cold-") as work:
        archive = Path(work) / "base.tar"
        started = time.monotonic()
        subprocess.run(["bash", str(REPO / BASE_SCRIPT), image, str(archive)], check=True)
        return time.monotonic() - started


def warm_build(context: Path) -> float:
    """Seconds for `conveyor build image` with the base in the store and no image to reuse."""
    ref = f"{image_name(context)}:{context_digest(context)[:16]}"
    subprocess.run(
        ["buildah", *store_args(STORE), "rmi", "--force", ref], capture_output=True, check=False
    )
    started = time.monotonic()
    record = build_image(context, STORE)
    assert record["built"], record
    return time.monotonic() - started


def image_size(ref: str) -> int:
    """Bytes of the image, uncompressed, as podman reports it."""
    result = subprocess.run(
        [*podman_pod.podman(STORE), "image", "inspect", "--format", "{{.Size}}", ref],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


def start_to_ready(ref: str, runs: int) -> list[float]:
    """Seconds from `podman run` to /readyz 200 under the prod pod's options, per run."""
    pod = podman_pod.pod_options(podman_pod.rendered_deployment(PROD))
    seconds = []
    for run in range(runs):
        name = f"conveyor-bench-{os.getpid()}-{run}"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = time.monotonic()
        podman_pod.start(STORE, ref, pod, name, port)
        try:
            ready = podman_pod.wait_ready(
                f"http://127.0.0.1:{port}{pod.readiness_path}", pod.startup_budget_s
            )
            if ready is None:
                raise RuntimeError(f"not ready: {podman_pod.logs(STORE, name)[-2000:]}")
            seconds.append(time.monotonic() - started)
        finally:
            podman_pod.remove(STORE, name)
    return seconds


def main() -> int:
    """Measure, print, write benchmarks/.work/image_build.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cold", action="store_true", help="skip the cold base build")
    parser.add_argument("--runs", type=int, default=3, help="container starts to time")
    parser.add_argument("--context", type=Path, default=CONTEXT)
    args = parser.parse_args()
    if not (args.context / DOCKERFILE).is_file():
        print(f"{args.context}: no Bento build context: run 'make image' first", file=sys.stderr)
        return 2
    # The machine may be shared: the load average says how much the figures suffered from it.
    figures: dict[str, object] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    base = base_image(args.context / DOCKERFILE)
    if not args.no_cold:
        figures["cold_base_s"] = round(cold_base(base), 1)
    figures["warm_build_s"] = round(warm_build(args.context), 1)
    ref = f"{image_name(args.context)}:{context_digest(args.context)[:16]}"
    figures["image"] = ref
    figures["image_gb"] = round(image_size(ref) / 1e9, 3)
    ready = start_to_ready(ref, args.runs)
    figures["ready_s_runs"] = [round(s, 1) for s in ready]
    figures["ready_s"] = round(statistics.median(ready), 1)
    figures["load_after"] = os.getloadavg()[0]
    out = REPO / "benchmarks" / ".work" / "image_build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else ("  ok" if value <= target else "  MISSED")  # type: ignore[operator]
        limit = "" if target is None else f"  (target <= {target:g})"
        print(f"{key:28} {value}{limit}{verdict}")
    print(f"figures: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
