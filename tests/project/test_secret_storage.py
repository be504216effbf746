"""Where each stored secret lives, as the docs say and as the workflows read it (review finding
M3: `PROMOTE_TOKEN` was a repository secret in docs/adopting.md and an environment secret in
docs/security.md). A secret some caller passes (`secrets: NAME: ${{ secrets.NAME }}`) is read
in the caller's job, which has no environment: a repository secret. One no caller passes is read
in the reusable workflow's job, behind its environment: an environment secret of it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.paths import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
CALLERS = [*WORKFLOWS, *sorted((REPO / "examples/caller/.github/workflows").glob("*.yml"))]
DOCS = (REPO / "docs/adopting.md", REPO / "docs/security.md")
# How the docs say where a secret is stored, in their sentences.
SAYS = {
    "repository": re.compile(r"repository (?:\(or organisation\) )?secret", re.IGNORECASE),
    "environment": re.compile(
        r"environment secret|environment's secrets?|secrets? of (?:its|their|that|each|the)"
        r"(?: [\w-]+)* environments?",
        re.IGNORECASE,
    ),
}


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _from_workflows() -> dict[str, str]:
    """secret -> "repository" or "environment", from what the workflows do."""
    declared: set[str] = set()
    for path in WORKFLOWS:
        doc = _load(path)
        on = doc["on"] if isinstance(doc["on"], dict) else {}
        names = set((on.get("workflow_call") or {}).get("secrets") or {})
        declared |= names
        for name, job in doc["jobs"].items():
            if "uses" in job or not names & set(re.findall(r"secrets\.(\w+)", yaml.dump(job))):
                continue
            assert job.get("environment"), f"{path.name}: job {name} reads a secret outside one"
    passed = {
        name
        for path in CALLERS
        for job in _load(path)["jobs"].values()
        if "uses" in job
        for name, value in (job.get("secrets") or {}).items()
        if value == "${{ secrets." + name + " }}"
    }
    return {name: "repository" if name in passed else "environment" for name in declared}


def _table() -> dict[str, str]:
    """secret -> storage, from docs/adopting.md's table."""
    text = DOCS[0].read_text(encoding="utf-8")
    rows = text.split("<!-- secret-storage:", 1)[1].split("-->", 1)[1].strip().split("\n\n")[0]
    table = {}
    for row in rows.splitlines()[2:]:
        secret, _, stored = (cell.strip() for cell in row.strip("|").split("|"))
        kinds = [kind for kind in SAYS if stored.startswith(kind)]
        assert len(kinds) == 1, row
        table[secret.strip("`")] = kinds[0]
    return table


def _claims(text: str, secrets: set[str]) -> list[tuple[str, str, str]]:
    """(secret, storage, sentence) for each sentence naming secrets and how they are stored."""
    found = []
    flat = " ".join(text.split())
    for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z`(*])", flat):
        named = sorted(set(re.findall(r"`(\w+)`", sentence)) & secrets)
        said = [kind for kind, pattern in SAYS.items() if pattern.search(sentence)]
        if named and len(said) == 1:
            found += [(name, said[0], sentence) for name in named]
    return found


def test_the_table_says_what_the_workflows_do() -> None:
    expected = _from_workflows()
    stored = expected["PROMOTE_TOKEN"]
    assert stored == "repository"  # the callers pass it
    assert _table() == expected


def test_no_sentence_of_either_doc_says_otherwise() -> None:
    expected = _from_workflows()
    for doc in DOCS:
        claims = _claims(doc.read_text(encoding="utf-8"), set(expected))
        assert any(name == "PROMOTE_TOKEN" for name, _, _ in claims), doc.name
        wrong = [
            f"{doc.name}: {name} is a {expected[name]} secret, not {said}: {sentence[:160]}"
            for name, said, sentence in claims
            if said != expected[name]
        ]
        assert not wrong, "\n".join(wrong)


def test_a_drifted_sentence_is_caught() -> None:
    """The check itself: the old wording of docs/security.md is read as a contradiction."""
    old = "Store `PROMOTE_TOKEN` as a secret of each promotion environment."
    assert _claims(old, {"PROMOTE_TOKEN"}) == [("PROMOTE_TOKEN", "environment", old)]
    new = "Each of them (`PROMOTE_TOKEN`) is a repository secret."
    assert _claims(new, {"PROMOTE_TOKEN"})[0][1] == "repository"
