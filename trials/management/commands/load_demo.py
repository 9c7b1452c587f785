import os
from base64 import b32encode

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

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
        device = TOTPDevice.objects.get(user__username="data_manager", confirmed=True)
        self.stdout.write(
            "data_manager also needs a two-factor code: add the secret key "
            f"{b32encode(device.bin_key).decode()} to an authenticator app (time-based, 6 digits), "
            "or run `.venv/bin/python manage.py totp_code data_manager`."
        )
