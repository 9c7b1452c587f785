import os
from base64 import b32encode

from django.contrib.auth.hashers import check_password
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from trials.demo import DEMO_SITE_CODE, DemoRefused, load_demo
from trials.models import User
from trials.roles import ROLES


class Command(BaseCommand):
    help = (
        "Create the demo site, one user per role and the paper's 16 patients (idempotent). Refuses, writing "
        "nothing, a database that holds anything but the demo study; never changes an existing account."
    )

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", "")
        if not password:
            raise CommandError("Set DEMO_PASSWORD to the password the demo users should have.")
        try:
            created = load_demo(password)
        except DemoRefused as refusal:
            raise CommandError(str(refusal)) from None
        if created:
            loaded = f"Demo study loaded at site {DEMO_SITE_CODE}: 16 enrolled patients and 2 candidates not enrolled."
            self.stdout.write(self.style.SUCCESS(loaded))
        else:
            self.stdout.write(f"Demo study already present at site {DEMO_SITE_CODE}; nothing changed.")
        self.stdout.write("Demo logins (user / password): " + ", ".join(self._login(role, password) for role in ROLES))
        device = TOTPDevice.objects.filter(user__username="data_manager", confirmed=True).first()
        if device is None:
            self.stdout.write("data_manager has no two-factor device: the first login asks to set one up.")
            return
        self.stdout.write(
            "data_manager also needs a two-factor code: add the secret key "
            f"{b32encode(device.bin_key).decode()} to an authenticator app (time-based, 6 digits), "
            "or run `.venv/bin/python manage.py totp_code data_manager`."
        )

    @staticmethod
    def _login(role: str, password: str) -> str:
        # The hash function alone, not `user.check_password`: that one re-hashes and saves an old hash.
        stored = User.objects.filter(username=role).values_list("password", flat=True).first() or ""
        return f"{role} / {password}" if check_password(password, stored) else f"{role} / (its own password, kept)"
