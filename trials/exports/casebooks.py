"""Every patient's casebook as a PDF, in one zip: what an inspector or the study's archive asks for at
the end of the study, as the export format `casebooks` (page and API), run as a task of the queue.

One PDF per patient of the user's sites, the same as the casebook page's PDF (trials/casebook.py),
all read in the export's one snapshot; with the manifest, README and SHA256SUMS of every export.
A de-identified export leaves out the date of birth, hospital number and initials, as the tables do.
"""

from django.utils import translation

from trials import casebook


def casebook_files(user, *, identifiable: bool, language: str, progress) -> dict[str, bytes]:
    """{file name: PDF} in screening-number order; `progress(share)` is told the share done (0 to 1)."""
    patients = list(casebook.patients_of(user).order_by("screening_number"))
    files = {}
    with translation.override("zh-hans" if language == "zh" else "en"):
        for done, patient in enumerate(patients, start=1):
            context = casebook.patient_casebook(user, patient, identifying=identifiable)
            name = patient.study_id or patient.screening_number
            files[f"casebooks/casebook-{name}.pdf"] = casebook.render_pdf(context)
            progress(done / len(patients))
    return files
