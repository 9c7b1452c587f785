"""Settings, read from the environment (12-factor); see README "Configuration".

DATABASE_URL        any PostgreSQL, as the application's role; unset: the embedded server under var/pgdata
                    (EMBEDDED_PGDATA)
DATABASE_OWNER_URL  the same database as the owner role: migrations (`migrate --database owner`), backups
SECRET_KEY          required: the settings refuse to load without it
DEBUG               off unless set to 1 (`make run` sets it, with HTTPS=0 and a key of its own under var/)
ALLOWED_HOSTS       comma-separated
HTTPS               on (default when DEBUG is off): HTTPS redirect, HSTS, secure cookies; see docs/security.md
TRUSTED_PROXIES     reverse proxies whose X-Forwarded-For names the client (lockout, security log)
EMAIL_HOST          the mail server; password reset by e-mail exists only when it is set
The login hardening (lockout, idle timeout, two-factor) and the Content-Security-Policy are at the end.
"""

import getpass
import ipaddress
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config import embedded_postgres, request_log

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Production is the default: DEBUG only when asked for, and never a key from the repository.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it to a long random string, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (`make run` makes its own, in var/secret_key)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "pgtrigger",
    "pghistory",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    # The task queue in PostgreSQL: exports, imports, backups and the scheduled jobs (trials/tasks.py).
    "procrastinate.contrib.django",
    # Request latency by view for Prometheus (trials/metrics.py, GET /metrics).
    "django_prometheus",
    "trials",
    # Keeps the database roles' guarantees after every migrate (config/database_roles.py).
    "config.database_roles.DatabaseRolesConfig",
]

MIDDLEWARE = [
    # First: the request id is set before anything can log (config/request_log.py).
    "config.request_log.request_log",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Health checks and metrics, before the host check and the HTTPS redirect (trials/middleware.py).
    "trials.middleware.serve_internal_endpoints",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks request.user as verified (or not) by a second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Logs out after SESSION_IDLE_TIMEOUT without activity, then keeps data managers on the
    # two-factor enrolment page until they have a device (trials/security.py).
    "trials.security.IdleTimeoutMiddleware",
    "trials.security.TwoFactorRequiredMiddleware",
    # After authentication, so every audited write of a request carries its user and URL.
    "pghistory.middleware.HistoryMiddleware",
    # Last, as django-axes asks: turns a locked-out login attempt into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "trials.security.session_settings",
                "config.password_reset.context",
            ],
        },
    },
]

# --- Database: PostgreSQL only, two roles (docs/security.md "Database roles") --------------------
# "default" is the application's role: it reads and writes rows and owns nothing, so it can neither
# alter a table nor switch a trigger off. "owner" owns the tables: `migrate --database owner`, backup
# and restore. Both reach the same database; nothing routes a query to "owner" unless asked to.
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    # Without DATABASE_OWNER_URL (the application's own container) "owner" is the application's role,
    # which a migration then fails as: it may not create or alter tables.
    DATABASES["owner"] = (
        env.db("DATABASE_OWNER_URL") if env.str("DATABASE_OWNER_URL", default="") else {**DATABASES["default"]}
    )
else:
    EMBEDDED_PGDATA = Path(env.str("EMBEDDED_PGDATA", default=str(BASE_DIR / "var" / "pgdata")))
    DATABASES = embedded_postgres.start(EMBEDDED_PGDATA, env.str("EMBEDDED_PG_CLEANUP", default="stop") or None)
# The role the owner grants its rows to (migration trials/0016_database_roles); libpq's default user
# is the operating system's.
DATABASE_APP_ROLE = DATABASES["default"].get("USER") or getpass.getuser()
DATABASES["default"]["ATOMIC_REQUESTS"] = True
# Keep connections between requests, but test each one before use: after a database restart
# the next request reconnects instead of failing on a dead socket.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "trials.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "patient_list"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out username before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2id first (the Password Hashing Competition winner; Django's and OWASP's first choice): it is
# memory-hard (100 MiB per hash with Django's parameters), so a guessing rig pays far more per guess than
# for PBKDF2, while the server pays ~0.19 s of CPU (0.11 s of wall time, on two cores) instead of
# PBKDF2's ~0.23 s for each login and e-signature. Each hash in progress holds 100 MiB: size the
# server for workers × threads of them (docs/security.md). The PBKDF2 hashers stay listed so older
# passwords still verify; Django re-hashes them with Argon2id at the next login or signature.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Audit trail -----------------------------------------------------------------------------
PGHISTORY_APPEND_ONLY = True  # event rows refuse UPDATE and DELETE (database trigger)
PGHISTORY_ADMIN_MODEL = "pghistory.Events"

# --- Language and time -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
# One date format in every language, ISO 8601 (2026-11-20): see config/formats/__init__.py.
FORMAT_MODULE_PATH = ["config.formats"]
USE_TZ = True

# --- Static files: everything vendored, served by WhiteNoise (hospital intranets have no CDN) --
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
# With DEBUG off (`make run`, production) `collectstatic` writes the files with hashed names
# (cached forever by browsers) and compressed copies; with DEBUG on they come from static/ as they are.
WHITENOISE_USE_FINDERS = DEBUG
# The web server of `make run` (`manage.py serve`) and of the Docker image.
WEB_WORKERS = env.int("WEB_WORKERS", default=2)
WEB_THREADS = env.int("WEB_THREADS", default=4)

# API tokens (trials/models/tokens.py) expire after this many days.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with a WWW-Authenticate header, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trials.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "trials.api.pagination.StudyPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PVP myeloma study API",
    "VERSION": "1",
    "DESCRIPTION": "Every study form and workflow action; names are the data dictionary's (docs/design.md §2).",
    # Swagger UI from the sidecar package: served locally, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # drf-spectacular builds the whole schema inside `check --deploy` and reports naming hints
    # (duplicate enum names, untyped ids) there: documentation quality, not deployment safety.
    # Kept out of the deploy check so that it shows real deployment problems only.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# The outcome statements run in parallel on extra connections sharing one snapshot (trials/outcomes.py).
OUTCOMES_PARALLEL = env.bool("OUTCOMES_PARALLEL", default=True)
# Computed outcomes are kept per data version in the cache (trials/outcomes.py: study_results) this long.
OUTCOMES_KEEP_SECONDS = env.int("OUTCOMES_KEEP_SECONDS", default=24 * 3600)

# The cache lives in PostgreSQL (table trials_cache, made by migration trials/0022), so that every app
# server shares it and a web process holds no state of its own: no Redis, no second service.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "trials_cache",
        "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=2000)},
    }
}

# A decimal comma typed in a number field ("1,5") is read as 1.5 (trials/unreadable.py); 0 refuses it.
DECIMAL_COMMA = env.bool("DECIMAL_COMMA", default=True)

# Long exports and imports are tasks in the PostgreSQL queue (procrastinate, trials/tasks.py), run by
# `manage.py procrastinate worker` processes (`make run` starts one); 0 runs them inside the request
# (the tests, and debugging).
JOBS_IN_BACKGROUND = env.bool("JOBS_IN_BACKGROUND", default=True)
# A worker proves it is alive every JOB_HEARTBEAT_SECONDS; the task of a worker silent for
# JOB_STALLED_AFTER_SECONDS (killed, its machine gone) is retried by another worker.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=10)
JOB_STALLED_AFTER_SECONDS = env.float("JOB_STALLED_AFTER_SECONDS", default=60)
# Finished tasks stay in the queue's tables this long (the metrics' task history), then are purged hourly.
TASK_HISTORY_DAYS = env.int("TASK_HISTORY_DAYS", default=3)
PROCRASTINATE_WORKER_DEFAULTS = {
    "update_heartbeat_interval": JOB_HEARTBEAT_SECONDS,
    "stalled_worker_timeout": JOB_STALLED_AFTER_SECONDS,
}
PROCRASTINATE_ON_APP_READY = "trials.tasks.on_app_ready"
# Finished files (exports) live in storage, never in a database row: the file system under
# MEDIA_ROOT by default (readable by the app's user only), an S3-compatible bucket when
# STORAGE_S3_BUCKET is set (django-storages; credentials from the usual AWS_* variables).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
STORAGE_S3_BUCKET = env.str("STORAGE_S3_BUCKET", default="")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": STORAGE_S3_BUCKET,
                "endpoint_url": env.str("STORAGE_S3_ENDPOINT_URL", default="") or None,
                "region_name": env.str("STORAGE_S3_REGION", default="") or None,
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }
        if STORAGE_S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# A finished export's file is kept this many days for its owner to download, then purged (the
# export log keeps its checksum). `manage.py purge_job_files` purges; so does every new job.
JOB_FILE_RETENTION_DAYS = env.int("JOB_FILE_RETENTION_DAYS", default=7)
# The nightly backup (trials/tasks.py): pg_dump custom format into BACKUP_DIR, kept BACKUP_KEEP_DAYS.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups")))
BACKUP_KEEP_DAYS = env.int("BACKUP_KEEP_DAYS", default=14)
# Key of the per-patient date shift of de-identified exports (trials/exports/deidentify.py); empty:
# derived from SECRET_KEY.
DATE_SHIFT_KEY = env.str("DATE_SHIFT_KEY", default="")

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# One JSON object per line on stdout, each with its request id (config/request_log.py); LOG_FORMAT=text
# for plain lines (`make dev`).
LOGGING = request_log.logging_config(
    json_lines=env.str("LOG_FORMAT", default="text" if DEBUG else "json") == "json",
    level=env.str("LOG_LEVEL", default="WARNING"),
)

# --- Hostile input: the API answers an oversized or malformed request in JSON (trials/api/views.py); --
# a NUL character in a query string is refused before it reaches PostgreSQL (trials/middleware.py).
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "trials.api.views.exception_handler"
MIDDLEWARE.append("trials.middleware.refuse_nul_characters")
MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")  # last: it times the whole response

# --- E-mail: password reset by e-mail exists only with a mail server (config/password_reset.py) --
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
# A reset link is a password: it lasts an hour (Django's default: three days).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60)

# --- Login hardening (docs/security.md) ----------------------------------------------------------
# Lockout: after AXES_FAILURE_LIMIT failed logins (wrong password or wrong two-factor code) the
# username is locked for AXES_COOLOFF_MINUTES, or until a data manager deletes its "access attempt"
# in the admin. Counted per username *and* address: a ward shares one address behind NAT, so an
# address alone would lock the whole ward, and a username alone would let anyone lock anyone out.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False


def _networks(name: str) -> list[str]:
    networks = []
    for value in (item.strip() for item in env.list(name, default=[])):
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError as error:
            raise ImproperlyConfigured(f"{name}: {value!r} is not an IP address or network") from error
    return networks


# The client address that counts (lockout, security log): the socket's, unless it is one of these
# reverse proxies; then the address that proxy appended to X-Forwarded-For (trials/security.py).
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES")
# Who may read GET /metrics (trials/views/metrics.py): by default this machine only. docker-compose.yml
# sets its private network, which only the services inside it reach.
METRICS_NETWORKS = _networks("METRICS_NETWORKS") or ["127.0.0.0/8", "::1/128"]
PROMETHEUS_EXPORT_MIGRATIONS = False  # django-prometheus would query the database at start-up
AXES_CLIENT_IP_CALLABLE = "trials.security.client_ip"

# Inactivity: signed out after SESSION_IDLE_TIMEOUT seconds without a request; the page warns
# SESSION_IDLE_WARNING seconds before and keeps the session alive while a form is typed in
# (static/js/session.js). SESSION_COOKIE_AGE caps a session however active it is.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_IDLE_WARNING = env.int("SESSION_IDLE_WARNING", default=2 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True  # shared ward computers

# Two-factor (TOTP, django-otp): available to everyone, required for these roles.
TWO_FACTOR_REQUIRED_ROLES = env.list("TWO_FACTOR_REQUIRED_ROLES", default=["data_manager"])
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="PVP myeloma study")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # nobody reads a TOTP secret back; a lost device is deleted

# --- Transport security: on whenever DEBUG is off, unless HTTPS=0 (a local plain-HTTP stack) -----
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=365 * 24 * 60 * 60) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a TLS proxy that sets this header itself (otherwise a client could forge it).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy: our own files only, no inline script or style -----------------------
# Markup must not carry <script> bodies, <style> blocks or style="" attributes; scripts set styles
# through the CSSOM (Chart.js, Bootstrap), which the policy allows. The Swagger UI page alone
# gets a nonce for its one inline script (drf-spectacular's template).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Bootstrap's icons and Swagger UI's logos are data: URIs
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
