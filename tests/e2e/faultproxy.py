"""A small fault-injecting HTTP/1.1 proxy for the end-to-end tests.

    with FaultProxy(os.environ["MOTO_ENDPOINT"]) as proxy:
        proxy.cut_responses(path_contains=urllib.parse.quote(key), after_body_bytes=50_000)
        ... point the binary's AWS_ENDPOINT_URL at proxy.endpoint ...
        proxy.clear()            # pass everything through again
        proxy.cuts               # how many responses were cut

        proxy.throttle("DynamoDB_20120810.PutItem", count=3)
        ... the next 3 requests with that X-Amz-Target header are answered
            400 ThrottlingException without reaching moto ...
        proxy.throttled          # how many were

        proxy.answer("/findings/import", lambda body: (200, b'{...}'), count=2)
        ... the next 2 requests whose path or X-Amz-Target contains the string
            are answered by the function (given the request body) without
            reaching moto: an API's partial failures (FailedFindings,
            FailedEntryCount) ...
        proxy.answered           # (match, request body) of each

It listens on 127.0.0.1 only and forwards every request to the upstream
(moto), one upstream connection per client connection, keep-alive included.
Requests and responses are framed (Content-Length, chunked, or until close)
so that each request on a kept-alive connection is seen. A request matching
the active fault gets the upstream's status line and headers (with the full
Content-Length), then only the first N bytes of its body, and then the
connection is closed: S3 "failing mid-stream".

Its lifetime is bounded: it shuts itself down after `lifetime` seconds, and
idle connections time out.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

_MAX_HEAD = 64 * 1024


class _Closed(Exception):
    pass


class _Conn:
    """A socket with a read buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _take_through(self, delim: bytes) -> bytes | None:
        """The buffered bytes up to and including `delim`, removed from the
        buffer; None if `delim` is not buffered yet."""
        i = self.buf.find(delim)
        if i < 0:
            return None
        out = bytes(self.buf[: i + len(delim)])
        del self.buf[: i + len(delim)]
        return out

    def read_head(self) -> bytes | None:
        """Bytes up to and including the blank line; None on a clean EOF
        before any byte."""
        while (head := self._take_through(b"\r\n\r\n")) is None:
            if len(self.buf) > _MAX_HEAD:
                raise _Closed("head too large")
            if not self._fill():
                if self.buf:
                    raise _Closed("EOF inside a message head")
                return None
        return head

    def read_line(self) -> bytes:
        while (line := self._take_through(b"\r\n")) is None:
            if not self._fill():
                raise _Closed("EOF inside a chunked body")
        return line

    def read_some(self, limit: int) -> bytes:
        if not self.buf and not self._fill():
            return b""
        n = min(limit, len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for ln in lines[1:]:
        if ln:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
    return lines[0], headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _build_head(first: str, headers: list[tuple[str, str]]) -> bytes:
    return ("\r\n".join([first] + [f"{k}: {v}" for k, v in headers]) + "\r\n\r\n").encode("latin-1")


def _copy_body(src: _Conn, dst: socket.socket, headers: list[tuple[str, str]], *, until_close: bool,
               limit: int | None = None) -> int:
    """Copies one message body; returns the body bytes copied. With `limit`,
    stops after that many payload bytes (the caller then cuts the connection)."""
    sent = 0
    te = (_header(headers, "transfer-encoding") or "").lower()
    cl = _header(headers, "content-length")

    def room() -> int:
        return 1 << 30 if limit is None else limit - sent

    if "chunked" in te:
        while True:
            line = src.read_line()
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if limit is not None and room() <= 0:
                return sent
            dst.sendall(line)
            if size == 0:
                while True:  # trailers up to the blank line
                    t = src.read_line()
                    dst.sendall(t)
                    if t == b"\r\n":
                        return sent
            left = size
            while left:
                data = src.read_some(min(left, room()))
                if not data:
                    raise _Closed("EOF inside a chunk")
                dst.sendall(data)
                left -= len(data)
                sent += len(data)
                if limit is not None and room() <= 0:
                    return sent
            dst.sendall(src.read_line())
    elif cl is not None:
        left = int(cl)
        while left and room() > 0:
            data = src.read_some(min(left, room(), 65536))
            if not data:
                raise _Closed("EOF inside a body")
            dst.sendall(data)
            left -= len(data)
            sent += len(data)
        return sent
    elif until_close:
        while room() > 0:
            data = src.read_some(min(room(), 65536))
            if not data:
                break
            dst.sendall(data)
            sent += len(data)
        return sent
    return 0


class _Discard:
    """A socket-like sink for a request body that is not forwarded."""

    def sendall(self, data: bytes) -> None:
        pass


class _Collect:
    """A socket-like sink that keeps a request body (chunk framing and all
    for a chunked one; the SDKs send Content-Length)."""

    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data


_THROTTLE_BODY = (b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
                  b'"message":"Rate of requests exceeds the allowed throughput."}')
_THROTTLED = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\n"
              b"x-amzn-RequestId: faultproxy-throttle\r\n"
              b"Content-Length: " + str(len(_THROTTLE_BODY)).encode() + b"\r\n\r\n" + _THROTTLE_BODY)


@dataclass
class Cut:
    method: str
    path: str
    status: int
    content_length: int | None
    body_bytes_sent: int


class FaultProxy:
    def __init__(self, upstream: str, *, lifetime: float = 600.0, idle_timeout: float = 120.0) -> None:
        u = urllib.parse.urlsplit(upstream)
        assert u.scheme == "http" and u.hostname in ("127.0.0.1", "localhost"), \
            f"refusing a non-loopback upstream {upstream}"
        self.upstream = (u.hostname, u.port or 80)
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._fault: tuple[str, int, tuple[str, ...]] | None = None
        self._throttle: dict[str, int] = {}
        self._answers: dict[str, tuple[Callable[[bytes], tuple[int, bytes]], int | None]] = {}
        self.answered: list[tuple[str, bytes]] = []
        self.throttled: list[str] = []
        self.cuts: list[Cut] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) forwarded to upstream
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._conns: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)

    # -- control -----------------------------------------------------------
    def cut_responses(self, path_contains: str, after_body_bytes: int, methods: tuple[str, ...] = ("GET",)) -> None:
        """From now on, responses to requests whose path contains
        `path_contains` are cut after `after_body_bytes` bytes of body."""
        with self._lock:
            self._fault = (path_contains, after_body_bytes, methods)

    def throttle(self, target_contains: str, count: int) -> None:
        """Answers the next `count` requests whose `X-Amz-Target` header
        contains `target_contains` with a DynamoDB ThrottlingException (HTTP
        400), without forwarding them."""
        with self._lock:
            self._throttle[target_contains] = count

    def _throttle_for(self, headers: list[tuple[str, str]]) -> bool:
        target = _header(headers, "x-amz-target") or ""
        with self._lock:
            for needle, left in self._throttle.items():
                if left > 0 and needle in target:
                    self._throttle[needle] = left - 1
                    self.throttled.append(target)
                    return True
        return False

    def answer(self, match: str, respond: Callable[[bytes], tuple[int, bytes]], count: int | None = None) -> None:
        """Answers the next `count` requests (every one when None) whose
        path or `X-Amz-Target` contains `match` with `respond(body)`, a
        status and a JSON body, without forwarding them."""
        with self._lock:
            self._answers[match] = (respond, count)

    def _answer_for(self, path: str, headers: list[tuple[str, str]]) -> tuple[str, Callable[[bytes], tuple[int, bytes]]] | None:
        target = _header(headers, "x-amz-target") or ""
        with self._lock:
            for match, (respond, left) in self._answers.items():
                if (match in path or match in target) and (left is None or left > 0):
                    if left is not None:
                        self._answers[match] = (respond, left - 1)
                    return match, respond
        return None

    def clear(self) -> None:
        with self._lock:
            self._fault = None
            self._throttle = {}
            self._answers = {}

    def _fault_for(self, method: str, path: str) -> int | None:
        with self._lock:
            f = self._fault
        if f and method in f[2] and f[0] in path:
            return f[1]
        return None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "FaultProxy":
        self._deadline = time.monotonic() + self.lifetime
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self._sock.close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            client.settimeout(self.idle_timeout)
            with self._lock:
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), name="fault-proxy-conn", daemon=True).start()
        self._stop.set()

    # -- one client connection -------------------------------------------------
    def _connect_upstream(self) -> _Conn:
        s = socket.create_connection(self.upstream, timeout=self.idle_timeout)
        with self._lock:
            self._conns.add(s)
        return _Conn(s)

    def _serve(self, client_sock: socket.socket) -> None:
        client = _Conn(client_sock)
        upstream: _Conn | None = None
        try:
            while not self._stop.is_set():
                head = client.read_head()
                if head is None:
                    return
                first, headers = _parse_head(head)
                method, path, _version = first.split(" ", 2)
                if (_header(headers, "expect") or "").lower() == "100-continue":
                    client.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    headers = [(k, v) for k, v in headers if k.lower() != "expect"]
                if self._throttle_for(headers):
                    _copy_body(client, _Discard(), headers, until_close=False)
                    client.sock.sendall(_THROTTLED)
                    continue
                canned = self._answer_for(path, headers)
                if canned is not None:
                    body = _Collect()
                    _copy_body(client, body, headers, until_close=False)
                    status, reply = canned[1](body.data)
                    with self._lock:
                        self.answered.append((canned[0], body.data))
                    client.sock.sendall(
                        f"HTTP/1.1 {status} Canned\r\nContent-Type: application/json\r\n"
                        f"x-amzn-RequestId: faultproxy-answer\r\nContent-Length: {len(reply)}\r\n\r\n".encode()
                        + reply)
                    continue
                if upstream is None:
                    upstream = self._connect_upstream()
                upstream.sock.sendall(_build_head(first, headers))
                _copy_body(client, upstream.sock, headers, until_close=False)
                # response (skipping interim 1xx answers)
                while True:
                    rhead = upstream.read_head()
                    if rhead is None:
                        raise _Closed("upstream closed before answering")
                    rfirst, rheaders = _parse_head(rhead)
                    status = int(rfirst.split(" ", 2)[1])
                    if status >= 200:
                        break
                    client.sock.sendall(rhead)
                with self._lock:
                    self.requests.append((method, path, status))
                has_body = method != "HEAD" and status not in (204, 304)
                limit = self._fault_for(method, path) if status == 200 else None
                client.sock.sendall(rhead)
                if has_body and limit is not None:
                    sent = _copy_body(upstream, client.sock, rheaders, until_close=True, limit=limit)
                    cl = _header(rheaders, "content-length")
                    with self._lock:
                        self.cuts.append(Cut(method, path, status, int(cl) if cl else None, sent))
                    return  # cut: close both sides without the rest of the body
                if has_body:
                    _copy_body(upstream, client.sock, rheaders, until_close=True)
                closing = ((_header(rheaders, "connection") or "").lower() == "close"
                           or (has_body and _header(rheaders, "content-length") is None
                               and "chunked" not in (_header(rheaders, "transfer-encoding") or "").lower()))
                if closing:
                    return
                if (_header(headers, "connection") or "").lower() == "close":
                    return
        except (_Closed, OSError, ValueError) as e:
            if not self._stop.is_set():
                with self._lock:
                    self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            for c in (client, upstream):
                if c is not None:
                    with self._lock:
                        self._conns.discard(c.sock)
                    c.close()
