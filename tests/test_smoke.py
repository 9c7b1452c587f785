"""`make run` on its own throwaway database: migrate, load the demo, serve the login page, stop cleanly.

The settings default to production (DEBUG off, HTTPS on, SECRET_KEY required): `make run` sets what
the local demo needs itself, with a key of its own in var/secret_key.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"make run exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def run_environment():
    datadir = Path(tempfile.mkdtemp(prefix="pvp-smoke-")) / "pgdata"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DATABASE_OWNER_URL", "DJANGO_SETTINGS_MODULE", "MAKEFLAGS")
    }
    # Whatever the shell running the tests has set, the demo must not depend on it.
    env = {k: v for k, v in env.items() if k not in ("SECRET_KEY", "DEBUG", "HTTPS", "ALLOWED_HOSTS")}
    # The test settings point these at the test database; the server under test gets its own.
    env |= {"EMBEDDED_PGDATA": str(datadir), "EMBEDDED_PG_CLEANUP": "stop", "PORT": str(free_port())}
    env |= {"DEMO_PASSWORD": "smoke-test-password"}
    yield env, datadir
    shutil.rmtree(datadir.parent, ignore_errors=True)


def test_make_run_serves_the_login_page_and_prints_the_demo_logins(run_environment):
    env, datadir = run_environment
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # Ctrl-C stops a server started from a terminal; a test run launched as a background job
        # inherits SIGINT ignored, which the server would keep: give it a terminal's disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        page = wait_for(f"http://127.0.0.1:{env['PORT']}/accounts/login/", process, timeout=180)
        assert 'name="password"' in page
        traced = urllib.request.Request(f"http://127.0.0.1:{env['PORT']}/accounts/login/",  # noqa: S310
                                        headers={"X-Request-ID": "smoke-request-1"})  # fmt: skip
        with urllib.request.urlopen(traced, timeout=10) as response:  # noqa: S310 - loopback URL
            assert response.headers["X-Request-ID"] == "smoke-request-1"
        metrics = wait_for(f"http://127.0.0.1:{env['PORT']}/metrics", process, timeout=10)
        # Every gunicorn process's latencies add up in one scrape; the queue's depth comes from the database.
        assert 'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="login"}' in metrics
        assert 'trials_task_queue_jobs{queue="jobs",status="todo"}' in metrics
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
        output, _ = process.communicate(timeout=60)
    assert "Demo study loaded at site H01: 16 enrolled patients" in output
    assert "Password for all four: smoke-test-password" in output
    assert "clinician, coordinator, investigator, data_manager" in output
    # The server's logs are JSON lines, one per request, carrying the proxy's request id.
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    traced_lines = [line for line in lines if line.get("request_id") == "smoke-request-1"]
    assert [(line["logger"], line["status"], line["path"]) for line in traced_lines] == [
        ("trials.requests", 200, "/accounts/login/")
    ]
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own lines too
    # The demo's own key: made once, readable by its owner only, never printed.
    key_file = ROOT / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in output
    # The embedded PostgreSQL stopped with the server: no postmaster left behind.
    deadline = time.monotonic() + 20
    while (datadir / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not (datadir / "postmaster.pid").exists()
