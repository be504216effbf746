"""The artifact a user deploys: the Bento built by `conveyor build bento`, its image built by
`conveyor build image` (buildah, the stand-in base image) and run with podman under the security
context, env, volumes and limits of the rendered prod overlay, as Kubernetes would run it."""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml

from conveyor.build import build_image
from forecast import register, train
from forecast.features import build_features
from forecast.forecaster import Forecaster
from tests import podman_pod
from tests.paths import REPO

STORE = REPO / "build" / "containers"  # the store `make image` uses: a session reuses its image
PROD = REPO / "deploy" / "environments" / "prod"
SERVICE_MODULE = "forecast.service"
TEST_IMAGE = "localhost/conveyor-forecaster-test"  # never replaces what `make image` built
TOOLS = ("buildah", "podman", "debootstrap", "runc", "kubectl")


def _bento_key(small_params: object) -> str:
    """What the test Bento is made of: the same inputs give the same Bento, hence the same
    image digest, which later sessions reuse instead of building again."""
    digest = hashlib.sha256(repr(small_params).encode())
    files = [REPO / "bentofile.yaml", *sorted((REPO / "deploy" / "docker").iterdir())]
    files += sorted((REPO / "src").rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def bento(small_sales, small_params) -> dict[str, object]:
    """`conveyor build bento` of the repository's bentofile with a small registered model, kept
    under build/test-image/<inputs digest>/ (git-ignored) for later sessions."""
    work = REPO / "build" / "test-image" / _bento_key(small_params)
    home, out = work / "bentoml-home", work / "bento"
    record = work / "bento.json"
    if record.is_file():
        return {**json.loads(record.read_text()), "context": out / "context", "home": home}
    for stale in work.parent.glob("*"):  # older inputs: their image is pruned on the next build
        shutil.rmtree(stale, ignore_errors=True)
    work.mkdir(parents=True)
    raw, features, model = work / "sales.parquet", work / "features.parquet", work / "model.txt"
    small_sales.write_parquet(raw)
    build_features(small_sales, small_params.features, "US").write_parquet(features)
    train.run(features, small_params, model, work / "importance.csv")
    saved = os.environ.get("BENTOML_HOME")
    os.environ["BENTOML_HOME"] = str(home)  # register() writes into this store
    try:
        metrics = {"model": {"wape": 0.5}, "skill": {"wape": 0.1}}
        tag = register.run(model, raw, metrics, small_params, work / "bentoml_model.json")
    finally:
        if saved is None:
            os.environ.pop("BENTOML_HOME")
        else:
            os.environ["BENTOML_HOME"] = saved
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    tag_file = work / "bentoml_model.json"
    command = ["build", "bento", "--model-tag-file", str(tag_file), "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record.write_text(json.dumps({"tag": tag}))  # last: a half-made folder is never reused
    return {"context": out / "context", "tag": tag, "home": home}


def test_build_bento_from_a_checkout_under_a_hidden_folder(bento, tmp_path):
    """bentoml build refuses any path with a dot-folder in it (e.g. a clone under ~/.work/):
    `conveyor build bento` still builds the same Bento from such a checkout."""
    checkout = tmp_path / ".work" / "conveyor"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "src", checkout / "src", ignore=ignore)
    shutil.copytree(REPO / "deploy" / "docker", checkout / "deploy" / "docker")
    shutil.copy2(REPO / "bentofile.yaml", checkout / "bentofile.yaml")
    tag_file = checkout / "bentoml_model.json"
    tag_file.write_text(json.dumps({"tag": bento["tag"]}))
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "build", "bento", "--model-tag-file", tag_file.name],
        cwd=checkout,
        env={**os.environ, "BENTOML_HOME": str(bento["home"]), "BENTOML_DO_NOT_TRACK": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((checkout / "build/bento/build.json").read_text())
    assert record["models_in_bento"] == [bento["tag"]]
    context = checkout / "build/bento/context"
    assert (context / "src/conveyor/checks/pii.py").is_file()
    assert "AS base-container" in (context / "env/docker/Dockerfile").read_text()  # our template


def test_make_image_without_a_model_names_the_command_to_run_first(tmp_path):
    """`make image` on a checkout where the pipeline never ran: one line, exit 2, nothing made."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "image"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"{REPO / 'Makefile'}:{_makefile_line('image:') + 1}: *** no model registered: "
        "run 'make pipeline' first.  Stop."
    ]
    assert list(tmp_path.iterdir()) == []


def _makefile_line(prefix: str) -> int:
    lines = (REPO / "Makefile").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.startswith(prefix))


def test_build_image_without_a_bento_names_the_command_to_run_first(tmp_path, capsys):
    from conveyor.cli import main

    code = main(["build", "image", "--context", str(tmp_path / "none"), "--store", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run 'conveyor build bento' first" in err
    assert list(tmp_path.iterdir()) == []


# --- the Bento itself --------------------------------------------------------------------------


def _module_file(src: Path, module: str) -> Path | None:
    base = src.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _local_imports(path: Path, module: str, roots: set[str]) -> set[str]:
    """Every module of ``roots`` that ``module`` imports, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = node.module or ""
            if node.level:
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            found.add(base)
            # `from forecast import register` names a module, not an attribute.
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in roots}


def service_import_graph(src: Path, start: str = SERVICE_MODULE) -> tuple[set[str], set[str]]:
    """The service's own modules it reaches (lazy imports included), and the names it imports
    that ``src`` lacks. ``from pkg.mod import name`` with ``name`` not a module is an attribute."""
    roots = {start.partition(".")[0], "conveyor"}
    seen: set[str] = set()
    missing: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        path = _module_file(src, module)
        if path is None:
            if _module_file(src, module.rpartition(".")[0]) is None:
                missing.add(module)  # neither a module nor an attribute of one in the Bento
            continue
        seen.add(module)
        todo.extend(_local_imports(path, module, roots) - seen - missing)
    return seen, missing


def test_the_bento_holds_every_module_the_service_imports(bento):
    """Import the service's whole import graph (function-level imports too) from the unpacked
    Bento, with the checkout's src/ removed from the path: a module the bentofile's `include:`
    leaves out fails here, not in the container (issue 13: conveyor.checks.pii was missing)."""
    src = Path(bento["context"]) / "src"
    modules, missing = service_import_graph(src)
    assert not missing, f"the Bento lacks {sorted(missing)}: widen bentofile.yaml include:"
    assert {"conveyor.serve.inference_log", "conveyor.checks.pii"} <= modules
    # -I: no PYTHONPATH, no current directory; the editable install's path to src/ is dropped.
    probe = (
        "import importlib, json, sys\n"
        "src, checkout = sys.argv[1], sys.argv[2]\n"
        "sys.path[:] = [src] + [p for p in sys.path if not p.startswith(checkout)]\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[3:]}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(src), str(REPO / "src"), *sorted(modules)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BENTOML_HOME": str(bento["home"])},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    files = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(Path(file).is_relative_to(src) for file in files.values()), files


def test_the_import_graph_finds_a_module_the_bento_lacks(tmp_path):
    """The check above fails on the bentofile of issue 13 (top-level conveyor/*.py only)."""
    for module, text in {
        "forecast/__init__.py": "",
        "forecast/service.py": "def f():\n    from forecast.inference_log import log\n",
        "forecast/inference_log.py": "from conveyor.checks.pii import TEXT_PATTERNS\nlog = 1\n",
        "conveyor/__init__.py": "",
    }.items():
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text(text)
    modules, missing = service_import_graph(tmp_path)
    assert "conveyor.checks.pii" in missing
    assert modules == {"forecast.service", "forecast.inference_log"}


def _rendered_cronjob() -> dict[str, object]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(PROD)], capture_output=True, text=True, check=True
    )
    return next(
        doc
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc["kind"] == "CronJob" and doc["metadata"]["name"] == "forecaster-batch"
    )


def test_the_cronjobs_command_forecasts_with_the_bentos_model(bento, tmp_path):
    """The prod CronJob's command, run in the unpacked Bento as the image lays it out: its
    working directory and $BENTO_PATH mapped onto the Bento, the checkout's src/ off the path,
    an empty BentoML home and no params.yaml. It forecasts every series with the model
    packaged in the Bento (the one a promotion pins by the image's digest)."""
    context = Path(bento["context"])
    pod = _rendered_cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job,) = pod["containers"]
    bento_path = "/home/bentoml/bento"  # BentoML's default bento__path (the image's $BENTO_PATH)
    working = context / Path(job["workingDir"]).relative_to(bento_path)
    assert job["command"][0] == "python"
    out_mount = next(m["mountPath"] for m in job["volumeMounts"] if m["name"] == "forecasts")
    command = [str(tmp_path / "forecasts") if a.startswith(out_mount + "/") else a
               for a in job["command"][1:]]  # fmt: skip
    assert command[:2] == ["-m", "forecast"]
    # `python -m forecast ...` with the checkout's src/ (the editable install) off the path.
    runner = (
        "import runpy, sys\n"
        "sys.path[:] = [sys.path[0]] + [p for p in sys.path[1:] if not p.startswith(sys.argv[1])]\n"
        "sys.argv = [sys.argv[2], *sys.argv[3:]]\n"
        "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONVEYOR_MODEL_TAG")}
    env.update({v["name"]: v["value"] for v in job.get("env", [])})
    env.update(BENTO_PATH=str(context), BENTOML_HOME=str(tmp_path / "empty-home"))
    result = subprocess.run(
        [sys.executable, "-c", runner, str(REPO / "src"), *command[1:]],
        cwd=working, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    tag = str(bento["tag"])
    assert result.stdout.startswith("batch: ") and f"with {tag} -> " in result.stdout
    table = pl.read_parquet(sorted((tmp_path / "forecasts").rglob("*.parquet")))
    forecaster = Forecaster.load(Path(bento["home"]) / "models" / tag.replace(":", "/"))
    assert table.height == forecaster.series.height * forecaster.params.horizon_days
    assert set(table["model_tag"]) == {tag}
    expected = forecaster.predict(table.select("club_id", "item_id", "date", "price", "promo"))
    assert table["forecast"].to_list() == pytest.approx(expected.tolist(), rel=1e-9)
    assert not (tmp_path / "empty-home").exists()  # the model came from the Bento, not a store


# --- the image, run as the prod Deployment runs it ----------------------------------------------


def _tools_or_skip() -> None:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        pytest.skip(
            f"{', '.join(absent)} not installed (Debian: apt-get install buildah podman "
            "debootstrap runc kubectl; .ci/run installs them as root)"
        )


@pytest.fixture(scope="session")
def image(bento) -> str:
    """The image of that Bento, built once per session (reused when the store already holds
    the same context digest)."""
    _tools_or_skip()
    record = build_image(Path(bento["context"]), STORE, name=TEST_IMAGE)
    return record["image"]


@pytest.fixture(scope="session")
def prod_pod() -> podman_pod.Pod:
    """The prod overlay's Deployment, as podman options."""
    _tools_or_skip()
    return podman_pod.pod_options(podman_pod.rendered_deployment(PROD))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def container(image, prod_pod) -> Iterator[dict[str, object]]:
    """The image running under the prod pod's security context, ready (or the test fails)."""
    name = f"conveyor-test-{os.getpid()}"
    port = _free_port()
    podman_pod.remove(STORE, name)
    started = time.monotonic()
    podman_pod.start(STORE, image, prod_pod, name, port)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = podman_pod.wait_ready(
            f"{base}{prod_pod.readiness_path}",
            prod_pod.startup_budget_s,
            lambda: podman_pod.is_running(STORE, name),
        )
        if ready is None:
            pytest.fail(
                f"not ready within the startup budget ({prod_pod.startup_budget_s:g} s): "
                + podman_pod.logs(STORE, name)[-3000:]
            )
        yield {"name": name, "base": base, "ready_s": time.monotonic() - started}
    finally:
        podman_pod.remove(STORE, name)


def _exec(name: str, *command: str, workdir: str = "") -> subprocess.CompletedProcess[str]:
    where = ["--workdir", workdir] if workdir else []
    return subprocess.run(
        [*podman_pod.podman(STORE), "exec", *where, name, *command],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.image
def test_the_pod_options_come_from_the_rendered_overlay(prod_pod):
    """What the container gets is what the manifest says (not a hand-written copy)."""
    deployment = podman_pod.rendered_deployment(PROD)
    spec = deployment["spec"]["template"]["spec"]
    assert ["--user", f"{spec['securityContext']['runAsUser']}:10034"] == prod_pod.options[:2]
    assert "--read-only" in prod_pod.options and "--cap-drop=ALL" in prod_pod.options
    assert prod_pod.env["BENTOML_HOME"] in prod_pod.tmpfs  # BentoML's home is a writable mount
    assert prod_pod.tmpfs["/tmp"] == 256 * 2**20  # noqa: S108 - the manifest's mount path
    assert prod_pod.startup_budget_s == 120
    assert "--memory" in prod_pod.options and "--cpus" in prod_pod.options


@pytest.mark.image
def test_ready_within_the_startup_budget_and_alive(container, prod_pod):
    assert container["ready_s"] <= prod_pod.startup_budget_s
    assert podman_pod.http(f"{container['base']}/livez")[0] == 200
    assert podman_pod.http(f"{container['base']}{prod_pod.readiness_path}")[0] == 200


@pytest.mark.image
def test_every_process_runs_as_the_pods_uid_on_a_read_only_root(container, prod_pod):
    status = _exec(
        container["name"], "sh", "-c", "for s in /proc/[0-9]*/status; do grep ^Uid: $s; done"
    )
    assert status.returncode == 0, status.stderr
    uids = {line.split()[1] for line in status.stdout.splitlines()}
    assert uids == {str(prod_pod.uid)} == {"10034"}
    refused = _exec(container["name"], "touch", "/home/bentoml/bento/written")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    # BentoML's own files (its Prometheus multiprocess folder) went to the writable mount.
    home = _exec(container["name"], "ls", prod_pod.env["BENTOML_HOME"])
    assert "prometheus_multiproc_dir" in home.stdout.split(), home


@pytest.mark.image
def test_the_image_keeps_no_compilers_apt_lists_or_caches(container, image):
    """The runtime stage: the same Python packages, none of the build stage's tools nor the
    packages' test suites, <= 1.0 GB (BentoML's single-stage Dockerfile made 1.6 GB)."""
    size = subprocess.run(
        [*podman_pod.podman(STORE), "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(size.stdout) <= 1_000_000_000
    probe = _exec(
        container["name"],
        "sh",
        "-c",
        "for t in gcc cc g++ make curl gpg; do command -v $t; done;"
        " find /var/lib/apt/lists /var/cache/apt -type f 2>/dev/null;"
        " find /app/.venv/lib/python*/site-packages -type d -name tests; true",
    )
    assert probe.stdout.strip() == "", probe.stdout
    packages = _exec(container["name"], "python", "-c", "import lightgbm, polars, pyarrow, bentoml")
    assert packages.returncode == 0, packages.stderr


# A model of three small trees, compiled by lleaves and read back from the cache folder: what the
# batch CronJob does with the release's model, here in seconds instead of 10-30.
COMPILE_IN_THE_POD = """
import os, sys, numpy as np, lightgbm as lgb
from pathlib import Path
from forecast.compiled import CompiledTrees, compile_model
rng = np.random.default_rng(0)
x = rng.normal(size=(500, 4))
booster = lgb.train({"verbose": -1, "num_leaves": 7}, lgb.Dataset(x, x @ [1, 2, 3, 4]), 3)
model = Path("/tmp/compile-probe/model.txt")
model.parent.mkdir(parents=True, exist_ok=True)
booster.save_model(model)
sources = []
for attempt in range(2):
    trees = compile_model(model)
    if not isinstance(trees, CompiledTrees):
        sys.exit(f"run {attempt}: {trees}")
    np.testing.assert_allclose(trees.predict(x, threads=1), booster.predict(x), rtol=1e-9)
    sources.append(trees.source)
print(*sources, *os.listdir(os.environ["CONVEYOR_CACHE_DIR"] + "/lleaves"))
"""


@pytest.mark.image
def test_the_batch_compiles_its_trees_in_the_pod(container):
    """lleaves and llvmlite work in the image as the pod runs it (non-root, read-only root, the
    cache on a writable mount): the batch CronJob's compiled trees give LightGBM's forecasts,
    and the second run reads the object code back instead of compiling again."""
    job = _rendered_cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    result = _exec(
        container["name"],
        "env",
        "CONVEYOR_CACHE_DIR=/tmp/compile-probe/cache",
        "python",
        "-c",
        COMPILE_IN_THE_POD,
        workdir=job["workingDir"],  # where the CronJob runs `python -m forecast batch`
    )
    assert result.returncode == 0, result.stderr[-2000:]
    first, second, *cached = result.stdout.split()
    assert (first, second, len(cached)) == ("compiled", "cached", 1), result.stdout


@pytest.mark.image
def test_forecast_matches_the_model_in_process(container, bento):
    """The container answers what the registered model answers in this process."""
    tag = str(bento["tag"])
    forecaster = Forecaster.load(Path(bento["home"]) / "models" / tag.replace(":", "/"))
    first = forecaster.window[0]
    rows = [
        {
            "club_id": "club_001",
            "item_id": f"item_000{item}",
            "date": (first + dt.timedelta(days=day)).isoformat(),
            "price": 9.5 + day,
            "promo": day % 2,
        }
        for item in (1, 2)
        for day in range(4)
    ]
    status, text = podman_pod.http(
        f"{container['base']}/forecast", json.dumps({"rows": rows}).encode()
    )
    assert status == 200, text
    answer = json.loads(text)
    assert answer["model_version"] == tag
    frame = pl.DataFrame(rows).with_columns(
        pl.col("date").str.to_date(), pl.col("promo").cast(pl.Int8)
    )
    expected = forecaster.predict(frame)
    served = [p["units"] for p in answer["predictions"]]
    # The service answers units to 3 decimals; the numbers are otherwise the model's own.
    assert served == pytest.approx([round(float(units), 3) for units in expected], abs=1.01e-3)
    assert len({round(units) for units in served}) > 1  # not one constant for every row


@pytest.mark.image
def test_bad_request_is_a_400_and_metrics_carry_the_service_series(container):
    status, text = podman_pod.http(f"{container['base']}/forecast", b"{rows: nope")
    assert status == 400, text
    status, text = podman_pod.http(f"{container['base']}/metrics")
    assert status == 200
    served = re.search(r"^conveyor_predictions_total\S* (\S+)$", text, re.M)
    assert served is not None and float(served.group(1)) >= 1, text[:2000]
    assert "conveyor_rows_per_request_bucket" in text


@pytest.mark.image
def test_the_images_healthcheck_passes(container):
    """`podman healthcheck run`: the image's HEALTHCHECK asks the port the pod set
    (BENTOML_PORT), and survives the build (docker format)."""
    result = subprocess.run(
        [*podman_pod.podman(STORE), "healthcheck", "run", container["name"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.image
def test_healthcheck_follows_the_port_the_container_is_told(image, prod_pod):
    """Told to serve on another port, the container's healthcheck still passes: it asks that
    port, not a hard-coded 3000."""
    name = f"conveyor-test-port-{os.getpid()}"
    port = 3210
    options = [o.replace("BENTOML_PORT=3000", f"BENTOML_PORT={port}") for o in prod_pod.options]
    pod = podman_pod.Pod(**{**prod_pod.__dict__, "options": options, "container_port": port})
    host = _free_port()
    podman_pod.remove(STORE, name)
    podman_pod.start(STORE, image, pod, name, host)
    try:
        ready = podman_pod.wait_ready(
            f"http://127.0.0.1:{host}/readyz",
            pod.startup_budget_s,
            lambda: podman_pod.is_running(STORE, name),
        )
        assert ready is not None, podman_pod.logs(STORE, name)[-2000:]
        result = subprocess.run(
            [*podman_pod.podman(STORE), "healthcheck", "run", name],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        podman_pod.remove(STORE, name)


def _corrupt_model(bento: dict[str, object], tmp_path: Path) -> tuple[list[str], str]:
    """A copy of the packaged model whose LightGBM file is garbage, mounted over the original."""
    tag = str(bento["tag"])
    packaged = Path(bento["context"]) / "models" / tag.replace(":", "/")
    broken = tmp_path / "broken-model"
    shutil.copytree(packaged, broken)
    (broken / "model.txt").write_text("not a LightGBM model\n")
    for path in [broken, *broken.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    target = f"/home/bentoml/bento/models/{tag.replace(':', '/')}"
    return ["--volume", f"{broken}:{target}:ro"], tag


@pytest.mark.image
@pytest.mark.parametrize("case", ["missing", "corrupt"])
def test_a_broken_model_fails_readiness_with_one_clear_line(image, prod_pod, bento, tmp_path, case):
    """No model to serve: readiness never passes, and the log says why in one line, not a
    traceback."""
    if case == "missing":
        model = "demand_forecaster:doesnotexist"
        extra = ["--env", f"CONVEYOR_MODEL_TAG={model}"]
    else:
        extra, model = _corrupt_model(bento, tmp_path)
    name = f"conveyor-test-{case}-{os.getpid()}"
    host = _free_port()
    podman_pod.remove(STORE, name)
    podman_pod.start(STORE, image, prod_pod, name, host, extra)
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            text = podman_pod.logs(STORE, name)
            if "model unavailable:" in text or not podman_pod.is_running(STORE, name):
                break
            time.sleep(1)
        time.sleep(2)  # a second worker may log too
        text = podman_pod.logs(STORE, name)
        assert podman_pod.http(f"http://127.0.0.1:{host}/readyz", timeout=5)[0] != 200
        print(text)  # the test shows the line a person would read (pytest -s, or on failure)
        lines = [line for line in text.splitlines() if "model unavailable:" in line]
        assert lines, text[-3000:]
        assert all(line.lstrip().startswith("model unavailable:") for line in lines), lines
        assert all(model.split(":")[0] in line for line in lines), lines
        assert "Traceback" not in text, text[-3000:]
    finally:
        podman_pod.remove(STORE, name)
