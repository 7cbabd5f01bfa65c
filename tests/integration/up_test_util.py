"""Helpers for the `corral up` tests: free ports, starting `up` and waiting
for its banner, and what /proc says about the processes it started."""
import os
import signal
import socket
import subprocess
import time


def free_port():
    """A port free on 127.0.0.1 for both TCP and UDP (DNS uses both)."""
    for _ in range(50):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        p = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise SystemExit("no free port")


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def proc_stat(pid):
    """(state, ppid, start time) from /proc/<pid>/stat, or None when gone."""
    try:
        text = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def alive(pid, start):
    """The process (pid AND start time: not a reuse of the pid) still runs."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start


def descendants(root):
    """{pid: start time} of every process below `root` (children, tasks, ...)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[0] != "Z":
            children.setdefault(st[1], []).append((int(name), st[2]))
    out, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            out[pid] = start
            todo.append(pid)
    return out


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline").read().split("\0")
    except OSError:
        return []


class Up:
    """One `corral up` run, its output in <work>/up-<n>.out."""
    count = 0

    def __init__(self, corral, work, args):
        Up.count += 1
        self.out_path = os.path.join(work, f"up-{Up.count}.out")
        self.out = open(self.out_path, "w")
        self.work = work
        self.proc = subprocess.Popen([corral, "up", "--work-dir", work, *args], stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        return open(self.out_path).read()

    def wait_banner(self, timeout=90):
        return wait(lambda: self.proc.poll() is None and "Ctrl-C stops" in self.output() and
                    self.output(), timeout, f"the corral up banner in {self.out_path}")

    def stop(self, sig=signal.SIGINT, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"corral up did not stop within {timeout} s of signal {sig}")
        self.out.close()

    def dump(self):
        print(f"===== {self.out_path}\n" + self.output())
        logs = os.path.join(self.work, "logs")
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            print(f"----- {name}")
            print(open(os.path.join(logs, name)).read()[-3000:])


def assert_gone(procs, what, timeout=0):
    """Every process in {pid: start} has stopped (waiting up to `timeout` s)."""
    end = time.time() + timeout
    while True:
        left = {p: s for p, s in procs.items() if alive(p, s)}
        if not left or time.time() >= end:
            break
        time.sleep(0.2)
    assert not left, f"{what}: still running: " + "; ".join(
        f"{p} {' '.join(cmdline(p))}" for p in left)
