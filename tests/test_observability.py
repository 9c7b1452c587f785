"""Request ids, JSON log lines, and the Prometheus metrics at /metrics for the internal network only."""

import io
import json
import logging.config
import re

import pytest
from django.conf import settings as django_settings

from config.request_log import logging_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """The application's JSON logging, written into a buffer instead of stdout."""
    buffer = io.StringIO()
    config = logging_config(json_lines=True, level="WARNING")
    config["handlers"]["stdout"]["stream"] = buffer
    logging.config.dictConfig(config)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logging.config.dictConfig(django_settings.LOGGING)


def test_every_response_carries_a_request_id(client):
    made = client.get("/health/live/")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/health/live/", headers={"X-Request-ID": "caddy-7f3a"})["X-Request-ID"] == "caddy-7f3a"
    # Not a way to write into the logs: an id with spaces or a line break is replaced.
    forged = client.get("/health/live/", headers={"X-Request-ID": 'x" forged log line'})["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


def test_one_json_line_per_request_with_its_id_who_and_how_long(client, investigator, log_lines):
    client.force_login(investigator)
    response = client.get("/dashboard/", headers={"X-Request-ID": "req-42"})
    client.get("/no-such-page/", headers={"X-Request-ID": "req-43"})
    lines = log_lines()
    [line] = [line for line in lines if line["logger"] == "trials.requests" and line["request_id"] == "req-42"]
    assert response.status_code == 200
    assert line["level"] == "INFO" and line["path"] == "/dashboard/" and line["status"] == 200
    assert line["method"] == "GET" and line["view"] == "dashboard" and line["user_id"] == investigator.pk
    assert line["duration_ms"] > 0 and line["pid"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", line["time"])  # ISO 8601, UTC
    # Django's own warning about the missing page carries the id of the request it happened in.
    [not_found] = [line for line in lines if line["logger"] == "django.request"]
    assert not_found["request_id"] == "req-43" and not_found["level"] == "WARNING"


def test_a_job_logs_under_its_own_id(log_lines, monkeypatch):
    from trials import jobs, tasks

    monkeypatch.setattr(jobs, "run", lambda job_id: logging.getLogger("trials.jobs").warning("running"))
    tasks.run_job(job_id=7)
    [line] = [line for line in log_lines() if line["message"] == "running"]
    assert line["request_id"] == "job-7"


def test_metrics_show_latency_by_view_queue_depth_jobs_and_connections(client, investigator):
    from trials.tasks import run_job

    client.force_login(investigator)
    client.get("/dashboard/")
    run_job.defer(job_id=123)  # waits in the queue: the depth is 1
    client.logout()
    response = client.get("/metrics")  # no login: Prometheus has none
    assert response.status_code == 200
    text = response.content.decode()
    assert 'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="dashboard"}' in text
    assert 'trials_task_queue_jobs{queue="jobs",status="todo"} 1.0' in text
    assert 'trials_task_queue_jobs{queue="schedule",status="doing"} 0.0' in text
    assert re.search(r'trials_database_connections\{state="active"\} [1-9]', text)
    assert "trials_database_max_connections" in text


def test_task_durations_and_failures_come_from_the_queue(client, transactional_db):
    from django.db import connection

    with connection.cursor() as cursor:
        for seconds, status in ((2, "succeeded"), (40, "failed")):
            cursor.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
                "VALUES ('jobs', 'trials.run_job', '{}', %s) RETURNING id",
                [status],
            )
            job = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO procrastinate_events (job_id, type, at) VALUES "
                "(%s, 'started', now() - make_interval(secs => %s)), (%s, %s, now())",
                [job, seconds, job, status],
            )
    text = client.get("/metrics").content.decode()
    assert 'trials_tasks{status="failed",task="trials.run_job"} 1.0' in text
    assert 'trials_task_duration_seconds_bucket{le="1.0",task="trials.run_job"} 0.0' in text
    assert 'trials_task_duration_seconds_bucket{le="5.0",task="trials.run_job"} 1.0' in text
    assert 'trials_task_duration_seconds_bucket{le="+Inf",task="trials.run_job"} 2.0' in text
    assert re.search(r'trials_task_duration_seconds_sum\{task="trials.run_job"\} 42\.\d+', text)


@pytest.mark.parametrize(
    "request_from",
    [
        {"REMOTE_ADDR": "10.20.30.40"},  # another machine
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},  # through the proxy
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
    ],
)
def test_metrics_are_not_there_for_anyone_else(client, investigator, request_from):
    client.force_login(investigator)  # signed in or not: from outside there is nothing here
    assert client.get("/metrics", **request_from).status_code == 404


def test_the_internal_network_is_configurable(client, settings):
    settings.METRICS_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
