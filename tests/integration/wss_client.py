#!/usr/bin/python3
"""A WebSocket client over TLS for the proxy's wss:// integration test.

Usage: wss_client.py IP PORT HOST
Connects to IP:PORT with HOST as SNI and Host, upgrades /ws, expects the
task's greeting, echoes of a text frame and a 100 kB binary frame, and the
close echo. Prints "OK" and exits 0, or prints what went wrong and exits 1.
Written for the test; the certificate is not verified (a test CA).
"""
import os
import socket
import ssl
import struct
import sys


def frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the connection closed after %d bytes" % len(self.buf))
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("no response head")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head.decode("latin-1")

    def frame(self):
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.need(8))[0]
        return b0 & 0x0F, self.need(n)


def main():
    ip, port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((ip, port), timeout=5)
    sock = ctx.wrap_socket(raw, server_hostname=host)
    sock.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % host).encode())
    r = Reader(sock)
    head = r.head()
    if not head.startswith("HTTP/1.1 101"):
        print("expected 101, got: " + head.splitlines()[0])
        return 1
    if "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" not in head:
        print("wrong Sec-WebSocket-Accept: " + head)
        return 1
    op, payload = r.frame()
    if op != 1 or not payload.startswith(b"hello ws"):
        print("greeting: opcode %d %r" % (op, payload[:40]))
        return 1
    sock.sendall(frame(1, b"ping through TLS"))
    op, payload = r.frame()
    if op != 1 or payload != b"ping through TLS":
        print("text echo: opcode %d %r" % (op, payload[:40]))
        return 1
    big = bytes((i * 7) & 0xFF for i in range(100 * 1000))
    sock.sendall(frame(2, big))
    op, payload = r.frame()
    if op != 2 or payload != big:
        print("binary echo changed: opcode %d, %d bytes" % (op, len(payload)))
        return 1
    sock.sendall(frame(8, b"\x03\xe8"))
    op, payload = r.frame()
    if op != 8:
        print("close echo: opcode %d" % op)
        return 1
    try:
        rest = sock.recv(1)
    except (ssl.SSLError, OSError):
        rest = b""
    if rest:
        print("bytes after the close: %r" % rest)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # the test prints it
        print("error: %s" % e)
        sys.exit(1)
