"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by construction."""

import subprocess
import sys
from pathlib import Path

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
    app = compose()["services"]["app"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / "Dockerfile").exists()
    assert "gunicorn" in (ROOT / "Dockerfile").read_text()
    assert app["environment"]["DATABASE_URL"].startswith("postgres://")
    assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["DEBUG"] == "0"
    assert "/accounts/login/" in " ".join(app["healthcheck"]["test"])


def test_the_dockerfile_installs_from_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "COPY pyproject.toml uv.lock" in dockerfile
