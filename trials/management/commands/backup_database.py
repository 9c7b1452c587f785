from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trials.backup import BackupError, back_up


class Command(BaseCommand):
    help = (
        "Back up the whole database (embedded or DATABASE_URL) with pg_dump, custom format. "
        "The file holds identifiable patient data: store it accordingly."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--directory",
            default=str(settings.BASE_DIR / "var" / "backups"),
            help="folder for <UTC timestamp>.dump (default: var/backups)",
        )
        parser.add_argument("--output", help="exact file to write instead (never overwritten)")

    def handle(self, *args, **options):
        if options["output"]:
            target = Path(options["output"])
        else:
            # UTC so that backups from servers in different time zones sort and compare as they happened.
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = Path(options["directory"]) / f"{stamp}.dump"
        try:
            result = back_up(target)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {result.path} ({result.size_bytes / 1024 / 1024:.1f} MB, {result.tables} tables)"
            )
        )
