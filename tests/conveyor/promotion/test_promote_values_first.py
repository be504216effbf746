"""Every value a user gives `promote` and `rollback` is checked before any work (review finding
L10): a bad --remote (option-shaped, or one this checkout does not know), --to or
--from-environment is the error, not whatever the record lookup or the policy would have said
first; nothing moves. A remote given as a configured name, a URL or a path still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conveyor.promotion.test_promote_hostile_values import _conveyor, _live_in_dev, _state
from tests.promotion_repos import git, record, write_record

# Each run would also fail on its record (v9.9.9 never ran anywhere; the file is missing): the
# bad value must be what is reported.
CASES = {
    "promote: unknown remote": (("promote", "--version", "v9.9.9", "--remote", "nosuch"),
                                "--remote nosuch: no such remote"),
    "promote: option remote": (("promote", "--version", "v9.9.9", "--remote=-h"),
                               "--remote '-h': must not start with '-'"),
    "promote: option from": (("promote", "--from-environment=--x", "--version", "v9.9.9"),
                             "--from-environment '--x': must not start with '-'"),
    "rollback: unknown remote": (("rollback", "--to", "v9.9.9", "--remote", "upstream"),
                                 "--remote upstream: no such remote"),
    "rollback: option to": (("rollback", "--to=-v9", "--remote", "nosuch"),
                            "--to '-v9': must not start with '-'"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_bad_value_is_reported_before_the_record_is_looked_up(tmp_path, origin, work, case):
    _live_in_dev(work, tmp_path)
    args, said = CASES[case]
    before = _state(tmp_path, work, origin)
    result = _conveyor(work, args[0], "--env", "dev", *args[1:])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], result.stderr
    assert _state(tmp_path, work, origin) == before


@pytest.mark.parametrize("spelling", ["path", "file URL"])
def test_a_remote_given_as_a_path_or_url_still_promotes(tmp_path, origin, work, spelling):
    path = write_record(tmp_path / "v1.json", record("v1.0.0"))
    remote = str(origin) if spelling == "path" else Path(origin).as_uri()
    result = _conveyor(work, "promote", "--env", "dev", "--record", str(path), "--remote", remote)
    assert result.returncode == 0, result.stderr
    assert git(origin, "rev-parse", "--verify", "--quiet", "refs/heads/promote/dev")
