"""The interface every system under test implements (corral, haproxy, nginx).

The harness (bench/reload/run.py) starts a system on a catalog, submits event
batches through apply(), and probes the proxy's HTTP port itself to see when a
change is live; it reads CPU and memory of pids() from /proc.
"""

from __future__ import annotations

import abc


class System(abc.ABC):
    name: str = ""  # "corral" | "haproxy" | "nginx"

    def __init__(self, work_dir: str, http_port: int, cpu: int, corral_bin: str):
        """work_dir: a fresh directory this system may write to; http_port: the
        loopback port the proxy serves HTTP on (127.0.0.1); cpu: the core to pin
        the proxy's processes to (taskset); corral_bin: build/cli/corral."""
        self.work_dir = work_dir
        self.http_port = http_port
        self.cpu = cpu
        self.corral_bin = corral_bin

    @abc.abstractmethod
    def start(self, routes: list) -> None:
        """Start serving routes (list[Route]); blocks until every route is served
        (raises on failure)."""

    def prepare(self, events: list):
        """What apply() is then given for this batch. The harness's own work that
        a real deployment does elsewhere (rendering Marathon's event stream for
        corral) goes here, before the change is timed; a system's own work (a
        peer rendering its configuration) stays in apply()."""
        return events

    @abc.abstractmethod
    def apply(self, events: list) -> None:
        """Submit a batch of events (Replace / AddRoute / RemoveRoute / Upgrade)
        the system's own way; returns once submitted (the harness probes for
        "live"; an Upgrade is timed by the system, see upgrade_seconds)."""

    @abc.abstractmethod
    def pids(self) -> list[int]:
        """All live processes of this system (CPU, RSS and the generation count)."""

    def upgrade_seconds(self) -> list[float]:
        """For each Upgrade event applied so far: seconds from its submission until
        the new process generation served."""
        return []

    def config_load_seconds(self) -> float | None:
        """What one whole-configuration reload costs this system now (seconds), or
        None when changes never reload a configuration (corral)."""
        return None

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every process of this system (bounded wait) and release its port."""
