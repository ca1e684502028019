"""A minimal AWS Lambda Runtime API, to run a real `provided.al2023` style
binary (here `flowguard-lambda`) locally and invoke it from tests.

    with LambdaProcess(binary, env) as fn:
        status, payload = fn.invoke({"Records": [...]}, timeout=120)
        # status is "ok" (POST .../response) or "error" (POST .../error)
        fn.peak_rss_kb()

Implements the runtime side of the protocol the function talks to:

    GET  /2018-06-01/runtime/invocation/next          (long poll)
    POST /2018-06-01/runtime/invocation/{id}/response
    POST /2018-06-01/runtime/invocation/{id}/error
    POST /2018-06-01/runtime/init/error

Only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

FUNCTION_NAME = "flowguard"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:flowguard"
PREFIX = "/2018-06-01/runtime"


class LambdaCrashed(RuntimeError):
    """The function process exited (or reported an init error) while an
    invocation was pending."""


@dataclass
class Invocation:
    request_id: str
    body: bytes
    done: threading.Event = field(default_factory=threading.Event)
    status: str | None = None  # "ok" | "error"
    payload: Any = None
    raw: bytes = b""
    error_type: str | None = None
    delivered: bool = False


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class RuntimeApiServer:
    """Threaded HTTP server implementing the Lambda Runtime API."""

    def __init__(self) -> None:
        self.pending: "queue.Queue[Invocation]" = queue.Queue()
        self.invocations: dict[str, Invocation] = {}
        self.init_errors: list[dict[str, Any]] = []
        self.next_calls = 0
        # Each invocation's deadline, this many seconds after it is handed
        # out (the function's timeout).
        self.deadline_seconds = 300.0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.init_error_event = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real API

            def log_message(self, fmt: str, *args: Any) -> None:  # quiet
                pass

            # -- helpers -------------------------------------------------
            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        line = self.rfile.readline()
                        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            # trailers until blank line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()  # CRLF after chunk
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the process went away
                    self.close_connection = True

            # -- endpoints -----------------------------------------------
            def do_GET(self) -> None:  # noqa: N802
                if self.path != f"{PREFIX}/invocation/next":
                    self._send(404, {"errorMessage": f"unknown path {self.path}"})
                    return
                with server._lock:
                    server.next_calls += 1
                while not server._stopping.is_set():
                    try:
                        inv = server.pending.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    inv.delivered = True
                    deadline_ms = int((time.time() + server.deadline_seconds) * 1000)
                    self._send(
                        200,
                        inv.body,
                        {
                            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                            "Lambda-Runtime-Trace-Id": (
                                "Root=1-%08x-%s;Parent=%s;Sampled=0"
                                % (int(time.time()), uuid.uuid4().hex[:24], uuid.uuid4().hex[:16])
                            ),
                        },
                    )
                    return
                try:
                    self._send(503, {"errorMessage": "runtime API shutting down"})
                except OSError:
                    pass

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                if self.path == f"{PREFIX}/init/error":
                    server.init_errors.append(
                        {
                            "error_type": self.headers.get("Lambda-Runtime-Function-Error-Type"),
                            "body": _parse(body),
                        }
                    )
                    server.init_error_event.set()
                    self._send(202, {"status": "OK"})
                    return
                m = re.fullmatch(PREFIX + r"/invocation/([^/]+)/(response|error)", self.path)
                if not m:
                    self._send(404, {"errorMessage": f"unknown path {self.path}"})
                    return
                inv = server.invocations.get(m.group(1))
                if inv is None:
                    self._send(400, {"errorMessage": f"unknown request id {m.group(1)}",
                                     "errorType": "InvalidRequestID"})
                    return
                if inv.done.is_set():
                    self._send(400, {"errorMessage": "response already posted",
                                     "errorType": "InvalidStateTransition"})
                    return
                inv.raw = body
                inv.payload = _parse(body)
                inv.status = "ok" if m.group(2) == "response" else "error"
                inv.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                inv.done.set()
                self._send(202, {"status": "OK"})

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys
                if not isinstance(sys.exc_info()[1], OSError):  # disconnects are normal at shutdown
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="runtime-api", daemon=True)

    def start(self) -> "RuntimeApiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def enqueue(self, event: Any) -> Invocation:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        inv = Invocation(request_id=str(uuid.uuid4()), body=body)
        self.invocations[inv.request_id] = inv
        self.pending.put(inv)
        return inv


def default_lambda_bin() -> str:
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.environ.get("FLOWGUARD_LAMBDA_BIN") or os.path.join(repo, "target", "debug", "flowguard-lambda")


class LambdaProcess:
    """Runs the function binary against a local Runtime API."""

    def __init__(self, binary: str, env: dict[str, str | None] | None = None, *, inherit_env: bool = True) -> None:
        self.binary = binary
        self.extra_env = dict(env or {})
        self.inherit_env = inherit_env
        self.server = RuntimeApiServer()
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._readers: list[threading.Thread] = []
        self._peak_rss_kb: int | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "LambdaProcess":
        if self.proc is not None:
            return self
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(
                f"Lambda binary not found or not executable: {self.binary} "
                "(build it with `cargo build --bin flowguard-lambda` or set FLOWGUARD_LAMBDA_BIN)"
            )
        self.server.start()
        env = dict(os.environ) if self.inherit_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": self.server.address,
                "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_STREAM_NAME": "test",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/flowguard",
            }
        )
        for k, v in self.extra_env.items():  # None removes an inherited variable
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.proc = subprocess.Popen(
            [self.binary],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for stream, sink, name in ((self.proc.stdout, self.stdout_lines, "stdout"),
                                   (self.proc.stderr, self.stderr_lines, "stderr")):
            t = threading.Thread(target=self._pump, args=(stream, sink), name=f"lambda-{name}", daemon=True)
            t.start()
            self._readers.append(t)
        return self

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in iter(stream.readline, b""):
            sink.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    def __enter__(self) -> "LambdaProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.proc is not None:
            if self.proc.poll() is None:
                self._read_peak_rss()
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            for t in self._readers:
                t.join(timeout=5)
        self.server.stop()

    # -- invoking --------------------------------------------------------
    def invoke(self, event: Any, timeout: float = 120) -> tuple[str, Any]:
        """Queue one event and wait for the function's answer.

        Returns ("ok", response_json) or ("error", error_json). Raises
        LambdaCrashed if the process dies or reports an init error, and
        TimeoutError if no answer comes within `timeout` seconds."""
        assert self.proc is not None, "process not started"
        inv = self.server.enqueue(event)
        end = time.monotonic() + timeout
        while not inv.done.wait(0.05):
            if self.proc.poll() is not None:
                # give the reader threads a moment to drain the pipes
                for t in self._readers:
                    t.join(timeout=2)
                raise LambdaCrashed(
                    f"{self.binary} exited with status {self.proc.returncode} "
                    f"during invocation {inv.request_id}; init errors: {self.server.init_errors}\n"
                    + self.output_tail()
                )
            if time.monotonic() > end:
                raise TimeoutError(
                    f"no answer from {self.binary} within {timeout}s "
                    f"(event delivered: {inv.delivered})\n" + self.output_tail()
                )
        return inv.status or "error", inv.payload

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the process to exit by itself; returns its status or None."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._readers:
            t.join(timeout=5)
        return rc

    def wait_init_failure(self, timeout: float) -> tuple[int | None, list[dict[str, Any]]]:
        """Wait until the process exits or posts /init/error (whichever comes
        first); returns (exit status or None, init errors)."""
        assert self.proc is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                for t in self._readers:
                    t.join(timeout=5)
                return self.proc.returncode, list(self.server.init_errors)
            if self.server.init_error_event.is_set():
                # a real runtime kills the process after /init/error; let it exit
                rc = self.wait_exit(3)
                return rc, list(self.server.init_errors)
            time.sleep(0.05)
        return None, list(self.server.init_errors)

    # -- observation -----------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def _read_peak_rss(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self._peak_rss_kb
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self._peak_rss_kb = int(line.split()[1])
                        break
        except OSError:
            pass
        return self._peak_rss_kb

    def peak_rss_kb(self) -> int | None:
        """Peak resident set size (VmHWM) of the running process, in KiB.
        After the process ended, the last value read (close() reads it
        just before terminating)."""
        return self._read_peak_rss()

    def log_lines(self) -> list[str]:
        return list(self.stdout_lines) + list(self.stderr_lines)

    def json_logs(self, *, stderr_only: bool = False) -> list[dict[str, Any]]:
        """The output lines that are JSON objects (the binary's logs; EMF
        metrics go to stdout)."""
        out = []
        for line in list(self.stderr_lines) if stderr_only else self.log_lines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def wait_json_logs(self, pred: Callable[[dict[str, Any]], bool], *, at_least: int = 1,
                       wait: float = 10.0, stderr_only: bool = True) -> list[dict[str, Any]]:
        """The JSON log lines for which `pred` holds. The pipes are read by
        threads, so a line the binary wrote just before its answer may arrive
        a moment after it: waits up to `wait` s for `at_least` of them."""
        end = time.monotonic() + wait
        while True:
            got = [j for j in self.json_logs(stderr_only=stderr_only) if pred(j)]
            if len(got) >= at_least or time.monotonic() > end:
                return got
            time.sleep(0.05)

    def output_tail(self, n: int = 60) -> str:
        return (
            "--- binary stdout (tail) ---\n" + "\n".join(self.stdout_lines[-n:])
            + "\n--- binary stderr (tail) ---\n" + "\n".join(self.stderr_lines[-n:])
        )
