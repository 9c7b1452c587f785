"""Production settings: `check --deploy` is clean, the Content-Security-Policy is strict, and the
repository holds no secrets."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_environment(**overrides) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="edc.example-hospital.cn",
        # Parsed, never connected to: `check --deploy` does not touch the database.
        DATABASE_URL="postgres://pvp_app@db.invalid:5432/pvp_edc",
        DATABASE_OWNER_URL="postgres://pvp_owner@db.invalid:5432/pvp_edc",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(overrides)
    return env


def run_check(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_environment():
    result = run_check(production_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_https_is_switched_off():
    # The check is not clean by accident: the plain-HTTP local stack (HTTPS=0) is reported.
    result = run_check(production_environment(HTTPS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS


def test_production_refuses_to_start_without_a_secret_key():
    env = production_environment()
    del env["SECRET_KEY"]
    result = run_check(env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def read_settings(env, *names) -> list[str]:
    code = "import django; django.setup(); from django.conf import settings; " + "; ".join(
        f"print(settings.{name})" for name in names
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_settings_are_the_default():
    env = production_environment()
    del env["DEBUG"]
    env.pop("HTTPS", None)
    assert read_settings(env, "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE") == ["False", "True", "True"]


def test_debug_on_does_not_bring_a_key_of_its_own():
    # There is no development key to fall back on: `make run` makes one for the demo (var/secret_key).
    env = production_environment(DEBUG="1")
    del env["SECRET_KEY"]
    result = run_check(env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr  # says how to make one


# --- Content-Security-Policy --------------------------------------------------------------------


def test_every_page_carries_a_strict_policy(client, clinician):
    client.force_login(clinician)
    policy = client.get("/patients/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


TEMPLATE_DIRS = [ROOT / "templates", ROOT / "trials" / "templates"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


@pytest.mark.parametrize(
    "template", [p for d in TEMPLATE_DIRS if d.exists() for p in sorted(d.rglob("*.html"))], ids=lambda p: p.name
)
def test_templates_have_no_inline_script_style_or_event_handler(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to static/js"
    assert not INLINE_STYLE.search(text), "inline style or event handler: use a class in static/css or static/js"


# --- No secrets in the repository ---------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "Slack token": re.compile(r"xox[abpors]-[A-Za-z0-9-]{10,}"),
    "SECRET_KEY value": re.compile(r"SECRET_KEY\s*[=:]\s*[\"']([^\"'$]{8,})[\"']"),
    "password in a URL": re.compile(r"[a-z]+://[^/\s:@]+:([^@\s/$]{6,})@"),
}
ALLOWED_VALUES = {"pvp-change-me"}  # docker-compose's documented placeholder password


def tracked_text_files():
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in listing.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and path.stat().st_size < 2_000_000:
            try:
                yield name, path.read_text()
            except UnicodeDecodeError:
                continue


def find_secrets(text: str) -> list[str]:
    found = []
    for label, pattern in SECRET_PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups else match.group(0)
            if value not in ALLOWED_VALUES:
                found.append(f"{label}: {match.group(0)[:60]}")
    return found


def test_the_scanner_finds_the_secrets_it_looks_for():
    key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    assert find_secrets(key)
    assert find_secrets('SECRET_KEY = "' + "k" * 50 + '"')
    assert find_secrets("DATABASE_URL=postgres://pvp:" + "s3cr3t-pass" + "@db/pvp")
    assert not find_secrets("postgres://pvp:${POSTGRES_PASSWORD:-pvp-change-me}@db:5432/pvp_edc")


def test_no_secrets_are_tracked_by_git():
    files = list(tracked_text_files())
    assert len(files) > 50  # the scan really ran over the repository
    leaks = [f"{name}: {finding}" for name, text in files for finding in find_secrets(text)]
    assert leaks == []


def test_docker_compose_passes_the_https_switches_through():
    import yaml

    environment = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["environment"]
    settings_source = (ROOT / "config" / "settings.py").read_text()
    for name in ("HTTPS", "TRUST_X_FORWARDED_PROTO"):
        assert name in environment and f'"{name}"' in settings_source
    assert environment["HTTPS"].startswith("${HTTPS:-")  # overridable for production behind TLS


def test_a_database_url_deployment_connects_as_the_application_role_and_names_the_owner_apart():
    names = ("DATABASES['default']['USER']", "DATABASES['owner']['USER']", "DATABASE_APP_ROLE")
    assert read_settings(production_environment(), *names) == ["pvp_app", "pvp_owner", "pvp_app"]
    # The application's container holds no owner credentials: "owner" is its own role, which may
    # not migrate (tests/test_database_roles.py).
    without_owner = production_environment()
    del without_owner["DATABASE_OWNER_URL"]
    assert read_settings(without_owner, *names) == ["pvp_app", "pvp_app", "pvp_app"]
