"""Run an image with podman the way Kubernetes runs a Deployment's container: the security
context, env, ports, emptyDir volumes and limits come from the rendered manifests
(`kubectl kustomize`), never from a copy written by hand. Used by tests/e2e/test_image.py and
benchmarks/image_build.py."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conveyor.build import store_args

# Binary (Ki, Mi, ...) and decimal (k, M, ...) suffixes of Kubernetes quantities.
_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "": 1,
}


def quantity_bytes(quantity: str | int) -> int:
    """A Kubernetes memory or storage quantity ("256Mi", "3Gi", "1G", "1000") in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)", str(quantity))
    if match is None:
        raise ValueError(f"not a quantity this helper knows: {quantity!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def cpu_cores(quantity: str | int) -> float:
    """A Kubernetes CPU quantity ("2", "500m") in cores."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def rendered_deployment(overlay: Path, name: str = "forecaster") -> dict[str, Any]:
    """The Deployment ``name`` as `kubectl kustomize overlay` renders it."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    )
    for document in yaml.safe_load_all(result.stdout):
        if document and document["kind"] == "Deployment" and document["metadata"]["name"] == name:
            return document
    raise LookupError(f"{overlay}: no Deployment {name}")


@dataclass
class Pod:
    """podman run options for one Deployment container, and what the tests compare against."""

    options: list[str]
    container_port: int
    uid: int
    env: dict[str, str]
    startup_budget_s: float
    startup_path: str
    readiness_path: str
    tmpfs: dict[str, int] = field(default_factory=dict)


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise LookupError(f"probe port {port!r} is not a declared port")


def pod_options(deployment: dict[str, Any], container_name: str = "forecaster") -> Pod:
    """Translate the pod and container spec into podman options, failing on anything it cannot
    reproduce (so a new field in the manifest is not silently dropped from the test)."""
    spec = deployment["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == container_name)
    pod_security = spec.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    options: list[str] = []

    uid, gid = security["runAsUser"], security.get("runAsGroup", security["runAsUser"])
    options += ["--user", f"{uid}:{gid}"]
    if "fsGroup" in pod_security:
        options += ["--group-add", str(pod_security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        # podman's --read-only also mounts tmpfs on /tmp, /var/tmp and /run; Kubernetes does
        # not: only the declared volumes may be writable.
        options += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    if security.get("privileged"):
        options += ["--privileged"]
    options += [f"--cap-drop={cap}" for cap in security.get("capabilities", {}).get("drop", [])]
    options += [f"--cap-add={cap}" for cap in security.get("capabilities", {}).get("add", [])]
    if security.get("seccompProfile", {}).get("type") not in (None, "RuntimeDefault"):
        raise ValueError(f"seccompProfile {security['seccompProfile']} has no podman equivalent")

    env: dict[str, str] = {}
    for variable in container.get("env", []):
        if "value" not in variable:
            raise ValueError(f"env {variable['name']}: only literal values are reproduced")
        env[variable["name"]] = str(variable["value"])
    options += [item for key, value in env.items() for item in ("--env", f"{key}={value}")]

    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    tmpfs: dict[str, int] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            raise ValueError(f"volume {mount['name']}: only emptyDir volumes are reproduced")
        size = quantity_bytes(volume["emptyDir"].get("sizeLimit", "64Mi"))
        tmpfs[mount["mountPath"]] = size
        # An emptyDir is a fresh directory with mode 0777 (fsGroup then owns it).
        options += ["--tmpfs", f"{mount['mountPath']}:rw,nosuid,nodev,size={size},mode=0777"]

    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        options += ["--memory", str(quantity_bytes(limits["memory"]))]
    if "cpu" in limits:
        options += ["--cpus", f"{cpu_cores(limits['cpu']):g}"]

    startup = container.get("startupProbe") or container["readinessProbe"]
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    budget += startup.get("initialDelaySeconds", 0)
    ports = container.get("ports", [])
    return Pod(
        options=options,
        container_port=int(ports[0]["containerPort"]),
        uid=int(uid),
        env=env,
        startup_budget_s=float(budget),
        startup_path=startup["httpGet"]["path"],
        readiness_path=container["readinessProbe"]["httpGet"]["path"],
        tmpfs=tmpfs,
    )


def podman(store: Path) -> list[str]:
    """podman on the image store `conveyor build image` fills. runc and cgroupfs: crun refuses
    this machine's cgroup setup; lower ulimits: the defaults exceed what the sandbox grants."""
    return ["podman", *store_args(store), "--runtime", "runc", "--cgroup-manager=cgroupfs"]


ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4000:4000"]
# A pod has a network namespace of its own; slirp4netns gives the container one and forwards the
# published port in user space. The default bridge depends on which backend podman picks for a
# store: on a fresh store netavark 1.4 (Debian bookworm) installs no DNAT rule for a loopback
# publish here, so the port answered nothing while CNI stores worked.
NETWORK = ["--network", "slirp4netns:port_handler=slirp4netns"]


def start(
    store: Path,
    image: str,
    pod: Pod,
    name: str,
    host_port: int,
    extra: list[str] | None = None,
) -> None:
    """`podman run -d` of ``image`` under ``pod``'s options, its port on loopback ``host_port``."""
    result = subprocess.run(
        [
            *podman(store),
            "run",
            "--detach",
            "--name",
            name,
            *ULIMITS,
            *NETWORK,
            *pod.options,
            "--publish",
            f"127.0.0.1:{host_port}:{pod.container_port}",
            *(extra or []),
            image,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"podman run failed ({result.returncode}): {result.stderr.strip()}")


def http(url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, str]:
    """Status and text of a GET (or a JSON POST with ``body``); connection errors are status 0."""
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (OSError, ConnectionError):
        return 0, ""


def wait_ready(url: str, budget_s: float, running: Any = None) -> float | None:
    """Seconds until ``url`` answers 200, or None once ``budget_s`` is spent (or ``running()``
    says the container is gone)."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < budget_s:
        if http(url, timeout=2)[0] == 200:
            return elapsed
        if running is not None and not running():
            return None
        time.sleep(0.25)
    return None


def is_running(store: Path, name: str) -> bool:
    """Whether the container is still running."""
    result = subprocess.run(
        [*podman(store), "inspect", "--format", "{{json .State.Running}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and json.loads(result.stdout or "false") is True


def logs(store: Path, name: str) -> str:
    """The container's stdout and stderr so far."""
    result = subprocess.run(
        [*podman(store), "logs", name], capture_output=True, text=True, check=False
    )
    return result.stdout + result.stderr


def remove(store: Path, name: str) -> None:
    """Stop and delete the container (no error if it is gone)."""
    subprocess.run(
        [*podman(store), "rm", "--force", "--time", "5", name],
        capture_output=True,
        check=False,
    )
