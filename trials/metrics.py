"""Prometheus metrics: what each web process measures, and what the database says at each scrape.

Per process (django-prometheus middleware, settings.MIDDLEWARE): request latency by view and method
(`django_http_requests_latency_seconds_by_view_method`), responses by status, exceptions. With
several gunicorn processes on one machine, PROMETHEUS_MULTIPROC_DIR (set by `manage.py serve` and the
image) lets one scrape add up all of them.

From the database, at each scrape (StudyCollector), so the figures are the same whichever replica is
scraped and include the task workers, which may run on other machines:
- trials_task_queue_jobs{queue,status}: jobs waiting (todo) and running (doing), the queue's depth;
- trials_tasks{task,status}: tasks by how they ended (succeeded, failed, ...), kept TASK_HISTORY_DAYS;
- trials_task_duration_seconds{task}: a histogram of those tasks' run times (started to end);
- trials_jobs{kind,status}: the users' exports and imports by status;
- trials_database_connections{state} and trials_database_max_connections: how much of PostgreSQL's
  connection budget this application's role uses (the pool: persistent connections per thread).
"""

from django.db import connection
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
QUEUES = ("jobs", "schedule")

DURATIONS = f"""
WITH finished AS (
    SELECT j.task_name,
           EXTRACT(EPOCH FROM (SELECT max(e.at) FROM procrastinate_events e
                               WHERE e.job_id = j.id AND e.type IN ('succeeded', 'failed'))
                            - (SELECT max(e.at) FROM procrastinate_events e
                               WHERE e.job_id = j.id AND e.type = 'started')) AS seconds
    FROM procrastinate_jobs j
    WHERE j.status IN ('succeeded', 'failed')
)
SELECT task_name, {", ".join(f"count(*) FILTER (WHERE seconds <= {bound})" for bound in DURATION_BUCKETS)},
       count(*), coalesce(sum(seconds), 0)
FROM finished WHERE seconds IS NOT NULL GROUP BY task_name
"""  # noqa: S608 - built from constants


class StudyCollector:
    """Registered with the registry of each scrape (trials/views/metrics.py)."""

    def collect(self):
        with connection.cursor() as cursor:
            yield from self._queue(cursor)
            yield from self._tasks(cursor)
            yield from self._jobs(cursor)
            yield from self._connections(cursor)

    def _queue(self, cursor):
        depth = GaugeMetricFamily("trials_task_queue_jobs", "Tasks waiting (todo) or running (doing), by queue",
                                  labels=["queue", "status"])  # fmt: skip
        cursor.execute(
            "SELECT queue_name, status, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
        )
        counts = {(queue, status): count for queue, status, count in cursor.fetchall()}
        for queue in sorted({*QUEUES, *(queue for queue, _status in counts)}):
            for status in ("todo", "doing"):
                depth.add_metric([queue, status], counts.get((queue, status), 0))
        yield depth

    def _tasks(self, cursor):
        ended = GaugeMetricFamily("trials_tasks", "Tasks kept in the queue's history, by task and status",
                                  labels=["task", "status"])  # fmt: skip
        cursor.execute("SELECT task_name, status, count(*) FROM procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2")
        for task, status, count in cursor.fetchall():
            ended.add_metric([task, status], count)
        yield ended
        durations = HistogramMetricFamily(
            "trials_task_duration_seconds", "Run time of the finished tasks kept in the queue's history",
            labels=["task"],
        )  # fmt: skip
        cursor.execute(DURATIONS)
        for task, *counts, total, seconds in cursor.fetchall():
            buckets = [(str(bound), count) for bound, count in zip(DURATION_BUCKETS, counts, strict=True)]
            durations.add_metric([task], [*buckets, ("+Inf", total)], float(seconds))
        yield durations

    def _jobs(self, cursor):
        jobs = GaugeMetricFamily("trials_jobs", "Users' exports and imports, by kind and status",
                                 labels=["kind", "status"])  # fmt: skip
        cursor.execute("SELECT kind, status, count(*) FROM trials_job GROUP BY 1, 2 ORDER BY 1, 2")
        for kind, status, count in cursor.fetchall():
            jobs.add_metric([kind, status], count)
        yield jobs

    def _connections(self, cursor):
        used = GaugeMetricFamily("trials_database_connections", "Connections of this application's role, by state",
                                 labels=["state"])  # fmt: skip
        cursor.execute(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND usename = current_user GROUP BY 1 ORDER BY 1"
        )
        for state, count in cursor.fetchall():
            used.add_metric([state], count)
        yield used
        cursor.execute("SELECT current_setting('max_connections')::int")
        yield GaugeMetricFamily("trials_database_max_connections", "PostgreSQL's max_connections",
                                value=cursor.fetchone()[0])  # fmt: skip
