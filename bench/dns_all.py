#!/usr/bin/python3
"""Both DNS benchmarks in one run, and one table: event -> changed answer at
each catalog size (bench/dns_event_bench.py) beside the queries per
CPU-second against NSD and Knot DNS (bench/dns_bench.py), run one after the
other on the same build and the same machine, so the figures come from the
same run. Each bench's own full table follows the summary.

Usage: bench/dns_all.py [--corral build/cli/corral] [--sizes 1000,10000,30000,100000]
                        [--events 60] [--burst 500] [--rounds 3] [--seconds 8]
                        [--markdown out.md]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{cmd[1]} failed with status {done.returncode}")
    return done.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corral", default=os.path.join(ROOT, "build", "cli", "corral"))
    ap.add_argument("--sizes", default="1000,10000,30000,100000")
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--markdown", help="write the summary and both tables here")
    args = ap.parse_args()
    corral = os.path.abspath(args.corral)
    commit = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"],
                            capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="corral-dnsall-")
    ev_json, qps_json = os.path.join(work, "event.json"), os.path.join(work, "qps.json")
    started = time.strftime("%Y-%m-%d %H:%M %Z")

    event_text = run([sys.executable, "-u", os.path.join(HERE, "dns_event_bench.py"), "--corral",
                      corral, "--sizes", args.sizes, "--events", str(args.events), "--burst",
                      str(args.burst), "--json", ev_json])
    qps_text = run([sys.executable, "-u", os.path.join(HERE, "dns_bench.py"), "--corral", corral,
                    "--rounds", str(args.rounds), "--seconds", str(args.seconds), "--json", qps_json])
    with open(ev_json) as f:
        ev = json.load(f)
    with open(qps_json) as f:
        qps = json.load(f)

    c = qps["corral"]
    ratio = lambda peer, key: (f"{c[key] / qps[peer][key]:.2f}x" if peer in qps else "n/a")
    lines = [
        f"Run {started} at commit {commit}; event bench then DNS bench, same build, same machine "
        f"(load average at the end {qps['load']}).",
        "",
        f"Queries per CPU-second, corral dns / NSD: **{ratio('nsd', 'q_per_cpu_s')}**, "
        f"corral dns / Knot DNS: **{ratio('knot', 'q_per_cpu_s')}** "
        f"(queries/s {ratio('nsd', 'qps')} / {ratio('knot', 'qps')}; "
        f"corral {c['q_per_cpu_s']:,.0f} queries per CPU-second).",
        "",
        "| tasks (apps) | event → answer p50 / p99 (ms) | harness overhead p50 / p99 (ms) "
        "| burst up / down (ms) | bytes / task | zone update mean (ms) "
        "| q per CPU-s vs NSD / Knot |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in ev["rows"]:
        lines.append(
            f"| {r['tasks']:,} ({r['apps']:,}) | {r['p50']:.2f} / {r['p99']:.2f} "
            f"| {r['over_p50']:.3f} / {r['over_p99']:.3f} "
            f"| {r['burst_up_ms']:.1f} / {r['burst_down_ms']:.1f} | {r['bytes_per_task']:.0f} "
            f"| {r['build_mean_ms']:.2f} | {ratio('nsd', 'q_per_cpu_s')} / "
            f"{ratio('knot', 'q_per_cpu_s')} |")
    summary = "\n".join(lines) + "\n"
    text = (summary + "\n### Event → changed answer (bench/dns_event_bench.py)\n\n" + event_text +
            "\n### Queries per CPU-second (bench/dns_bench.py)\n\n" + qps_text)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
