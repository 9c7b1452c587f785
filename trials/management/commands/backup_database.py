from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trials.backup import BackupError, back_up, timestamped_target


class Command(BaseCommand):
    help = (
        "Back up the whole database (embedded or DATABASE_URL) with pg_dump, custom format. "
        "The file holds identifiable patient data: store it accordingly."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--directory",
            default=str(settings.BACKUP_DIR),
            help="folder for <UTC timestamp>.dump (default: BACKUP_DIR, var/backups)",
        )
        parser.add_argument("--output", help="exact file to write instead (never overwritten)")

    def handle(self, *args, **options):
        if options["output"]:
            target = Path(options["output"])
        else:
            target = timestamped_target(Path(options["directory"]))
        try:
            result = back_up(target)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {result.path} ({result.size_bytes / 1024 / 1024:.1f} MB, {result.tables} tables)"
            )
        )
