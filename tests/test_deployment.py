"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by construction; its
database init script runs for real, against the test server."""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_validates_against_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_official_postgres_image_with_a_named_volume_and_healthcheck():
    db = compose()["services"]["db"]
    assert db["image"].startswith("postgres:")
    volume_name = db["volumes"][0].split(":")[0]
    assert volume_name in compose()["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_compose_runs_the_app_under_gunicorn_against_the_database():
    app = compose()["services"]["web"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / "Dockerfile").exists()
    command = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    assert "exec gunicorn config.wsgi:application --config python:config.gunicorn_conf" in command
    from config import gunicorn_conf

    assert gunicorn_conf.worker_class == "gthread" and gunicorn_conf.accesslog is None
    assert app["environment"]["DATABASE_URL"].startswith("postgres://")
    assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["DEBUG"] == "0"
    assert "/health/ready/" in " ".join(app["healthcheck"]["test"])


def test_compose_scales_out_web_and_worker_behind_a_tls_proxy():
    """`docker compose up --scale web=3 --scale worker=2` works: no fixed port or name on either, both
    on the same database and file storage, migrations once, the proxy balances over the replicas."""
    services = compose()["services"]
    web, worker, proxy, migrate = services["web"], services["worker"], services["proxy"], services["migrate"]
    for replica in (web, worker):
        assert "ports" not in replica and "container_name" not in replica  # several replicas can run
        assert replica["environment"]["DATABASE_URL"] == web["environment"]["DATABASE_URL"]
        assert "media:/app/var/media" in replica["volumes"]  # export files seen by every replica
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["environment"]["TRUST_X_FORWARDED_PROTO"] == "1"
    assert "DATABASE_OWNER_URL" not in web["environment"]  # the web replicas hold the application's role only
    assert worker["command"][:4] == ["python", "manage.py", "procrastinate", "worker"]
    assert "jobs" in worker["command"][-1] and "schedule" in worker["command"][-1]
    assert migrate["restart"] == "no"  # a one-off service: the migrations run once, not per replica
    assert proxy["image"].startswith("caddy:") and {"80:80", "443:443"} <= set(proxy["ports"])
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    # Every replica is an upstream of its own (not one name the proxy resolves once); one that is not
    # ready (503) or refuses connections is left out and the request tried on another.
    assert re.search(r"dynamic a \{\s*name web\s*port 8000", caddyfile)
    assert "unhealthy_status 503" in caddyfile and "lb_try_duration" in caddyfile
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    # Nothing a web process would keep to itself: sessions in the database, no cache the app relies on.
    from django.conf import settings

    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"


def test_the_dockerfile_installs_from_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile and "--compile-bytecode" in dockerfile
    assert "COPY pyproject.toml uv.lock" in dockerfile


def test_gunicorn_preloads_an_application_that_opens_no_database_connection_at_import():
    """Workers are forked from a master that imported the application: a connection opened at import
    would be shared by every worker. Imported here against an address where no database answers."""
    from config import gunicorn_conf

    assert gunicorn_conf.preload_app is True
    script = (
        "import config.wsgi\n"
        "from django.db import connections\n"
        "print(sorted(alias for alias in connections if connections[alias].connection is not None))\n"
    )
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "import-check", "DEBUG": "0",
        "ALLOWED_HOSTS": "localhost", "DATABASE_URL": "postgres://nobody:none@127.0.0.1:9/nothing",
    }  # fmt: skip
    environment.pop("EMBEDDED_PGDATA", None)
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


# --- the database roles (docs/security.md, "Database roles") -------------------------------------


def test_compose_migrates_as_the_owner_and_serves_as_the_application_role():
    services = compose()["services"]
    app, migrate, db = services["web"], services["migrate"], services["db"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--database", "owner", "--noinput"]
    assert urlsplit(migrate["environment"]["DATABASE_OWNER_URL"]).username == "pvp_owner"
    assert urlsplit(migrate["environment"]["DATABASE_URL"]).username == "pvp_app"
    assert urlsplit(app["environment"]["DATABASE_URL"]).username == "pvp_app"
    assert "DATABASE_OWNER_URL" not in app["environment"]  # no owner password in the app's container
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    # The image's superuser only creates the two roles, from the init script.
    assert db["environment"]["POSTGRES_USER"] not in ("pvp_owner", "pvp_app")
    assert "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert "./deploy/postgres/roles.sql:/etc/pvp/roles.sql:ro" in db["volumes"]
    assert {"PVP_OWNER_PASSWORD", "PVP_APP_PASSWORD"} <= set(db["environment"])


def test_the_image_does_not_migrate_as_the_application():
    command = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD"))
    assert "gunicorn" in command and "migrate" not in command


@pytest.fixture
def superuser():
    """libpq keywords of the embedded test server's superuser (the role the image's init script runs as)."""
    from django.conf import settings

    from config import embedded_postgres

    if os.environ.get("DATABASE_URL"):
        pytest.skip("needs the embedded test server, whose superuser is known")
    database = settings.DATABASES["default"]
    return {"host": database["HOST"], "port": str(database["PORT"]), "user": embedded_postgres.SUPERUSER}


def test_the_init_script_creates_both_roles_and_hands_an_older_database_to_the_owner(superuser):
    from trials.backup import client_program_folders

    name = f"compose_{uuid.uuid4().hex[:8]}"
    owner, app = f"{name}_owner", f"{name}_app"
    with psycopg.connect(**superuser, dbname="postgres", autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(**superuser, dbname=name, autocommit=True) as database:
            # A database from before the two roles: everything is the superuser's.
            database.execute("CREATE TABLE trials_site (id bigserial PRIMARY KEY, name text)")
            database.execute("CREATE FUNCTION trials_guard() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        environment = os.environ | {
            "PATH": f"{client_program_folders()[0]}:{os.environ['PATH']}",
            "PGHOST": superuser["host"],
            "PGPORT": superuser["port"],
            "POSTGRES_USER": superuser["user"],
            "POSTGRES_DB": name,
            "PVP_OWNER_ROLE": owner,
            "PVP_APP_ROLE": app,
            "PVP_OWNER_PASSWORD": "owner-password-for-this-test",
            "PVP_APP_PASSWORD": "app-password-for-this-test",
            "PVP_ROLES_SQL": str(ROOT / "deploy" / "postgres" / "roles.sql"),
        }
        for _run in range(2):  # the second run changes nothing and does not fail
            script = subprocess.run(
                ["sh", str(ROOT / "deploy" / "postgres" / "initdb" / "10-roles.sh")],
                env=environment,
                capture_output=True,
                text=True,
            )
            assert script.returncode == 0, script.stderr
        with psycopg.connect(**superuser, dbname=name) as database:
            powers = database.execute(
                "SELECT rolname, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, "
                "rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname IN (%s, %s) ORDER BY rolname",
                [app, owner],
            ).fetchall()
            assert powers == [(app, False, True, True), (owner, False, True, True)]
            owners = database.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database() "
                "UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public' "
                "UNION SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "UNION SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            ).fetchall()
            assert owners == [(owner,)]  # the table, its sequence and index, the function
            rights = database.execute(
                "SELECT has_database_privilege(%(app)s, current_database(), 'CONNECT'), "
                "has_database_privilege(%(app)s, current_database(), 'TEMPORARY'), "
                "has_schema_privilege(%(app)s, 'public', 'USAGE'), has_schema_privilege(%(app)s, 'public', 'CREATE')",
                {"app": app},
            ).fetchone()
            assert rights == (True, False, True, False)
    finally:
        with psycopg.connect(**superuser, dbname="postgres", autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            server.execute(f'DROP ROLE IF EXISTS "{owner}", "{app}"')


def test_logs_are_json_lines_with_request_ids_and_metrics_stay_inside():
    """JSON logs from every service, the proxy's request id passed on, /metrics for the compose network only."""
    services = compose()["services"]
    for name in ("web", "worker"):
        assert services[name]["environment"]["LOG_FORMAT"] == "json", name
    assert "172.16.0.0/12" in services["web"]["environment"]["METRICS_NETWORKS"]
    assert "ports" not in services["web"]  # Prometheus reaches web:8000/metrics inside the network only
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "header_up X-Request-ID {http.request.uuid}" in caddyfile
    assert "respond /metrics* 404" in caddyfile
