"""Promotion by pull request: the policy, each environment's live release as git records it, the
champion (the live release a new one must not regress from), the pull request's text, promote
(plan, then apply), rollback, status, and live verification (what the release did in the
environment before, which prod's promotion requires).

Read it as Kargo's promotion steps, with git alone: ``promote.plan`` decides what the branch
``promote/<env>`` must carry (reading only), ``promote.apply`` commits it in a throw-away
worktree and pushes it with a lease; the workflow then opens the pull request, and merging it is
what deploys.
"""

# The modules other packages use (the CLI commands promote, rollback, status and verify; the
# record lookups of `promote --version/--from-environment`; the champion `release record/verify`
# derive); pull_request is promote's own.
__all__ = [
    "champion",
    "environments",
    "policy",
    "promote",
    "rescore",
    "rollback",
    "status",
    "trust",
    "verification",
]
