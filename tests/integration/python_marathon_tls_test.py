#!/usr/bin/python3
"""python3-marathon against a master serving HTTPS (issue 10).

Usage: python_marathon_tls_test.py /path/to/corral

Makes a CA and a server certificate for the master's address with the
openssl command, starts a master with --tls-cert/--tls-key, agent credentials
and an API user, and one agent registering over https:// with --ca-file.
Then marathon.MarathonClient('https://...', username=..., password=...,
verify=ca.pem) creates an app, sees its task run and deletes it; the same
client trusting another CA fails with an SSL error and creates nothing.
Always stops every process it started.
"""

import os
import subprocess
import sys

import marathon
import requests
from marathon.exceptions import NoResponseError
from marathon.models import MarathonApp

import python_marathon_test as base
from python_marathon_auth_test import secret_file

# After the import above, which sets its own addresses.
base.MASTER_IP = "127.135.0.1"
base.AGENT_IPS = ["127.135.0.2"]
check = base.check
wait_for = base.wait_for


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(directory, name):
    key, cert = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=corral test " + name, "-keyout", key,
            "-out", cert, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, cert


def issue(directory, ca_key, ca_cert, ip):
    key, cert = os.path.join(directory, "server.key"), os.path.join(directory, "server.pem")
    csr, ext = os.path.join(directory, "server.csr"), os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % ip)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=" + ip, "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-out", cert, "-extfile", ext)
    return cert, key


class TlsCluster(base.Cluster):
    def start(self):
        ca_key, self.ca = make_ca(self.dir, "ca")
        _, self.other_ca = make_ca(self.dir, "other-ca")
        cert, key = issue(self.dir, ca_key, self.ca, base.MASTER_IP)
        accepted = secret_file(self.dir, "credentials", "agent-1 agent-secret\n")
        credential = secret_file(self.dir, "agent.credential", "agent-1 agent-secret\n")
        self.url = "https://%s:%d" % (base.MASTER_IP, self.master_port)
        self.spawn("master", ["master", "--listen", "%s:%d" % (base.MASTER_IP, self.master_port),
                              "--work-dir", os.path.join(self.dir, "master"),
                              "--tls-cert", cert, "--tls-key", key,
                              "--credentials", accepted,
                              "--http_credentials", "admin:admin-pw"])
        wait_for("master /ping over https",
                 lambda: requests.get(self.url + "/ping", verify=self.ca, timeout=2)
                 .status_code == 200, 15)
        ip = base.AGENT_IPS[0]
        port = base.free_port(ip)
        self.agent_ports[ip] = port
        self.spawn("agent 0", ["agent", "--ip", ip, "--port", str(port),
                               "--master", self.url, "--ca-file", self.ca,
                               "--resources", "cpus:4;mem:4096;disk:1000;ports:[31000-31100]",
                               "--work-dir", os.path.join(self.dir, "agent0"),
                               "--credential", credential])


def agent_active(admin):
    agents = admin.session.get(admin.servers[0] + "/v1/agents", auth=admin.auth,
                               verify=admin.verify, timeout=3).json()["agents"]
    return any(a["status"] == "ACTIVE" for a in agents)


def run(cluster):
    admin = marathon.MarathonClient(cluster.url, username="admin", password="admin-pw",
                                    timeout=10, verify=cluster.ca)
    wait_for("the agent ACTIVE", lambda: agent_active(admin), 20)

    untrusting = marathon.MarathonClient(cluster.url, username="admin", password="admin-pw",
                                         timeout=5, verify=cluster.other_ca)
    try:
        untrusting.create_app("/untrusted", MarathonApp(cmd="sleep 300"))
        check(False, "a client trusting another CA must fail")
    except NoResponseError:
        pass  # marathon logs the SSLError (certificate verify failed) and gives up
    check(admin.list_apps() == [], "nothing was created through an unverified connection")

    admin.create_app("/tls", MarathonApp(cmd="sleep 300", instances=1, cpus=0.1, mem=16))
    wait_for("the app running over https",
             lambda: len(base.running_tasks(admin, "/tls")) == 1, 30)
    check([a.id for a in admin.list_apps()] == ["/tls"], "list_apps over https")
    admin.delete_app("/tls", force=True)
    wait_for("the app deleted", lambda: admin.list_apps() == [], 30)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s /path/to/corral\n" % sys.argv[0])
        return 2
    return base.drive(TlsCluster(os.path.abspath(sys.argv[1])), run,
                      "python3-marathon over https")


if __name__ == "__main__":
    sys.exit(main())
