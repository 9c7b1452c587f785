from django.apps import AppConfig


class TrialsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "trials"
    verbose_name = "PVP myeloma study"

    def ready(self):
        from django.db.models.signals import post_migrate

        from trials import security  # noqa: F401 - connects the security log's signal receivers
        from trials.roles import ensure_role_groups

        # Groups need their permissions, which exist only after migrate; keep them in step.
        post_migrate.connect(lambda **kwargs: ensure_role_groups(), sender=self, weak=False)
