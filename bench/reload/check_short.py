#!/usr/bin/python3
"""CTest `bench_reload_short`: runs the reload benchmark in --short mode and
checks that corral lost nothing (0 failed requests, 0 resets, no long-lived
connection dropped, every change live) and that results.json carries every
figure for every system and phase.
Usage: check_short.py path/to/corral [path/to/reload_load]"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

RESULT_FIELDS = ("system", "routes", "round", "start_s", "memory_kib", "processes_idle", "phases")
PHASE_FIELDS = {
    "": ("phase", "kind", "amount", "changes", "duration_s", "failed_requests", "resets", "wrk", "probe",
         "during_changes", "long_lived", "event_to_live", "cpu_s", "cpu_per_change_ms", "cpu_per_change_excess_ms", "max_processes", "upgrades",
         "timeline"),
    "probe": ("sent", "failed", "failures", "p50_ms", "p99_ms", "p999_ms", "max_ms"),
    "during_changes": ("window_s", "samples", "p50_ms", "p99_ms", "p999_ms"),
    "long_lived": ("connections", "requests", "failures", "failed", "dropped", "reopened"),
    "event_to_live": ("timed", "superseded", "timeouts", "p50_ms", "p99_ms", "max_ms"),
    "timeline": ("t0", "samples", "changes"),
}
WRK_FIELDS = ("requests", "connect", "read", "write", "timeout", "non2xx")


def missing_fields(doc):
    out = []
    for k in ("date", "machine", "command", "mode", "routes", "phases", "systems", "runtime_s"):
        if k not in doc.get("meta", {}):
            out.append(f"meta.{k}")
    results = doc.get("results", [])
    if not results:
        out.append("results (empty)")
    phase_names = [p[0] for p in doc.get("meta", {}).get("phases", [])]
    for r in results:
        where = f"{r.get('system')}@{r.get('routes')}"
        out += [f"{where}.{k}" for k in RESULT_FIELDS if k not in r]
        for name in phase_names:
            ph = r.get("phases", {}).get(name)
            if ph is None:
                out.append(f"{where}.phases.{name}")
                continue
            for sub, keys in PHASE_FIELDS.items():
                obj = ph if not sub else ph.get(sub, {})
                out += [f"{where}.{name}.{sub}.{k}".replace("..", ".") for k in keys if k not in obj]
            for label in ("keepalive", "churn"):
                w = ph.get("wrk", {}).get(label, {})
                out += [f"{where}.{name}.wrk.{label}.{k}" for k in WRK_FIELDS if k not in w]
        if r.get("system") not in doc.get("derived", {}):
            out.append(f"derived.{r.get('system')}")
    return out


def main():
    corral = sys.argv[1]
    load_tool = ["--load-tool", sys.argv[2]] if len(sys.argv) > 2 else []
    out = tempfile.mkdtemp(prefix="corral-reload-short-")
    p = subprocess.run([sys.executable, os.path.join(HERE, "run.py"), "--short", "--corral", corral, *load_tool,
                        "--out", out], timeout=600)
    if p.returncode != 0:
        sys.exit(f"run.py --short exited {p.returncode}")
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    problems = [f"missing field {m}" for m in missing_fields(doc)]
    corral_runs = [r for r in doc.get("results", []) if r.get("system") == "corral"]
    if not corral_runs:
        problems.append("no corral results")
    for r in corral_runs:
        for name, ph in r.get("phases", {}).items():
            where = f"corral R={r['routes']} {name}"
            if ph.get("failed_requests") != 0:
                problems.append(f"{where}: {ph.get('failed_requests')} failed requests "
                                f"(probe {ph['probe']['failures']}, long-lived {ph['long_lived']['failures']}, "
                                f"wrk {ph['wrk']})")
            if ph.get("resets") != 0:
                problems.append(f"{where}: {ph.get('resets')} resets")
            if ph.get("kind") == "upgrade":
                # A takeover closes held connections gracefully (the answer carries
                # Connection: close): not a drop, but the new generation must serve
                # and at most two processes may run.
                ups = ph.get("upgrades", {})
                if ups.get("completed") != ups.get("asked"):
                    problems.append(f"{where}: {ups.get('completed')} of {ups.get('asked')} upgrades served")
                if ph.get("max_processes", 0) > 2:
                    problems.append(f"{where}: {ph['max_processes']} processes at once")
                continue
            if ph.get("long_lived", {}).get("dropped") != 0:
                problems.append(f"{where}: {ph['long_lived']['dropped']} long-lived connections dropped")
            if ph.get("event_to_live", {}).get("timeouts") != 0:
                problems.append(f"{where}: {ph['event_to_live']['timeouts']} changes never went live")
            if ph.get("changes", 0) > 0 and ph.get("event_to_live", {}).get("timed", 0) == 0:
                problems.append(f"{where}: no change was timed")
    for p_ in problems:
        print("FAIL:", p_)
    if problems:
        sys.exit(1)
    print(f"ok: {len(doc['results'])} run(s) of {', '.join(doc['meta']['systems'])}; results in {out}")


if __name__ == "__main__":
    main()
