"""A Marathon stand-in for the benches, in the bench's own process.

It serves what corral's registry follower reads, from memory:
* GET /v2/leader;
* GET /v2/apps?... (the whole catalog, `catalog.body`: pre-rendered JSON bytes);
* GET /v2/apps/{id}?... (one app of `catalog.apps`, for the follower's re-reads);
* GET /v2/events: one server-sent-event stream the bench writes events into
  (send_raw / event_bytes); a reconnect replaces it. A heartbeat comment is
  written every `heartbeat_s` (Marathon sends one every 10 s), so a long bench
  never looks like a dead stream to the follower.

Plus the small helpers every bench that drives a corral process needs:
free ports, /metrics scraping, bounded waits, RSS and CPU from /proc.
Every wait is bounded; nothing here sleeps where it can poll a condition.
"""
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import threading
import time


def free_port(ip="127.0.0.1", attempts=100):
    """A port free for both UDP and TCP on ip."""
    for _ in range(attempts):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 0))
        port = s.getsockname()[1]
        s.close()
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((ip, port))
            return port
        except OSError:
            continue  # free for UDP only: try another
        finally:
            t.close()
    raise OSError(f"no port free for both UDP and TCP on {ip}")


class StaticCatalog:
    """A catalog given as a list of Marathon app objects (tasks embedded).

    A catalog is what StandIn serves: `body`, the /v2/apps answer (bytes), and
    `app(id)`, one app object for /v2/apps/{id} (None: 404)."""

    def __init__(self, apps):
        self.apps = apps
        self.body = json.dumps({"apps": apps}).encode()
        self._by_id = {a["id"]: a for a in apps}

    def app(self, app_id):
        return self._by_id.get(app_id)


class StandIn:
    """A Marathon stand-in: leader, apps and the SSE streams we write into (every
    follower's: a proxy taking over from another opens its own beside the old
    one's, and both must see every event)."""

    def __init__(self, catalog, ip="127.0.0.1", heartbeat_s=10.0):
        self.catalog = catalog
        self.streams = []
        self.stream_ready = threading.Event()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.event_id = 0
        # Wall-clock (time.time()) when the last /v2/apps body was fully written.
        self.apps_served_at = None
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send_body(self, status, body, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/v2/leader":
                    return self.send_body(200, json.dumps({"leader": stand_in.address}).encode())
                if path == "/v2/apps":
                    self.send_body(200, stand_in.catalog.body)
                    stand_in.apps_served_at = time.time()
                    return None
                if path.startswith("/v2/apps/"):
                    app = stand_in.catalog.app(path[len("/v2/apps"):])
                    if app is None:
                        return self.send_body(404, b'{"message":"App does not exist"}')
                    return self.send_body(200, json.dumps({"app": app}).encode())
                if path == "/ping":
                    return self.send_body(200, b"pong", "text/plain")
                if path == "/v2/events":
                    # Headers and registration under the lock that every send takes: no
                    # event is written before the headers, and none sent after the
                    # follower saw the headers (and asked for /v2/apps) misses it.
                    with stand_in.lock:
                        self.send_response(200)
                        self.send_header("Content-Type", "text/event-stream")
                        self.send_header("Cache-Control", "no-cache")
                        self.end_headers()
                        self.wfile.write(b": connected\n\n")
                        self.wfile.flush()
                        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        stand_in.streams.append(self.connection)
                    stand_in.stream_ready.set()
                    stand_in.done.wait(24 * 3600)
                    self.close_connection = True
                    return None
                return self.send_body(404, b'{"message":"not here"}')

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.port = free_port(ip)
        self.address = f"{ip}:{self.port}"
        self.server = Server((ip, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        if heartbeat_s:
            threading.Thread(target=self._heartbeat, args=(heartbeat_s,), daemon=True).start()

    def _heartbeat(self, every):
        while not self.done.wait(every):
            try:
                if self.streams:
                    self.send_raw(b": keepalive\n\n")
            except (OSError, RuntimeError):
                pass

    def send_raw(self, data):
        """Writes data to every open event stream; a stream its follower closed is
        dropped (a proxy generation that exited after a takeover)."""
        with self.lock:
            if not self.streams:
                raise RuntimeError("the follower has not opened the Marathon event stream")
            alive = []
            for conn in self.streams:
                try:
                    conn.sendall(data)
                    alive.append(conn)
                except OSError:
                    pass
            if not alive:
                raise RuntimeError("every follower closed its Marathon event stream")
            self.streams = alive

    def event_bytes(self, etype, data):
        self.event_id += 1
        return f"id: {self.event_id}\nevent: {etype}\ndata: {json.dumps(data)}\n\n".encode()

    def stop(self):
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ helpers

def metrics(port, host="127.0.0.1"):
    """A Prometheus text page as {"name{labels}": value}."""
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) ([0-9.eE+-]+|NaN)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def metric(ms, prefix):
    """The sum of every series of a metric (any labels)."""
    return sum(v for k, v in ms.items() if k == prefix or k.startswith(prefix + "{"))


def wait_for(pred, timeout, what, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """utime + stime of a process (all threads) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]
