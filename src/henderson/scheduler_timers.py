"""The Snakefile's `onsuccess` / `onerror` hook: end the run when its last job ends.

After each scheduling pass Snakemake's job-rate limiter (`--max-jobs-per-timespan`, by default
100 jobs per second) starts a `threading.Timer` of one timespan whose only work is to wake the
scheduler for another pass. A timer is a non-daemon thread, so the process waits for the last one
before it exits: up to a second after the last job. Once the run is over nothing waits for them."""

from __future__ import annotations

import threading

SCHEDULER_MODULE = "snakemake.scheduling"


def cancel_scheduler_timers() -> int:
    """Cancel the pending timers started by Snakemake's scheduler (and no others); returns how
    many."""
    cancelled = 0
    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        module = getattr(function, "__module__", None) or ""
        if isinstance(thread, threading.Timer) and module.startswith(SCHEDULER_MODULE):
            thread.cancel()
            cancelled += 1
    return cancelled
