"""The cache table of django.core.cache.backends.db.DatabaseCache (settings.CACHES), written out as
`manage.py createcachetable` would make it, so that replaying this migration never depends on today's
settings. It keeps computed outcomes per data version (trials/outcomes.py: study_results)."""

from django.db import migrations

CREATE = """
CREATE TABLE trials_cache (
    cache_key varchar(255) NOT NULL PRIMARY KEY,
    value text NOT NULL,
    expires timestamp with time zone NOT NULL
);
CREATE INDEX trials_cache_expires ON trials_cache (expires);
"""


class Migration(migrations.Migration):
    dependencies = [("trials", "0021_job_files_in_storage")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP TABLE trials_cache;")]
