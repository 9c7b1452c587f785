"""GET /metrics: the Prometheus metrics (trials/metrics.py), for the internal network only.

Only a client whose own address (the TCP peer, never a forwarded header) is in METRICS_NETWORKS
(default: this machine) and whose request did not come through a proxy gets them; everyone else gets
404, as if there were nothing here. The proxy of docker-compose.yml does not pass /metrics on either.
The metrics hold no study data: counts of tasks, jobs and connections, latencies by view name.
"""

import ipaddress
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from trials.metrics import StudyCollector

FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def from_internal_network(request) -> bool:
    if any(header in request.META for header in FORWARDED):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_NETWORKS)


@login_not_required
@never_cache
@require_safe
def metrics(request):
    if not from_internal_network(request):
        raise Http404
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)  # every gunicorn process of this machine
    else:
        processes = REGISTRY
    study = CollectorRegistry()
    study.register(StudyCollector())
    return HttpResponse(generate_latest(processes) + generate_latest(study), content_type=CONTENT_TYPE_LATEST)
