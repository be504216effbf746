"""The one place conveyor runs git: small typed wrappers, each refusing a value git would read as
an option (``--upload-pack=CMD`` runs a command), and passing refs after ``--end-of-options``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conveyor.errors import UserError
from conveyor.tools import failure_reason, not_an_option
from conveyor.tools import run as run_tool

__all__ = [
    "changed_files",
    "entry_kind",
    "fetch_branch",
    "head_commit",
    "is_ancestor",
    "is_dirty",
    "is_remote",
    "is_tracked",
    "list_files",
    "output",
    "push_with_lease",
    "require_branch",
    "resolve_commit",
    "run",
    "show_file",
    "show_text",
    "toplevel",
    "tracked_files",
    "work_tree_files",
]

NETWORK_TIMEOUT = 600  # fetch, ls-remote and push reach the remote: a slow host is no failure


def run(repo: Path | None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``git ARGS`` in ``repo`` and return its result, failed or not (the caller decides)."""
    return run_tool(["git", *args], cwd=repo, timeout=timeout)


def output(repo: Path | None, *args: str) -> str:
    """The stdout of ``git ARGS``; a failure is a UserError carrying git's own last line."""
    result = run(repo, *args)
    if result.returncode != 0:
        raise UserError(f"git {args[0]} failed: {failure_reason(result)}")
    return result.stdout


def _stripped(repo: Path | None, *args: str) -> str | None:
    """The stripped stdout of ``git ARGS``, or None when git failed."""
    result = run(repo, *args, timeout=30)
    return result.stdout.strip() if result.returncode == 0 else None


def head_commit(cwd: Path | None = None) -> str | None:
    """Full SHA of HEAD, or None outside a repository / before the first commit."""
    return _stripped(cwd, "rev-parse", "--verify", "--quiet", "HEAD")


def is_dirty(cwd: Path | None = None) -> bool:
    """True when tracked files differ from HEAD (untracked files do not count)."""
    return bool(_stripped(cwd, "status", "--porcelain", "--untracked-files=no"))


def changed_files(repo: Path) -> list[str]:
    """`git status --porcelain` lines of the tracked files that differ from HEAD."""
    return output(repo, "status", "--porcelain", "--untracked-files=no").splitlines()


# Where a short ref name can point (git rev-parse tries refs/tags before refs/remotes).
_SHORT_NAME_KINDS = ("refs/heads/", "refs/remotes/", "refs/tags/")
_HEX = re.compile(r"[0-9a-f]{4,64}")


def _ambiguous(ref: str, cwd: Path | None) -> list[str]:
    """The full refs a short name in ``ref`` stands for, when it stands for more than one:
    e.g. a pushed tag ``origin/main`` beside the remote-tracking branch, which git would pick
    (refs/tags comes first), silently moving a history check onto any commit."""
    name = re.split(r"[~^@:]", ref, maxsplit=1)[0]
    if not name or name == "HEAD" or name.startswith("refs/"):
        return []
    candidates = [kind + name for kind in _SHORT_NAME_KINDS]
    listed = _stripped(cwd, "for-each-ref", "--format=%(refname)", *candidates) or ""
    found = [line for line in listed.splitlines() if line in candidates]
    if found and _HEX.fullmatch(name):
        # A short hash that is also a ref's name: git takes the ref (a tag `abc1234` pushed by
        # anyone who can push tags), so the commit meant is not the one checked.
        objects = _stripped(cwd, "rev-parse", "--disambiguate=" + name) or ""
        found += [f"commit {sha}" for sha in objects.split() if sha not in found]
    return found if len(found) > 1 else []


def require_branch(ref: str, cwd: Path | None, what: str = "--branch") -> None:
    """A usage error unless ``ref`` names a branch (local or remote-tracking): in a detached
    checkout `main` may name only a tag `main`, which anyone who can push a tag can point
    anywhere."""
    name = re.split(r"[~^@:]", not_an_option(ref, what), maxsplit=1)[0]
    full = _stripped(cwd, "rev-parse", "--verify", "--quiet", "--symbolic-full-name", name) or ""
    if full and not full.startswith(("refs/heads/", "refs/remotes/")):
        raise UserError(
            f"{what} {ref}: names {full}, not a branch: give the branch (e.g. origin/{name})"
        )


def resolve_commit(ref: str, cwd: Path | None = None, what: str = "git ref") -> str | None:
    """Full SHA of the commit ``ref`` names, or None when it names none here. A short name that
    is both a branch and a tag is refused (a usage error naming both): which one counts must
    never be up to whoever can push a tag."""
    ref = not_an_option(ref, what)
    both = _ambiguous(ref, cwd)
    if both:
        raise UserError(
            f"{what} {ref}: ambiguous, it names {' and '.join(both)}: give the full ref "
            f"(e.g. {both[0]})"
        )
    return _stripped(
        cwd, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
    )


def is_ancestor(commit: str, ref: str, cwd: Path | None = None) -> bool:
    """True when ``commit`` is ``ref`` or in its history (both must exist)."""
    commit, ref = not_an_option(commit, "commit"), not_an_option(ref, "git ref")
    for name in (commit, ref):  # a name that is both a branch and a tag: refused, never guessed
        both = _ambiguous(name, cwd)
        if both:
            raise UserError(f"{name}: ambiguous, it names {' and '.join(both)}: give the full ref")
    result = run(cwd, "merge-base", "--is-ancestor", "--end-of-options", commit, ref, timeout=60)
    return result.returncode == 0


def show_file(commit: str, path: str, cwd: Path | None = None) -> bytes | None:
    """The bytes of ``path`` as committed at ``commit``; None when it is not a file there."""
    not_an_option(commit, "commit")
    result = subprocess.run(  # bytes, not text: a committed file need not be UTF-8
        ["git", "cat-file", "blob", f"{commit}:{path}"],
        cwd=cwd,
        capture_output=True,
        check=False,
        timeout=60,
    )
    return result.stdout if result.returncode == 0 else None


def entry_kind(commit: str, path: str, cwd: Path | None = None) -> str | None:
    """What ``path`` is at ``commit`` (git's object type: blob, tree, commit for a submodule;
    "link" for a symbolic link); None when it is absent."""
    not_an_option(commit, "commit")
    listing = _stripped(cwd, "ls-tree", "-z", commit, "--", path.rstrip("/"))
    entry = (listing or "").split("\0")[0]
    if not entry:
        return None
    mode, kind = entry.split(" ", 2)[:2]
    return "link" if mode == "120000" else kind


def show_text(commit: str, path: str, cwd: Path | None = None) -> str | None:
    """The text of ``path`` at ``commit``; None when it is not a file there. A file that is not
    UTF-8 is a usage error naming it (exit 2), never a traceback."""
    raw = show_file(commit, path, cwd)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{commit[:12]}:{path}: not UTF-8 text") from None


def list_files(commit: str, folder: str, cwd: Path | None = None) -> list[str]:
    """Paths of the files directly inside ``folder`` at ``commit`` (none when it is absent)."""
    not_an_option(commit, "commit")
    listing = _stripped(cwd, "ls-tree", "--name-only", "-z", commit, "--", f"{folder.rstrip('/')}/")
    return sorted(name for name in (listing or "").split("\0") if name)


def work_tree_files(root: Path) -> list[str] | None:
    """Tracked and untracked-but-not-ignored paths (what a commit could carry); None outside a
    repository."""
    result = run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return [p for p in result.stdout.split("\0") if p] if result.returncode == 0 else None


def tracked_files(root: Path) -> set[str]:
    """Paths git tracks (in the index) under ``root``; empty outside a repository."""
    result = run(root, "ls-files", "-z", "--cached")
    return {p for p in result.stdout.split("\0") if p} if result.returncode == 0 else set()


def is_tracked(root: Path, path: str) -> bool:
    """True when git tracks ``path`` (repository-relative): in the index, or in HEAD's tree
    (a file removed from the index only is still committed)."""
    listed = run(root, "ls-files", "-z", "--cached", "--", f":(literal){path}")
    if listed.returncode == 0 and listed.stdout.strip("\0"):
        return True
    return show_file("HEAD", path, root) is not None


def is_remote(root: Path, name: str) -> bool:
    """True when ``name`` is a remote git can reach from ``root``: a configured one, a URL
    (scheme://, or scp-like user@host:path), or a path to a repository."""
    listed = run(root, "remote")
    if listed.returncode == 0 and name in listed.stdout.split():
        return True
    if "://" in name or re.match(r"^[\w.-]+@[\w.-]+:", name):
        return True
    path = Path(name) if Path(name).is_absolute() else root / name
    return path.is_dir() or path.is_file()  # a repository folder, or a bundle file


def toplevel(path: Path) -> Path | None:
    """The top folder of the work tree ``path`` is in, or None outside a repository."""
    top = _stripped(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def fetch_branch(repo: Path, remote: str, branch: str) -> str | None:
    """The commit of ``branch`` on ``remote`` (fetched), or None when the remote has no such
    branch. Only FETCH_HEAD is written (no ref moves), so a caller that stops leaves every ref of
    the repository as it was."""
    remote = not_an_option(remote, "--remote")
    ref = f"refs/heads/{branch}"
    fetch = ("fetch", "--quiet", "--no-tags", "--refmap=", "--end-of-options", remote, ref)
    result = run(repo, *fetch, timeout=NETWORK_TIMEOUT)
    if result.returncode == 0:
        # git resolves FETCH_HEAD itself: in a linked worktree `.git` is a file, not a folder.
        head = run(repo, "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
        if head.returncode != 0:
            raise UserError(f"cannot read what was fetched of {branch!r}: {failure_reason(head)}")
        return head.stdout.strip()
    listed = run(
        repo, "ls-remote", "--exit-code", "--end-of-options", remote, ref, timeout=NETWORK_TIMEOUT
    )
    if listed.returncode == 2:  # the remote answered: it has no such branch
        return None
    said = " ".join(result.stderr.split()) or failure_reason(result)  # git's lines, all of them
    raise UserError(f"cannot fetch {branch!r} from remote {remote!r}: {said[-400:]}")


def push_with_lease(
    repo: Path, remote: str, commit: str, branch: str, expected: str | None
) -> subprocess.CompletedProcess[str]:
    """Push ``commit`` to ``branch`` only if the remote branch is still ``expected`` (None:
    absent); the result says whether it went (``--porcelain`` lines on stdout)."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
    target = f"{commit}:refs/heads/{branch}"
    remote = not_an_option(remote, "--remote")
    push = ("push", "--porcelain", lease, "--end-of-options", remote, target)
    return run(repo, *push, timeout=NETWORK_TIMEOUT)
