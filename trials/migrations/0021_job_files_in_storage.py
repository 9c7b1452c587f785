"""Export files move from the job row (bytea) into storage (MEDIA_ROOT or an S3 bucket); the
attempts a worker made are counted (a task is retried when its worker dies)."""

from django.core.files.base import ContentFile
from django.db import migrations, models

import trials.models.jobs


def move_files_to_storage(apps, schema_editor):
    # On the migration's own connection (the owner's, `migrate --database owner`): another would wait
    # for the lock this transaction holds on the table.
    jobs = apps.get_model("trials", "Job").objects.using(schema_editor.connection.alias)
    for job in jobs.filter(content__isnull=False).only("pk", "file_name"):
        content = jobs.filter(pk=job.pk).values_list("content", flat=True).get()
        job.file.save(job.file_name or f"job-{job.pk}", ContentFile(bytes(content)), save=False)
        jobs.filter(pk=job.pk).update(file=job.file.name)


def move_files_back(apps, schema_editor):
    jobs = apps.get_model("trials", "Job").objects.using(schema_editor.connection.alias)
    for job in jobs.exclude(file=""):
        with job.file.open("rb") as stored:
            jobs.filter(pk=job.pk).update(content=stored.read())


class Migration(migrations.Migration):
    dependencies = [
        ("trials", "0020_site_freeze"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="file",
            field=models.FileField(blank=True, max_length=300, upload_to=trials.models.jobs.job_file_path),
        ),
        migrations.AddField(
            model_name="job",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(move_files_to_storage, move_files_back),
        migrations.RemoveField(model_name="job", name="content"),
    ]
