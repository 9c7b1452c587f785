# Two commands do all the set-up on a fresh machine: `make run` and `make test` (see README).
# `make run` serves without the autoreloader: one process, so Ctrl-C or SIGTERM stops the
# embedded PostgreSQL with it (a reloader child killed on its own would leave it running).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
PY := .venv/bin/python
PORT ?= 8000
DEMO_PASSWORD ?= pvp-demo-2026
export DEMO_PASSWORD
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: run dev logins test lint sync test-tools clean-db backup restore

# The settings default to production (DEBUG off, HTTPS on, no key). `make run` is a local demo: it
# switches on what the demo needs, plain HTTP on 127.0.0.1, and signs with a key of its own, made once
# in var/secret_key (never committed). Migrations run as the database's owner role, the server as the
# application's role (docs/security.md, "Database roles").
DEMO_KEY := var/secret_key
DEMO_ENV = HTTPS=0 ALLOWED_HOSTS=127.0.0.1,localhost SECRET_KEY="$$(cat $(DEMO_KEY))"
DEV_ENV = DEBUG=1 $(DEMO_ENV)
# The backup commands: the deployment's SECRET_KEY, or the local demo's.
KEY_ENV = SECRET_KEY="$${SECRET_KEY:-$$(cat $(DEMO_KEY) 2>/dev/null)}"

# uv lives in its own small virtual environment so `uv sync` can manage .venv exactly.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set (CI, containers) every process would
# otherwise compile pandas and scipy from source at each start (seconds per web or task worker).
sync: $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode

$(DEMO_KEY):
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# The production stack on the embedded database: gunicorn and a task-queue worker (manage.py serve),
# DEBUG off, static files collected with hashed names.
run: sync $(DEMO_KEY)
	$(DEMO_ENV) $(PY) manage.py migrate --database owner --noinput
	$(DEMO_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(PY) manage.py load_demo
	@$(MAKE) --no-print-directory logins
	$(DEMO_ENV) $(PY) manage.py serve --bind 127.0.0.1:$(PORT)

# For developers: Django's auto-reloading server, DEBUG on, jobs run inside the request (no worker).
dev: sync $(DEMO_KEY)
	$(DEV_ENV) $(PY) manage.py migrate --database owner --noinput
	$(DEV_ENV) $(PY) manage.py load_demo
	@$(MAKE) --no-print-directory logins
	$(DEV_ENV) JOBS_IN_BACKGROUND=0 $(PY) manage.py runserver 127.0.0.1:$(PORT)

logins:
	@echo
	@echo "  PVP myeloma study: http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins: clinician, coordinator, investigator, data_manager"
	@echo "  Password for all four: $(DEMO_PASSWORD)   (set DEMO_PASSWORD to change it)"
	@echo '  data_manager also asks for a two-factor code: SECRET_KEY="$$(cat $(DEMO_KEY))" $(PY) manage.py totp_code data_manager'
	@echo "  Stop with Ctrl-C; the embedded database stops with the server."
	@echo

lint: sync
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here), with a
# CJK font so that the Chinese pages render in screenshots. The export tests read the files back
# with readers this project did not write: R's haven and GNU PSPP (without their recommended
# packages, which would add hundreds of MB of R libraries and desktop parts the tests never use).
BROWSER_PACKAGES := chromium fonts-wqy-microhei
READER_PACKAGES := r-base-core r-cran-haven pspp
test-tools:
	@missing() { for package in "$$@"; do dpkg-query -W -f='$${Status}\n' "$$package" 2>/dev/null | grep -q "install ok installed" || echo "$$package"; done; }; \
	browser=$$(missing $(BROWSER_PACKAGES)); readers=$$(missing $(READER_PACKAGES)); \
	if [ -z "$$browser$$readers" ]; then exit 0; fi; \
	echo "Installing Debian packages for the tests:" $$browser $$readers; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo -n"; else SUDO=missing; fi; \
	install() { DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq "$$@" >/dev/null; }; \
	if [ "$$SUDO" = missing ] || ! ( $$SUDO apt-get update -qq \
	    && { [ -z "$$browser" ] || install $$browser; } \
	    && { [ -z "$$readers" ] || install --no-install-recommends $$readers; } ); then \
	  echo "Cannot install them. Run: sudo apt-get install -y $(BROWSER_PACKAGES) && sudo apt-get install -y --no-install-recommends $(READER_PACKAGES)   (then make test again)"; exit 1; \
	fi

test: sync test-tools lint
	$(PY) -m pytest

# Throw away the demo database (var/pgdata); the next `make run` builds it again.
clean-db:
	rm -rf var/pgdata

# Back up the database in use (embedded, or DATABASE_URL) to var/backups/<UTC timestamp>.dump, or to
# FILE=path. The dump holds identifiable patient data: see docs/backup.md for where to keep it.
backup: sync
	$(KEY_ENV) $(PY) manage.py backup_database $(if $(FILE),--output "$(FILE)")

# Restore FILE into the database in use, all or nothing. A database that already has tables is
# refused unless REPLACE=yes, which drops everything in it first (in the same transaction).
restore: sync
	@if [ -z "$(FILE)" ]; then \
	  echo "Usage: make restore FILE=var/backups/<timestamp>.dump [REPLACE=yes]"; \
	  echo "REPLACE=yes drops all current data of the database before restoring (see docs/backup.md)."; \
	  exit 2; \
	fi
	$(KEY_ENV) $(PY) manage.py restore_database "$(FILE)" $(if $(filter yes,$(REPLACE)),--replace)
