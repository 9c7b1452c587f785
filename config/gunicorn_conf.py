"""gunicorn's settings, for `manage.py serve` (`make run`) and the image (Dockerfile): the same JSON
lines as the application (config/request_log.py), no separate access log (the application writes one
line per request, with its request id), and the metrics of a worker that exited dropped from the
multiprocess directory (config/metrics.py)."""

import os

from config.request_log import logging_config

worker_class = "gthread"
# The application (pandas, scipy, every view) is imported once, by the master, and the workers are
# forked from it: a worker that died is replaced in milliseconds, not after seconds of imports while
# its share of the requests waits. Nothing at import time opens a database connection (tested).
preload_app = True
accesslog = None
logconfig_dict = logging_config(
    json_lines=os.environ.get("LOG_FORMAT", "json") == "json", level=os.environ.get("LOG_LEVEL", "WARNING")
)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
