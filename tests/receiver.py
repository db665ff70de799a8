"""A real local HTTP receiver for the signed HTTP push channel, with scripted faults.

It applies each idempotency key at most once (a repeat gets 409, like a well-behaved site), and counts what it got,
so tests can prove "every delivery arrived, none twice".
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from channels.http_push import KEY_HEADER, SIGNATURE_HEADER, verify_signature


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe behind; that is the point of the test.
        pass


class Receiver:
    def __init__(self, secret: str = "s3cret", delay: float = 0.0):
        self.secret = secret
        self.delay = delay
        self.lock = threading.Lock()
        self.applied: dict[str, dict] = {}
        self.requests: Counter[str] = Counter()  # every POST per key, duplicates and failures included
        self.duplicates: Counter[str] = Counter()
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.bad_signatures = 0
        # Scripted responses per title substring: list of (status, headers, hang_seconds) consumed in order.
        self.scripts: dict[str, list[tuple[int, dict, float]]] = {}
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/receive"

    def script(self, marker: str, *responses: tuple[int, dict, float]) -> None:
        self.scripts[marker] = list(responses)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get(KEY_HEADER, "")
                with receiver.lock:
                    receiver.requests[key] += 1
                    receiver.times[key].append(time.monotonic())
                if not verify_signature(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, "")):
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    return self._reply(401, {"error": "bad signature"})
                payload = json.loads(body)
                scripted = None
                with receiver.lock:
                    for marker, responses in receiver.scripts.items():
                        if marker in payload.get("title", "") and responses:
                            scripted = responses.pop(0)
                            break
                if scripted:
                    status, headers, hang = scripted
                    if hang:
                        time.sleep(hang)
                    return self._reply(status, {"error": "scripted"}, headers)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    if key in receiver.applied:
                        receiver.duplicates[key] += 1
                        return self._reply(409, {"id": key, "duplicate": True})
                    receiver.applied[key] = payload
                return self._reply(201, {"id": key, "url": f"http://127.0.0.1/{key}"})

        return Handler
