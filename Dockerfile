# The application image: Python 3.11, dependencies from uv.lock, served by gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH="/opt/venv/bin:$PATH"

WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --compile-bytecode

COPY . .
# collectstatic only reads settings; the URL is parsed, never connected to.
RUN DATABASE_URL=postgres://build@localhost/build SECRET_KEY=build-only DEBUG=0 \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 app && chown -R app /app
USER app
EXPOSE 8000
# Migrations are not run here: they need the database's owner role, which the application's container
# never holds (docker-compose.yml runs them first, once, with `manage.py migrate --database owner`).
# gthread workers, JSON logs and the metrics' multiprocess directory (config/gunicorn_conf.py), emptied at
# each start so that a restarted container does not add up the processes of the previous one.
CMD ["sh", "-c", "export PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus && rm -rf $PROMETHEUS_MULTIPROC_DIR && mkdir -p $PROMETHEUS_MULTIPROC_DIR && exec gunicorn config.wsgi:application --config python:config.gunicorn_conf --bind 0.0.0.0:8000 --workers ${WEB_WORKERS:-3} --threads ${WEB_THREADS:-4}"]
