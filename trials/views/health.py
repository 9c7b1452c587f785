"""Health endpoints for load balancers and orchestrators (docker compose, Kubernetes), open without login.

`/health/live/`: the process answers (no database): restart it when this fails.
`/health/ready/`: this instance can serve: the database answers, every migration is applied, and the
task queue is readable (its depth is reported). A load balancer sends no traffic while it is 503.
Neither reveals anything about the study's data.
"""

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@login_not_required
@never_cache
@require_safe
@transaction.non_atomic_requests  # ATOMIC_REQUESTS would open a transaction, and so need the database
def live(request):
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
@transaction.non_atomic_requests
def ready(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            checks["database"] = "ok"
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            checks["migrations"] = "ok" if not pending else f"{len(pending)} not applied"
            cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
            checks["queued_jobs"] = cursor.fetchone()[0]
    except DatabaseError as error:
        checks.setdefault("database", f"unreachable: {type(error).__name__}")
    ready = checks.get("database") == "ok" and checks.get("migrations") == "ok"
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
