"""The run-end hook cancels the scheduler's pending timers and leaves every other timer alone."""

from __future__ import annotations

import threading

from henderson.scheduler_timers import cancel_scheduler_timers


def test_only_the_schedulers_timers_are_cancelled():
    fired = []

    def scheduler_like():  # as the limiter's wake-up, defined in Snakemake's scheduler module
        fired.append("scheduler")

    scheduler_like.__module__ = "snakemake.scheduling.job_scheduler"
    ours = threading.Timer(0.3, lambda: fired.append("other"))
    theirs = threading.Timer(0.3, scheduler_like)
    ours.start()
    theirs.start()
    assert cancel_scheduler_timers() == 1
    theirs.join(timeout=2)
    ours.join(timeout=2)
    assert fired == ["other"]
    assert not theirs.is_alive() and not ours.is_alive()
