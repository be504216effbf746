"""The champion scored again: the model live in an environment, on the current data.

Metrics committed at the champion's commit were measured on the holdout of its own data window;
a challenger trained on a later window is scored on a later holdout, and the two are not
comparable. So the gate's baseline is the champion's model itself: its release record (committed
at the default branch's tip) names its commit, DVC fetches the model output at that commit
(`dvc get`, from the cache or the remote), and the model package's own command
(params.yaml `gates.champion.score`) scores it on the working tree's holdout. conveyor never
imports the model's code: it runs the command the params name.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from conveyor import gate, git
from conveyor.errors import ConfigError, UserError
from conveyor.gate import ChampionInfo, ChampionScoring, GateResult, Gates
from conveyor.metric_files import Flat, read_current
from conveyor.promotion import environments
from conveyor.promotion import policy as promotion_policy
from conveyor.release import RecordRejectedError, ReleaseRecord, problems
from conveyor.tools import failure_reason, python_tool, run

__all__ = ["gate_against_champion", "score_command"]

SCORE_TIMEOUT = 3600  # scoring the default data takes seconds; a big model may take minutes


def live_release(top: Path, env: str, source: str) -> ReleaseRecord | None:
    """The release record of ``env`` at base-branch commit ``source``; None when none is live
    there yet. An environment the policy does not name is a usage error (exit 2); a record that
    does not stand (changed after sealing, a gate that failed) is refused (exit 1)."""
    policy = promotion_policy.policy_at(top, source)
    if env not in policy.environments:
        known = ", ".join(policy.environments)
        raise UserError(
            f"--champion {env}: no such environment in {promotion_policy.POLICY} at "
            f"{source[:12]} (it names {known})"
        )
    record = environments.record_at(top, source, env)
    if record is None:
        return None
    found = problems(record)
    if found:
        raise RecordRejectedError(
            f"{environments.record_path(env)} at {source[:12]}: the champion ({record.version}) "
            f"does not stand: {'; '.join(found)}"
        )
    return record


def fetch_model(top: Path, commit: str, model: str, dest: Path) -> Path:
    """``model`` (a DVC output) as it was at ``commit``, written to ``dest``: from the local
    cache, else the remote that commit's .dvc/config names. Not found: a usage error naming it."""
    if git.resolve_commit(commit, top, "the champion's commit") is None:
        raise UserError(
            f"champion model {model}: its commit {commit[:12]} is not in this clone: fetch the "
            "history that holds it (actions/checkout with fetch-depth: 0, or `git fetch`)"
        )
    command = [*python_tool("dvc"), "get", str(top), model, "--rev", commit, "-o", str(dest)]
    result = run(command, cwd=top, timeout=SCORE_TIMEOUT)
    if result.returncode != 0 or not dest.exists():
        raise UserError(
            f"champion model {model} at {commit[:12]} cannot be fetched "
            f"({failure_reason(result)}): push it to the DVC remote from the default branch "
            "(ml-main.yml, or `dvc push`)"
        )
    return dest


def score_command(scoring: ChampionScoring, model: Path, out: Path) -> list[str]:
    """The score command of params.yaml as an argument list, the placeholders filled in after
    splitting (a path with a space stays one argument)."""
    try:
        parts = shlex.split(scoring.score)
    except ValueError as exc:
        raise ConfigError(f"gates.champion.score: cannot split the command ({exc})") from None
    return [part.replace("{model}", str(model)).replace("{out}", str(out)) for part in parts]


def score(top: Path, scoring: ChampionScoring, model: Path, out: Path) -> None:
    """Run the score command in ``top`` (the working tree's data); a failure is a usage error
    carrying the command's own last line."""
    command = score_command(scoring, model, out)
    result = run(command, cwd=top, timeout=SCORE_TIMEOUT)
    if result.returncode != 0:
        raise UserError(
            f"gates.champion.score failed on the champion's model ({failure_reason(result)}): "
            f"{shlex.join(command)}"
        )


def scored_metrics(gates: Gates, out: Path) -> dict[Path, Flat | None]:
    """The metrics files the rules read, as the score command wrote them under ``out``; a rule
    file it did not write is a usage error (the command and the rules disagree)."""
    files = {rule.file for rule in gates.rules}
    missing = sorted(f.as_posix() for f in files if not (out / f).is_file())
    if missing:
        raise UserError(
            f"gates.champion.score wrote no {', '.join(missing)} under {{out}}: it must write "
            "each rule's metrics file at its usual path there"
        )
    return {f: read_current(out / f) for f in files}


def gate_against_champion(
    gates: Gates, top: Path, env: str, source: str, root: Path | None = None
) -> GateResult | None:
    """The gate of the working tree's metrics against the champion live in ``env`` at
    base-branch commit ``source``, its model scored again on the working tree's data. None
    when no release is live there (the caller falls back to the rules without a baseline)."""
    if gates.champion is None:
        raise ConfigError(
            "--champion needs gates.champion in params.yaml (model: the model's DVC output, "
            "score: the command that scores {model} into {out})"
        )
    record = live_release(top, env, source)
    if record is None:
        return None
    root = root or top
    with tempfile.TemporaryDirectory(prefix="conveyor-champion-") as work:
        model = fetch_model(top, record.git_commit, gates.champion.model, Path(work) / "model")
        out = Path(work) / "scored"
        out.mkdir()
        score(root, gates.champion, model, out)
        baseline = scored_metrics(gates, out)
    info = ChampionInfo(env, record.version, record.git_commit, source, rows=[])
    return gate.evaluate_against(gates, baseline, info, root)
