"""A loopback HTTP server speaking the parts of the Hugging Face Hub API that huggingface_hub and datasets use to
download a repository (repo info, tree listing, paths-info, resolve), plus plain files at other paths.

Start it with `FakeHub.start()`, point `HF_ENDPOINT` at `hub.url`, and every repository is served from a local
folder at one fixed commit. `hub.requests` records (method, path) of every request.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = {"models": "model", "datasets": "dataset"}


def _commit(repo_type: str, repo_id: str) -> str:
    return hashlib.sha1(f"{repo_type}:{repo_id}".encode()).hexdigest()


def _blob_id(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@dataclass
class FakeHub:
    """Repositories ((type, id) -> folder), plain files (URL path -> bytes), and the requests received."""

    repos: dict[tuple[str, str], Path] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    _server: http.server.ThreadingHTTPServer | None = None

    def add_repo(self, repo_type: str, repo_id: str, folder: Path) -> str:
        """Serves `folder` as the repository; returns its commit hash."""
        self.repos[(repo_type, repo_id)] = folder
        return _commit(repo_type, repo_id)

    def start(self) -> FakeHub:
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._handle(self, "HEAD")

            def do_GET(self) -> None:
                hub._handle(self, "GET")

            def do_POST(self) -> None:
                hub._handle(self, "POST")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ routing

    def _handle(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(parsed.path)
        self.requests.append((method, path))
        body = b""
        if method == "POST":
            body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if path in self.files:
            return self._send(handler, method, 200, self.files[path], "application/octet-stream")
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in KINDS:
            return self._api(handler, method, KINDS[parts[1]], "/".join(parts[2:4]), parts[4:], body)
        if len(parts) >= 4 and parts[0] == "datasets" and "resolve" in parts:
            return self._resolve(handler, method, "dataset", parts[1:])
        if len(parts) >= 4 and "resolve" in parts:
            return self._resolve(handler, method, "model", parts)
        return self._error(handler, method, 404, "EntryNotFound")

    def _repo(self, repo_type: str, repo_id: str) -> Path | None:
        return self.repos.get((repo_type, repo_id))

    def _entries(self, folder: Path, under: str = "", recursive: bool = True) -> list[dict[str, Any]]:
        base = folder / under if under else folder
        found = base.rglob("*") if recursive else base.iterdir()
        entries = []
        for item in sorted(found):
            if any(part.startswith(".") for part in item.relative_to(folder).parts):
                continue
            entries.append(self._entry(folder, item))
        return entries

    @staticmethod
    def _entry(folder: Path, item: Path) -> dict[str, Any]:
        relative = item.relative_to(folder).as_posix()
        if item.is_dir():
            return {"type": "directory", "oid": hashlib.sha1(relative.encode()).hexdigest(), "size": 0, "path": relative}
        return {"type": "file", "oid": _blob_id(item), "size": item.stat().st_size, "path": relative}

    def _api(
        self, handler: Any, method: str, repo_type: str, repo_id: str, rest: list[str], body: bytes
    ) -> None:
        folder = self._repo(repo_type, repo_id)
        if folder is None:
            return self._error(handler, method, 404, "RepoNotFound")
        commit = _commit(repo_type, repo_id)
        if not rest or rest[0] == "revision":
            files = [e["path"] for e in self._entries(folder) if e["type"] == "file"]
            info = {
                "_id": commit,
                "id": repo_id,
                "sha": commit,
                "private": False,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": name} for name in files],
            }
            if repo_type == "dataset" and (folder / "README.md").is_file():
                info["cardData"] = {}
            return self._json(handler, method, info)
        if rest[0] == "tree" and len(rest) >= 2:
            under = "/".join(rest[2:])
            if under and not (folder / under).exists():
                return self._error(handler, method, 404, "EntryNotFound")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._json(handler, method, self._entries(folder, under, recursive))
        if rest[0] == "paths-info":
            form = urllib.parse.parse_qs(body.decode())
            paths = form.get("paths", [])
            if not paths and body.strip().startswith(b"{"):
                paths = json.loads(body).get("paths", [])
            entries = [self._entry(folder, folder / p) for p in paths if (folder / p).exists()]
            return self._json(handler, method, entries)
        return self._error(handler, method, 404, "EntryNotFound")

    def _resolve(self, handler: Any, method: str, repo_type: str, parts: list[str]) -> None:
        at = parts.index("resolve")
        repo_id, filename = "/".join(parts[:at]), "/".join(parts[at + 2 :])
        folder = self._repo(repo_type, repo_id)
        if folder is None:
            return self._error(handler, method, 404, "RepoNotFound")
        path = folder / filename
        if not filename or not path.is_file():
            return self._error(handler, method, 404, "EntryNotFound")
        data = path.read_bytes()
        headers = {"X-Repo-Commit": _commit(repo_type, repo_id), "ETag": f'"{_blob_id(path)}"'}
        return self._send(handler, method, 200, data, "application/octet-stream", headers)

    # ------------------------------------------------------------------ responses

    def _json(self, handler: Any, method: str, value: Any) -> None:
        self._send(handler, method, 200, json.dumps(value).encode(), "application/json")

    def _error(self, handler: Any, method: str, status: int, code: str) -> None:
        self._send(handler, method, status, json.dumps({"error": code}).encode(), "application/json", {"X-Error-Code": code})

    @staticmethod
    def _send(
        handler: Any, method: str, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(data)
