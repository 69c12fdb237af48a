"""Watchdog for an embedded local Ray: when the driver that started it dies, its Ray processes go too.

Ray's own fate sharing takes the GCS and the raylet down with a killed driver (SIGKILL included), but
the raylet's agents (ray::DashboardAgent, ray::RuntimeEnvAgent) and workers it had started can stay
behind, holding ports and memory (and an actor may keep writing). `init_ray` starts this script in
its own session; it remembers the node's processes and their descendants while the driver lives and,
once the driver is gone (or the node has shut down), terminates whatever of them still runs (SIGTERM,
then SIGKILL) and exits.

Run as a script (not imported by posenas) with only psutil on the path: `python ray_reaper.py PID ...`
where the first PID is the driver and the rest are the node processes Ray started.
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str]) -> int:
    import signal

    import psutil

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # the driver's death sends some of these here
        signal.signal(sig, signal.SIG_IGN)

    driver_pid, roots = int(argv[0]), [int(p) for p in argv[1:]]
    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return 0
    seen: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            seen[pid] = psutil.Process(pid)  # keeps the create time: a reused pid is never touched
        except psutil.NoSuchProcess:
            pass
    node = list(seen.values())

    def remember() -> None:
        """The node's processes and everything they started (agents, workers, actors); nothing else the
        driver may have started (a test's servers, a user's subprocesses) is ever touched."""
        for p in list(seen.values()):
            try:
                for c in p.children(recursive=True):
                    seen.setdefault(c.pid, c)
            except psutil.NoSuchProcess:
                pass

    while True:
        try:
            if not driver.is_running() or driver.status() == psutil.STATUS_ZOMBIE:
                break
            if not any(p.is_running() for p in node):  # ray.shutdown(): only stragglers are left to stop
                break
            remember()
        except psutil.NoSuchProcess:
            break
        time.sleep(1.0)
    time.sleep(1.0)  # Ray's own shutdown / fate sharing first
    seen.pop(os.getpid(), None)  # the driver started this watchdog too
    alive = [p for p in seen.values() if p.is_running()]
    for p in alive:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=3)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
