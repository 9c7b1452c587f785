import os

from django.core.management.base import BaseCommand, CommandError

from trials.demo import DEMO_SITE_CODE, load_demo
from trials.roles import ROLES


class Command(BaseCommand):
    help = "Create the demo site, one user per role and the paper's 16 patients (idempotent)."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", "")
        if not password:
            raise CommandError("Set DEMO_PASSWORD to the password the demo users should have.")
        created = load_demo(password)
        if created:
            loaded = f"Demo study loaded at site {DEMO_SITE_CODE}: 16 enrolled patients and 2 candidates not enrolled."
            self.stdout.write(self.style.SUCCESS(loaded))
        else:
            self.stdout.write(f"Demo study already present at site {DEMO_SITE_CODE}; nothing changed.")
        self.stdout.write("Demo logins (user / password): " + ", ".join(f"{role} / {password}" for role in ROLES))
