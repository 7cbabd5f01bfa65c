#!/usr/bin/env python3
"""The task behind the proxy's data-plane integration tests.

Run as a Marathon task (PORT0, HOST and MESOS_TASK_ID from the agent), it
speaks HTTP/1.1 by hand on raw sockets so that it can do what a library
would not: stream bodies of any size both ways, answer slowly, speak
WebSocket, and send the malformed responses the proxy must refuse.

Every response names the task (X-Task), the request target (X-Target) and
the task-side connection it came on (X-Conn). A connection that carried a
malformed response is remembered: a request that arrives on it afterwards
means the proxy reused it, which GET /stats reports as poisonedReuse.

  GET  /health             200
  GET  /anything           200 "ok <task>" (after the delay set by /delay)
  POST /delay?ms=N         every later plain answer waits N ms
  GET  /slow?ms=N          answers after N ms
  POST /upload             reads the body (Content-Length or chunked) as it
                           comes; answers "bytes=<n> pattern=ok" when byte i
                           was i % 251 throughout (else "pattern=bad@<i>")
  GET  /download?bytes=N   N bytes, byte i = i % 251 (chunked=1: chunked;
                           sndbuf=K: a K-byte socket send buffer)
  GET  /progress           bytes of the last download handed to the kernel
  GET  /ws                 WebSocket: sends "hello <task>", echoes every frame
  GET  /bad/<kind>         a malformed response (see BAD below)
  GET  /stats              {"poisonedReuse": n, "connections": n, "requests": n,
                            "recent": the last 20 request lines}
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

TASK = os.environ.get("MESOS_TASK_ID", "local")
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT0", "0"))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

lock = threading.Lock()
state = {"delay_ms": 0, "progress": 0, "poisoned_reuse": 0, "connections": 0, "requests": 0}

# Malformed responses, each a complete byte string the task writes as is.
BAD = {
    # Both framings: a proxy that trusts either one can be desynchronised.
    "clte": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\n",
    "dupcl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    "dupclsame": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunkoverflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"fffffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
    "barelf": b"HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\nhello",
    "barecr": b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 5\r\n\r\nhello",
    "obsfold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 5\r\n\r\nhello",
    "badcl": b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
    "bigheader": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (80 * 1024) + b"\r\nContent-Length: 5\r\n\r\nhello",
    # A good head and chunk, then (a moment later, after the proxy has
    # forwarded them) a chunk longer than its size line says.
    "chunkmid": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                 b"3\r\nabcdef\r\n0\r\n\r\n"),
}


class Conn:
    def __init__(self, sock, serial):
        self.sock = sock
        self.serial = serial
        self.buf = b""
        self.poisoned = False

    def fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            raise EOFError()
        self.buf += data

    def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 256 * 1024:
                raise EOFError()
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 256 * 1024:
                raise EOFError()
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return method, target, headers

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    # The body in pieces as they arrive: never more than one read in memory.
    def body_pieces(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line() != b"":
                        pass
                    return
                left = size
                while left > 0:
                    if not self.buf:
                        self.fill()
                    piece, self.buf = self.buf[:min(left, 256 * 1024)], self.buf[min(left, 256 * 1024):]
                    left -= len(piece)
                    yield piece
                if self.read_line() != b"":
                    raise EOFError()
        left = int(headers.get("content-length", "0"))
        while left > 0:
            if not self.buf:
                self.fill()
            piece, self.buf = self.buf[:min(left, 256 * 1024)], self.buf[min(left, 256 * 1024):]
            left -= len(piece)
            yield piece

    def respond(self, status, body=b"", extra=None, reason="OK"):
        head = "HTTP/1.1 %d %s\r\nX-Task: %s\r\nX-Conn: %d\r\nContent-Length: %d\r\n" % (
            status, reason, TASK, self.serial, len(body))
        for name, value in (extra or {}).items():
            head += "%s: %s\r\n" % (name, value)
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + body)


def pattern(offset, n):
    block = bytes(i % 251 for i in range(251)) * 300
    start = offset % 251
    out = bytearray()
    while len(out) < n:
        take = min(n - len(out), len(block) - start)
        out += block[start:start + take]
        start = 0
    return bytes(out)


# Pieces of a body are at most one read (256 KiB) plus what followed a head.
UPLOAD_BLOCK = pattern(0, 1024 * 1024)


def download(conn, query, extra):
    total = int(query.get("bytes", ["0"])[0])
    chunked = query.get("chunked", ["0"])[0] == "1"
    if "sndbuf" in query:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(query["sndbuf"][0]))
    with lock:
        state["progress"] = 0
    head = "HTTP/1.1 200 OK\r\nX-Task: %s\r\nX-Conn: %d\r\n" % (TASK, conn.serial)
    for name, value in extra.items():
        head += "%s: %s\r\n" % (name, value)
    head += "Transfer-Encoding: chunked\r\n" if chunked else "Content-Length: %d\r\n" % total
    conn.sock.sendall(head.encode() + b"\r\n")
    sent = 0
    step = 64 * 1024
    block = pattern(0, step + 251)
    while sent < total:
        n = min(step, total - sent)
        data = block[sent % 251:sent % 251 + n]
        conn.sock.sendall(b"%x\r\n" % n + data + b"\r\n" if chunked else data)
        sent += n
        with lock:
            state["progress"] = sent
    if chunked:
        conn.sock.sendall(b"0\r\n\r\n")


def websocket(conn, headers):
    key = headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    conn.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nX-Task: %s\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                       % (TASK, accept)).encode())

    def send(opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        conn.sock.sendall(head + payload)

    send(1, ("hello " + TASK).encode())
    while True:
        b0, b1 = conn.read_exact(2)
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", conn.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", conn.read_exact(8))[0]
        mask = conn.read_exact(4) if b1 & 0x80 else b"\0\0\0\0"
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(conn.read_exact(n)))
        if opcode == 8:
            send(8, payload)
            return
        send(opcode, payload)


def serve(sock, serial):
    conn = Conn(sock, serial)
    try:
        while True:
            method, target, headers = conn.read_head()
            with lock:
                state["requests"] += 1
                state["recent"] = (state.get("recent", []) + [method + " " + target])[-20:]
                if conn.poisoned:
                    state["poisoned_reuse"] += 1
            url = urlsplit(target)
            query = parse_qs(url.query)
            extra = {"X-Target": target}
            if "x-forwarded-for" in headers:
                extra["X-Seen-Forwarded-For"] = headers["x-forwarded-for"]
            if url.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                websocket(conn, headers)
                return
            if url.path == "/upload":
                count = 0
                bad = -1
                for piece in conn.body_pieces(headers):
                    at = count % 251
                    if bad < 0 and UPLOAD_BLOCK[at:at + len(piece)] != piece:
                        bad = count
                    count += len(piece)
                verdict = b"ok" if bad < 0 else b"bad@%d" % bad
                conn.respond(200, b"bytes=%d pattern=%s" % (count, verdict), extra)
                continue
            for _ in conn.body_pieces(headers):
                pass
            if url.path.startswith("/bad/"):
                bad = BAD[url.path[5:]]
                for i, part in enumerate(bad if isinstance(bad, tuple) else (bad,)):
                    if i > 0:
                        time.sleep(0.3)
                    conn.sock.sendall(part)
                conn.poisoned = True
                continue
            if url.path == "/health":
                conn.respond(200, b"ok", extra)
            elif url.path == "/delay" and method == "POST":
                with lock:
                    state["delay_ms"] = int(query.get("ms", ["0"])[0])
                conn.respond(200, b"delay set", extra)
            elif url.path == "/slow":
                time.sleep(int(query.get("ms", ["0"])[0]) / 1000.0)
                conn.respond(200, ("slow " + TASK).encode(), extra)
            elif url.path == "/download":
                download(conn, query, extra)
            elif url.path == "/progress":
                with lock:
                    conn.respond(200, str(state["progress"]).encode(), extra)
            elif url.path == "/stats":
                with lock:
                    body = json.dumps({"poisonedReuse": state["poisoned_reuse"],
                                       "connections": state["connections"],
                                       "requests": state["requests"],
                                       "recent": state.get("recent", [])})
                conn.respond(200, body.encode(), extra)
            else:
                with lock:
                    delay = state["delay_ms"]
                if delay:
                    time.sleep(delay / 1000.0)
                conn.respond(200, ("ok " + TASK).encode(), extra)
            if headers.get("connection", "").lower() == "close":
                return
    except (EOFError, ConnectionError, OSError, ValueError, KeyError):
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen(128)
    print("proxy test backend %s on %s:%d" % (TASK, HOST, PORT), flush=True)
    serial = 0
    while True:
        sock, _ = listener.accept()
        serial += 1
        with lock:
            state["connections"] += 1
        threading.Thread(target=serve, args=(sock, serial), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
