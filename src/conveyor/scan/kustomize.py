"""Render kustomize overlays with `kubectl kustomize`, so the scan sees what a cluster would get."""

from __future__ import annotations

import shutil
from pathlib import Path

from conveyor.errors import UserError
from conveyor.files import atomic_path
from conveyor.scan.model import Finding
from conveyor.tools import failure_reason, run

__all__ = ["render"]


def render(root: Path, dirs: list[Path], out: Path) -> tuple[list[Path], list[Finding]]:
    """Write each overlay's rendered manifests to ``out/<dir-with-dashes>.yaml``; an overlay that
    does not render is a finding (CNV_K8S_0), not a silent gap."""
    if not dirs:
        return [], []
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise UserError(
            "kubectl not found: it renders the kustomize overlays under deploy/ "
            "(Debian/Ubuntu: apt-get install kubectl)"
        )
    rendered, problems = [], []
    for d in dirs:
        result = run([kubectl, "kustomize", str(root / d)], timeout=120)
        if result.returncode != 0:
            problems.append(
                Finding(
                    "CNV_K8S_0",
                    "Kustomize overlay does not render",
                    "high",
                    f"{d.as_posix()}/kustomization.yaml",
                    1,
                    f"fix the overlay so `kubectl kustomize {d.as_posix()}` works: "
                    f"{failure_reason(result)}",
                    source="conveyor",
                )
            )
            continue
        target = out / f"{d.as_posix().replace('/', '-')}.yaml"
        with atomic_path(target) as tmp:
            tmp.write_text(f"# rendered from {d.as_posix()} by kubectl kustomize\n" + result.stdout)
        rendered.append(target)
    return rendered, problems
