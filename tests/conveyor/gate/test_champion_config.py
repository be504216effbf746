"""The champion's parts that need no model: params validation, the score command's arguments,
the side-by-side rows, and gate.json carrying the champion through `conveyor report`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.errors import ConfigError, UserError
from conveyor.gate import (
    ChampionInfo,
    ChampionScoring,
    GateResult,
    Gates,
    load_result,
    side_by_side,
)
from conveyor.promotion.rescore import score_command
from conveyor.report import gate_table
from tests.promotion_repos import REPO, git

CONVEYOR = str(Path(sys.executable).parent / "conveyor")


def _gates(*rules: str) -> Gates:
    return Gates.model_validate(
        {"rules": [{"metric": m, "better": "lower", "max_regression": {}} for m in rules]}
    )


def test_side_by_side_widens_each_rule_to_its_siblings_at_the_same_depth():
    gates = _gates("m.json:model.wape", "s.json:region.*.model.wape")
    current = {
        Path("m.json"): {"model.wape": 0.4, "model.mae": 2.0, "model.deep.x": 1.0, "rows": 9.0},
        Path("s.json"): {"region.a.model.wape": 0.5, "region.a.seasonal_naive.wape": 0.7},
    }
    baseline = {
        Path("m.json"): {"model.wape": 0.5, "model.mae": 2.5},
        Path("s.json"): {"region.a.model.wape": 0.6, "region.b.model.wape": 0.3},
    }
    rows = {
        row.metric: (row.champion, row.challenger) for row in side_by_side(gates, current, baseline)
    }
    assert rows == {
        "m.json:model.mae": (2.5, 2.0),
        "m.json:model.wape": (0.5, 0.4),
        "s.json:region.a.model.wape": (0.6, 0.5),
        "s.json:region.b.model.wape": (0.3, None),  # a slice the challenger lost: shown
    }


def test_the_score_command_keeps_a_path_with_spaces_as_one_argument(tmp_path):
    scoring = ChampionScoring(
        model="models/m.txt", score="python -m pkg score --model {model} --out {out}"
    )
    model, out = tmp_path / "a model" / "m.txt", tmp_path / "the out"
    assert score_command(scoring, model, out) == [
        "python",
        "-m",
        "pkg",
        "score",
        "--model",
        str(model),
        "--out",
        str(out),
    ]
    with pytest.raises(ConfigError, match="cannot split"):
        score_command(ChampionScoring(model="m", score="run '{model} {out}"), model, out)


@pytest.mark.parametrize("score", ["python -m pkg --model {model}", "python -m pkg {out}"])
def test_a_score_command_without_its_placeholders_is_refused_exit_2(tmp_path, score):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["gates"]["champion"]["score"] = score
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [CONVEYOR, "gate", "--out", str(tmp_path / "g")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "gates.champion: score must name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "g").exists()


def test_champion_without_gates_champion_in_params_is_exit_2(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(repo))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    del params["gates"]["champion"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "policies").mkdir()
    shutil.copy(REPO / "policies/promotion.yaml", repo / "policies/promotion.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "params")
    result = subprocess.run(
        [CONVEYOR, "gate", "--champion", "prod", "--branch", "HEAD", "--out", str(tmp_path / "g")],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--champion needs gates.champion in params.yaml" in result.stderr


def test_gate_json_keeps_the_champion_and_refuses_one_of_another_shape(tmp_path):
    gates = _gates("m.json:model.wape")
    current = {Path("m.json"): {"model.wape": 0.4}}
    baseline = {Path("m.json"): {"model.wape": 0.5}}
    rows = side_by_side(gates, current, baseline)
    info = ChampionInfo("prod", "v1.2.0", "a" * 40, "b" * 40, rows=rows)
    result = GateResult("champion", "a" * 40, [], info)
    gate_table.write(result, tmp_path)
    again = load_result(tmp_path / "gate.json")
    assert again.champion == result.champion
    text = gate_table.champion_markdown(again)
    assert "| `m.json:model.wape` | 0.5 | 0.4 | -0.1 |" in text and "`v1.2.0`" in text
    data = yaml.safe_load((tmp_path / "gate.json").read_text())
    data["champion"]["rows"][0]["extra"] = 1
    (tmp_path / "gate.json").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="gate verdict"):
        load_result(tmp_path / "gate.json")
