# The application image: Python 3.11, dependencies from uv.lock, served by gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
# collectstatic only reads settings; the URL is parsed, never connected to.
RUN DATABASE_URL=postgres://build@localhost/build SECRET_KEY=build-only DEBUG=0 \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 app && chown -R app /app
USER app
EXPOSE 8000
# Migrations are not run here: they need the database's owner role, which the application's container
# never holds (docker-compose.yml runs them first, once, with `manage.py migrate --database owner`).
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "3", "--threads", "4", "--preload", "--access-logfile", "-"]
