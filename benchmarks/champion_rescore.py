"""What scoring the champion again adds to the metric gate, on the default data.

    python benchmarks/champion_rescore.py [--repeat 3]

In a temporary git repository with this project's params.yaml (the default data) and its
ingest → prepare → train → evaluate stages, one `dvc repro` trains the model; a sealed release
record of that commit goes live in prod. Then `conveyor gate --baseline-ref HEAD` (metrics read
from git) and `conveyor gate --champion prod --branch HEAD` (the champion's model fetched with
`dvc get` and scored on the holdout by `gates.champion.score`) each run ``--repeat`` times; it
prints the median wall time of both and their difference (target: the champion adds <= 20 s).
Exit 0 (a report); 1 when a command fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from conveyor.release import ReleaseRecord, seal  # noqa: E402

BIN = Path(sys.executable).parent
STAGES = ("ingest", "prepare", "train", "evaluate")
IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@conveyor.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@conveyor.invalid",
}


def _run(cwd: Path, *args: str) -> float:
    """Run a command; return its wall time. A failure ends the benchmark (exit 1)."""
    env = {**os.environ, **IDENTITY, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["DVC_NO_ANALYTICS"] = "1"
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    took = time.perf_counter() - start
    allowed = (0, 1) if args[0] == "conveyor" else (0,)  # the gate's own 1: a rule failed
    if result.returncode not in allowed:
        sys.exit(f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-400:]}")
    return took


def _project(where: Path) -> Path:
    project = where / "project"
    project.mkdir()
    _run(project, "git", "init", "--quiet", "--initial-branch=main")
    _run(project, "dvc", "init", "--quiet")
    _run(project, "dvc", "config", "core.analytics", "false")
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    (project / "policies").mkdir()
    shutil.copy(ROOT / "policies/promotion.yaml", project / "policies/promotion.yaml")
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    kept = {name: stages[name] for name in STAGES}
    for stage in kept.values():
        stage["deps"] = [d for d in stage["deps"] if not str(d).startswith(("reports/", "src/"))]
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": kept}, sort_keys=False))
    print(f"dvc repro (default data): {_run(project, 'dvc', 'repro'):.1f} s", flush=True)
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "--quiet", "-m", "trained")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    record = seal(ReleaseRecord.model_validate(_record(commit)))
    live = project / "deploy/environments/prod/release.json"
    live.parent.mkdir(parents=True)
    live.write_text(json.dumps(record.model_dump(mode="json"), indent=2))
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "--quiet", "-m", "v1.0.0 live in prod")
    return project


def _record(commit: str) -> dict[str, object]:
    digest = "sha256:" + "ab" * 32
    passed = {"passed": True, "summary": "ok", "source": None}
    return {
        "schema_version": 1,
        "version": "v1.0.0",
        "created_at": datetime.now(UTC).isoformat(),
        "git_commit": commit,
        "model_tag": "demand_forecaster:bench",
        "data_md5": "d" * 32,
        "params_md5": "p" * 32,
        "bento_tag": "demand_forecaster_service:bench",
        "image": {"reference": f"ghcr.io/your-org/conveyor-forecaster@{digest}", "digest": digest},
        "gates": {name: dict(passed) for name in ("tests", "data", "metrics", "security")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-champion-") as folder:
        project = _project(Path(folder))
        out = Path(folder) / "gate"
        plain, champion = [], []
        for _ in range(args.repeat):
            plain.append(
                _run(project, "conveyor", "gate", "--baseline-ref", "HEAD", "--out", str(out))
            )
            champion.append(
                _run(
                    project,
                    "conveyor",
                    "gate",
                    "--champion",
                    "prod",
                    "--branch",
                    "HEAD",
                    "--out",
                    str(out),
                )
            )
        verdict = json.loads((out / "gate.json").read_text())
        assert verdict["champion"]["version"] == "v1.0.0", verdict["baseline_ref"]
    a, b = statistics.median(plain), statistics.median(champion)
    print(f"gate against HEAD (metrics from git): median {a:.1f} s over {args.repeat}")
    print(f"gate against the champion (fetched and scored again): median {b:.1f} s")
    print(f"re-scoring adds {b - a:.1f} s (target <= 20 s); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
