"""The patient summary also holds the baseline and follow-up lab values (trials/patient_summary.py).

The table gains columns, so it is dropped and built again from the forms (the rebuild at the end of
install_sql fills it); its triggers now include the lab draws and, once per statement, the lab results.
"""

from django.db import migrations

from trials import patient_summary


class Migration(migrations.Migration):
    dependencies = [
        ("trials", "0022_cache_table"),
    ]

    operations = [
        migrations.RunSQL(
            patient_summary.uninstall_sql() + patient_summary.install_sql(),
            # Going back: the same table, built by the code of that time's migration 0014.
            migrations.RunSQL.noop,
        ),
    ]
