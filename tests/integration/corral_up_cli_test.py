#!/usr/bin/python3
"""`corral up --demo` as a new user runs it, then the client verbs against it.

Starts `corral up --demo` on free ports in a temp work dir, waits for its
banner, checks that the printed curl and dig commands answer, drives
`corral app|task|events`, then stops `up` with SIGINT and checks that no
process of the cluster (master, agents, DNS, tasks) is left.

usage: corral_up_cli_test.py /path/to/corral
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from up_test_util import free_port, wait  # noqa: E402


def main():
    corral = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="corral-up-test-")
    mport, dport, hport = free_port(), free_port(), free_port()
    master = f"127.0.0.1:{mport}"
    env = dict(os.environ, CORRAL_MASTER=master,
               CORRAL_MASTER_CREDENTIALS=os.path.join(work, "credentials", "admin"))
    out_path = os.path.join(work, "up.out")
    out = open(out_path, "w")
    up = subprocess.Popen([corral, "up", "--demo", "--work-dir", work, "--master-port", str(mport),
                           "--dns-port", str(dport), "--dns-http-port", str(hport),
                           "--proxy-http-port", str(free_port()), "--proxy-admin-port", str(free_port())],
                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def run(*args, check=True, timeout=20):
        r = subprocess.run([corral, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"corral {' '.join(args)} failed: {r.stdout}{r.stderr}")
        return r.stdout

    try:
        banner = wait(lambda: "Ctrl-C stops" in open(out_path).read() and open(out_path).read(),
                      60, "the corral up banner")
        # The printed curl lines answer with their task.
        urls = re.findall(r"curl (http://127\.\d+\.\d+\.\d+:\d+/)\s+# demo task (\S+)", banner)
        assert len(urls) == 2, banner
        for url, task in urls:
            body = urllib.request.urlopen(url, timeout=5).read().decode()
            assert body.startswith("hello from " + task), body
        # The printed API curl lines answer as printed (with the generated admin's -u);
        # without credentials the API refuses.
        api = re.findall(r"^  (curl -u \S+ http://127\.0\.0\.1:\d+/v2/apps)$", banner, re.M)
        assert len(api) == 1, banner
        r = subprocess.run(api[0].split(), capture_output=True, text=True, timeout=10)
        assert '"/demo"' in r.stdout, r.stdout + r.stderr
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            f"http://{master}/v2/apps"], capture_output=True, text=True, timeout=10)
        assert r.stdout == "401", r.stdout
        assert oct(os.stat(os.path.join(work, "credentials")).st_mode & 0o777) == "0o700"
        # The printed `corral app list` line works as printed.
        cli = re.findall(r"^  ((?:\S+ )?corral app list.*)$", banner, re.M)
        assert len(cli) == 1, banner
        path_env = dict(os.environ, PATH=os.path.dirname(corral) + ":" + os.environ["PATH"])
        r = subprocess.run(["sh", "-c", cli[0]], env=path_env, capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 0 and "/demo" in r.stdout, r.stdout + r.stderr
        # The printed dig lines answer.
        a = subprocess.run(["dig", "@127.0.0.1", "-p", str(dport), "demo.marathon.mesos", "+short"],
                           capture_output=True, text=True).stdout.split()
        assert a and all(ip.startswith("127.") for ip in a), a
        srv = subprocess.run(["dig", "@127.0.0.1", "-p", str(dport), "SRV",
                              "_demo._tcp.marathon.mesos", "+short"], capture_output=True,
                             text=True).stdout.strip().splitlines()
        assert len(srv) == 2, srv
        services = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{hport}/v1/services/_demo._tcp.marathon.mesos", timeout=5).read())
        assert len(services) == 2, services

        # Client verbs.
        assert "/demo" in run("app", "list")
        app_file = os.path.join(work, "web.json")
        with open(app_file, "w") as f:
            json.dump({"id": "/cli-web", "cmd": f"exec {corral} demo-server", "instances": 1,
                       "cpus": 0.05, "mem": 16, "portDefinitions": [{"port": 0}]}, f)
        run("app", "add", app_file)
        wait(lambda: "TASK_RUNNING" in run("task", "list") and
             "cli-web" in run("task", "list"), 20, "the new app's task")
        run("app", "scale", "/cli-web", "2", "--force", "--master", master)
        wait(lambda: json.loads(run("app", "show", "/cli-web"))["app"]["tasksRunning"] == 2, 20,
             "scale to 2")
        tid = [l.split()[0] for l in run("task", "list").splitlines() if l.startswith("cli-web.")][0]
        wait(lambda: "demo server" in run("task", "logs", tid, "--stderr"), 10, "task logs")
        run("task", "kill", tid)
        wait(lambda: tid not in run("task", "list") and
             json.loads(run("app", "show", "/cli-web"))["app"]["tasksRunning"] == 2, 20,
             "the killed task replaced")
        run("app", "restart", "/cli-web", "--force")
        ev = subprocess.run(["timeout", "3", corral, "events", "--master", master], env=env,
                            capture_output=True, text=True)
        assert "event_stream_attached" in ev.stdout, ev.stdout + ev.stderr
        run("app", "remove", "/cli-web", "--force")
        wait(lambda: "cli-web" not in run("app", "list"), 20, "the app removed")
        # A missing app is a clear error, not a crash.
        r = subprocess.run([corral, "app", "show", "/nope"], env=env, capture_output=True, text=True)
        assert r.returncode != 0 and "404" in r.stderr, r.stderr
    except Exception:
        print(open(out_path).read())
        for name in sorted(os.listdir(os.path.join(work, "logs"))):
            print(f"----- {name}")
            print(open(os.path.join(work, "logs", name)).read()[-4000:])
        raise
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            raise AssertionError("corral up did not stop within 40 s of SIGINT")
        out.close()
    # Nothing of the cluster is left: no process runs with this work dir.
    left = subprocess.run(["pgrep", "-f", work], capture_output=True, text=True).stdout.split()
    left += [p for p in subprocess.run(["pgrep", "-f", "demo-server"], capture_output=True,
                                       text=True).stdout.split()
             if os.path.exists(f"/proc/{p}/cwd") and os.readlink(f"/proc/{p}/cwd").startswith(work)]
    assert not left, f"processes left after SIGINT: {left}"
    print("ok")


if __name__ == "__main__":
    main()
