"""The per-patient summary row the outcome dashboard reads, kept current by triggers (trials/patient_summary.py)."""

from django.db import migrations

from trials import patient_summary


class Migration(migrations.Migration):
    dependencies = [
        ("trials", "0013_security_events"),
    ]

    operations = [
        migrations.RunSQL(patient_summary.install_sql(), patient_summary.uninstall_sql()),
    ]
