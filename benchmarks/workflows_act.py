"""Speed of the pull-request workflow under act, on the default data, when no pipeline input
changed: total wall time, each job's time, and the train-and-gate job against a baseline run in
the same sandbox (the job's own commands, `dvc repro --pull` + `conveyor gate`, without act).

Target (issue 7): nothing retrained, and the gate job under 60 s after setup.
Run: `.venv/bin/python benchmarks/workflows_act.py` (from the repository root).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(DVC_NO_ANALYTICS="1", BENTOML_DO_NOT_TRACK="true", GX_ANALYTICS_ENABLED="False")

from tests.e2e.test_workflows_act import Sandbox  # noqa: E402  (after the path and quiet env)


def _baseline(sandbox: Sandbox) -> float:
    """The train-and-gate commands run directly in a fresh copy of the sandbox repository."""
    copy = sandbox.root / "baseline"
    subprocess.run(["git", "clone", "-q", str(sandbox.repo), str(copy)], check=True)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    for command in (
        ["dvc", "repro", "--pull"],
        ["conveyor", "gate", "--baseline-ref", sandbox.base, "--out", "reports/gate"],
    ):
        subprocess.run(command, cwd=copy, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    """Print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(Path(tmp))
        start = time.perf_counter()
        sandbox.build()
        print(f"sandbox (clone, DVC remote, env cache): {time.perf_counter() - start:6.1f} s")
        head = sandbox.pull_request("bench", lambda repo: (repo / "NOTES.md").write_text("x\n"))
        start = time.perf_counter()
        run = sandbox.act("bench", head)
        total = time.perf_counter() - start
        retrained = "Running stage" in run.log
        print(f"pull-request.yml under act, total:      {total:6.1f} s  (exit {run.returncode})")
        for job, seconds in sorted(run.seconds.items()):
            print(f"  job {job:<16} {run.jobs.get(job, '?'):<8} {seconds:6.1f} s")
        print(f"  stages retrained: {'yes' if retrained else 'none'}")
        baseline = _baseline(sandbox)
        gate = run.seconds.get("train-and-gate", float("nan"))
        print(f"baseline: dvc repro --pull + conveyor gate, no act: {baseline:6.1f} s")
        print(f"train-and-gate under act / baseline: {gate / baseline:5.2f}x  (target: < 60 s)")


if __name__ == "__main__":
    main()
