"""Delete the files of exports older than JOB_FILE_RETENTION_DAYS (run it daily, e.g. from cron)."""

from django.core.management.base import BaseCommand

from trials.jobs import purge_expired_files


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        purged = purge_expired_files()
        self.stdout.write(f"{purged} export file(s) past their retention time deleted.")
