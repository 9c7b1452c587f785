import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import every view now (and with them pandas and scipy), not on a worker's first request: otherwise
# the first user served by a fresh worker waits seconds. Under gunicorn --preload the workers then
# fork with it all loaded and share that memory.
get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
