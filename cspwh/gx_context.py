"""One quiet, in-memory Great Expectations context per process (GX costs seconds to import: only inside tasks)."""
from __future__ import annotations

import functools
import logging
import os


@functools.cache
def context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs every decorator it registers at INFO; under Airflow's logging that floods task logs.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx
