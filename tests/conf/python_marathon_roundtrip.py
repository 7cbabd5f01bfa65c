#!/usr/bin/python3
"""Feeds toMarathonJson() output (printed by conf_dump_app) to Debian's
python3-marathon client, the way it reads GET /v2/apps/{id}, and fails on any
exception: every key we emit must be a constructor argument there."""
import inspect
import json
import subprocess
import sys

from marathon.models import MarathonApp
from marathon.util import to_snake_case


def main():
    if len(sys.argv) < 2:
        print("usage: python_marathon_roundtrip.py <conf_dump_app> [app.json ...]", file=sys.stderr)
        return 2
    out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout
    apps = json.loads(out)
    if not apps:
        print("no apps printed", file=sys.stderr)
        return 1
    known = set(inspect.signature(MarathonApp.__init__).parameters) - {"self"}
    failures = 0
    for raw in apps:
        # The caller adds versionInfo; add it as the API would.
        raw = dict(raw, versionInfo={"lastScalingAt": "2024-01-01T00:00:00.000Z",
                                     "lastConfigChangeAt": "2024-01-01T00:00:00.000Z"})
        try:
            app = MarathonApp.from_json(raw)
            # Serialising back exercises the nested models too.
            again = json.loads(app.to_json(minimal=False))
            assert app.id == raw["id"], (app.id, raw["id"])
            assert again["instances"] == raw["instances"]
            assert len(app.port_definitions) == len(raw["portDefinitions"])
            assert len(app.health_checks) == len(raw["healthChecks"])
            assert len(app.constraints) == len(raw["constraints"])
        except Exception as e:  # noqa: BLE001 - any failure fails the test
            failures += 1
            print(f"FAIL {raw.get('id')}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        # Belt and braces: every key must name a MarathonApp() argument.
        unknown = [k for k in raw if to_snake_case(k) not in known]
        if unknown:
            failures += 1
            print(f"FAIL {raw['id']}: keys not in MarathonApp(): {unknown}", file=sys.stderr)
            continue
        print(f"ok {raw['id']} ({len(raw)} keys)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
