"""A stand-in for Cloud Storage that fails uploads midway (Google cannot be reached here).

It answers what google-cloud-storage asks before an upload (the object does not exist),
then reads part of each upload's body and drops the connection, as a network failure in
the middle of an upload would. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DroppingGcs(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def __enter__(self) -> DroppingGcs:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()

    @property
    def uploads(self) -> int:
        return sum(1 for m, p in self.requests if m == "POST" and p.startswith("/upload/"))


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    server: DroppingGcs

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path))
        data = json.dumps({"error": {"code": 404, "message": "No such object"}}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.server.requests.append(("POST", self.path))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(length, 200))  # part of the upload arrives...
        self.close_connection = True       # ...then the connection breaks
        self.connection.shutdown(2)
