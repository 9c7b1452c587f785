"""`manage.py serve`: the production stack on one machine, as `make run` starts it.

gunicorn (gthread workers) serves the application, static files included (WhiteNoise, hashed
names), and task-queue workers run the exports, imports and scheduled jobs. All of them are child
processes of this one: Ctrl-C (SIGINT) or SIGTERM stops them all, gracefully first, and then this
process exits, and with the last process using it the embedded PostgreSQL stops. If one child
dies, the others are stopped too, so that a half-running stack never looks like a working one.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from django.conf import settings
from django.core.management.base import BaseCommand

GRACE_SECONDS = 30


class Command(BaseCommand):
    help = "Serve with gunicorn and run the task-queue workers until Ctrl-C (the stack of `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="address:port of the web server")
        parser.add_argument("--web-workers", type=int, default=settings.WEB_WORKERS, help="gunicorn processes")
        parser.add_argument("--threads", type=int, default=settings.WEB_THREADS, help="threads per gunicorn process")
        parser.add_argument("--queue-workers", type=int, default=1, help="task-queue worker processes")

    def handle(self, *args, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            "web": [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", options["bind"],
                    "--config", "python:config.gunicorn_conf", "--workers", str(options["web_workers"]),
                    "--threads", str(options["threads"]), "--graceful-timeout", str(GRACE_SECONDS)],
            **{f"worker-{n}": [*manage, "procrastinate", "worker", "--queues", "jobs,schedule"]
               for n in range(1, options["queue_workers"] + 1)},
        }  # fmt: skip
        children = {
            name: subprocess.Popen(command, cwd=settings.BASE_DIR, env=self._environment())  # noqa: S603 - our own programs
            for name, command in commands.items()
        }
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        workers = len(children) - 1
        self.stdout.write(f"Serving on http://{options['bind']}/ with {workers} task worker(s); Ctrl-C stops.")
        while not stopping:
            ended = {name: child.returncode for name, child in children.items() if child.poll() is not None}
            if ended:
                self.stderr.write(f"{', '.join(ended)} stopped ({ended}): stopping the others.")
                break
            time.sleep(0.5)
        self._stop_all(children)
        if getattr(self, "metrics_directory", None):
            shutil.rmtree(self.metrics_directory, ignore_errors=True)
        if not stopping:
            sys.exit(1)

    def _environment(self) -> dict:
        """The metrics of every gunicorn process add up in one directory of this run's own (trials/metrics.py),
        deleted when it stops; an existing PROMETHEUS_MULTIPROC_DIR is kept."""
        environment = dict(os.environ)
        if not environment.get("PROMETHEUS_MULTIPROC_DIR"):
            self.metrics_directory = tempfile.mkdtemp(prefix="pvp-metrics-")
            environment["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_directory
        return environment

    def _stop_all(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # both finish their requests and jobs first
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
