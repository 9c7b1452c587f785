from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from trials.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by backup_database into the configured database (embedded or DATABASE_URL). "
        "Refuses a database that already has tables unless --replace is given; the restore is all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .dump file written by backup_database")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="drop everything in the database's public schema and restore the backup in its place",
        )
        parser.add_argument(
            "--dbname",
            help="restore into this other, existing database on the same server (e.g. to check a backup)",
        )

    def handle(self, *args, **options):
        # An idle connection of this process must not hold anything the restore drops.
        connections.close_all()
        try:
            result = restore(Path(options["file"]), replace=options["replace"], dbname=options["dbname"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        replaced = f", replacing its {result.replaced_tables} tables" if result.replaced_tables else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {options['file']} into database {result.database!r}: {result.tables} tables{replaced}."
            )
        )
        if not options["dbname"] and self.has_unapplied_migrations():
            self.stdout.write(
                "The backup predates this version of the app: run `manage.py migrate --database owner` before serving."
            )

    def has_unapplied_migrations(self) -> bool:
        connection = connections["default"]
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
