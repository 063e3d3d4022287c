"""Logging and error reporting for workflow rule scripts.

A user's mistake (a `HendersonError`) is written to the rule's log and to stderr as one clear
message, and the script exits with status 1, without a Python traceback. Any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from henderson.errors import HendersonError


@contextlib.contextmanager
def stage_logging(log_path: str | Path, stage: str) -> Iterator[logging.Logger]:
    """Send the `henderson` logger to `log_path` and stderr for the duration of one rule."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("henderson")
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers = [logging.FileHandler(log_path, mode="w", encoding="utf-8"), logging.StreamHandler(sys.stderr)]
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    try:
        logger.info("stage %s started", stage)
        threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
        logger.info("thread settings: %s", threads or "library defaults")
        yield logger
        logger.info("stage %s finished", stage)
    except HendersonError as error:
        logger.error("%s", error)
        for handler in handlers:
            handler.flush()
        raise SystemExit(1) from None
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
