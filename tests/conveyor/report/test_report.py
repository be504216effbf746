"""The pull-request report: size limit, plots from dvc.yaml, and the sticky comment's requests
against a local stand-in for GitHub's REST API (the real call runs on GitHub's runners)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from conveyor import github
from conveyor.errors import UserError
from conveyor.report import comment, plots, pull_request
from tests.paths import REPO


def test_long_reports_are_cut_under_githubs_limit():
    text = "\n".join(f"| row {i} | {'x' * 50} |" for i in range(5000))
    fitted = pull_request.fit(text)
    assert len(fitted) <= comment.COMMENT_LIMIT
    assert "Report truncated to fit a GitHub comment" in fitted
    kept = fitted.split("\n\n---\n")[0]
    assert text.startswith(kept) and kept.endswith("|")  # cut at a line boundary
    assert pull_request.fit("short") == "short"


def test_plots_declared_in_dvc_yaml_render_to_png(tmp_path):
    specs = plots.plot_specs(REPO / "dvc.yaml")
    assert [s.template for s in specs] == ["linear", "bar_horizontal", "bar_horizontal"]
    files = {f for s in specs for f in s.y}
    data = {
        "plots/forecast_vs_actual.csv": "date,actual,forecast,seasonal_naive\n"
        "2025-12-01,10,11,9\n2025-12-02,12,12,10\n",
        "plots/error_by_slice.csv": "slice,model_wape,seasonal_naive_wape\nregion=a,0.4,0.6\n",
        "plots/feature_importance.csv": "feature,importance\nlag_28,100.0\npromo,20.0\n",
    }
    assert files == set(data)
    for name, text in data.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    images = plots.render(specs, tmp_path, tmp_path / "out")
    assert len(images) == 3
    for _, path in images:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5_000


class _FakeGitHub(BaseHTTPRequestHandler):
    """GitHub's issue-comment endpoints, in memory, recording every request."""

    comments: ClassVar[list[dict]] = []
    requests: ClassVar[list[tuple[str, str, dict | None, str]]] = []

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, payload, self.headers["Authorization"]))
        return payload

    def do_GET(self) -> None:
        self._record()
        page = int(parse_qs(urlsplit(self.path).query)["page"][0])
        self._reply(200, self.comments[(page - 1) * 100 : page * 100])

    def do_POST(self) -> None:
        payload = self._record()
        comment = {
            "id": 900 + len(self.comments),
            "body": payload["body"],
            "html_url": f"https://github.invalid/c/{900 + len(self.comments)}",
        }
        self.comments.append(comment)
        self._reply(201, comment)

    def do_PATCH(self) -> None:
        payload = self._record()
        comment_id = int(self.path.rsplit("/", 1)[1])
        comment = next(c for c in self.comments if c["id"] == comment_id)
        comment["body"] = payload["body"]
        self._reply(200, comment)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def fake_github() -> Iterator[str]:
    _FakeGitHub.comments = [{"id": n, "body": f"unrelated {n}"} for n in range(1, 131)]
    _FakeGitHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_sticky_comment_is_created_once_then_updated(fake_github, monkeypatch):
    token = "-".join(["test", "token", "not", "a", "secret"])  # built at run time
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("GITHUB_API_URL", fake_github)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/forecast")
    target = github.comment_target_from_env(7, None)

    first = github.upsert_comment(target, f"{comment.MARKER}\nfirst run", comment.MARKER)
    assert first == ("created", "https://github.invalid/c/1030")
    methods = [(m, p.split("?")[0]) for m, p, _, _ in _FakeGitHub.requests]
    assert methods == [
        ("GET", "/repos/acme/forecast/issues/7/comments"),  # page 1 (100 comments)
        ("GET", "/repos/acme/forecast/issues/7/comments"),  # page 2 (30): no marker anywhere
        ("POST", "/repos/acme/forecast/issues/7/comments"),
    ]
    assert all(auth == f"Bearer {token}" for *_, auth in _FakeGitHub.requests)

    _FakeGitHub.requests.clear()
    second = github.upsert_comment(target, f"{comment.MARKER}\nsecond run", comment.MARKER)
    assert second[0] == "updated"
    method, path, payload, _ = _FakeGitHub.requests[-1]
    assert (method, path) == ("PATCH", "/repos/acme/forecast/issues/comments/1030")
    assert payload == {"body": f"{comment.MARKER}\nsecond run"}
    assert sum(comment.MARKER in c["body"] for c in _FakeGitHub.comments) == 1


def test_pr_number_comes_from_the_event(tmp_path, monkeypatch):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_TOKEN", "x")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/forecast")
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    target = github.comment_target_from_env(None, None)
    assert (target.pull_request, target.api_url) == (42, "https://api.github.com")


def test_missing_token_or_pr_is_named(monkeypatch):
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserError, match=r"GITHUB_TOKEN.*GITHUB_REPOSITORY.*pull request number"):
        github.comment_target_from_env(None, None)


def test_api_errors_do_not_leak_the_token(fake_github, monkeypatch):
    token = "-".join(["never", "printed"])
    target = github.CommentTarget(fake_github, "acme/missing", 1, token)
    _FakeGitHub.comments = []

    def refuse(self) -> None:
        self._record()
        self._reply(404, {"message": "Not Found"})

    monkeypatch.setattr(_FakeGitHub, "do_GET", refuse)
    with pytest.raises(UserError, match="answered 404") as caught:
        github.upsert_comment(target, "body", comment.MARKER)
    assert token not in str(caught.value)
