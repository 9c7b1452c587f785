"""Eligibility review: electronic signature, enrolment or screen failure, withdrawal of a signature.

The signature follows 21 CFR 11.50 / 11.200: the signer re-enters the password; the manifest keeps
the printed name, the UTC time and the meaning; every attempt, refused ones included, is logged in
SignatureAttempt; the signature and its withdrawal go through the audit trail with their reason.
"""

import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trials.audit import change_context
from trials.models import Screening, SignatureAttempt
from trials.roles import COORDINATOR, has_role
from trials.services import enrol_patient

SIGNATURE_MEANING = "Eligibility reviewed against criteria I1-I5 and E1-E5 and confirmed"


@dataclass(frozen=True)
class SignatureResult:
    signed: bool
    message: str
    enrolled: bool = False
    version_changed: bool = False  # refused because the screening changed after it was reviewed


# What a signature covers: the answers the coordinator reviewed, hashed into the signature manifest
# so that anyone can later check that the signed record is the one that was reviewed.
SIGNED_FIELDS = ("screened_on", "kps", "life_expectancy_over_90_days", "i1", "i2", "i3", "i5", "e1", "e2", "e3",
                 "e4", "e5", "consent_date")  # fmt: skip


def signed_content(screening: Screening) -> str:
    """The signed content as canonical JSON: the patient, the version and every answer reviewed."""
    content = {"patient": screening.patient.screening_number, "version": screening.version,
               **{name: getattr(screening, name) for name in SIGNED_FIELDS}}  # fmt: skip
    return json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))


def content_hash(screening: Screening) -> str:
    return hashlib.sha256(signed_content(screening).encode()).hexdigest()


def may_sign(user) -> bool:
    return has_role(user, COORDINATOR)


def sign_screening(
    screening: Screening, *, signer, password: str, remote_addr=None, reviewed_version: int | None = None,
    request=None,
) -> SignatureResult:  # fmt: skip
    """Check and apply a coordinator's signature; returns instead of raising so that a refused
    attempt is still logged when the request's transaction commits.

    `reviewed_version` is the version the coordinator had on screen: if the answers changed since,
    the signature is refused (a signature covers what was reviewed, nothing else). The page and the
    API always send it; None (the current version) is for the application's own callers. The manifest
    keeps the version signed and the SHA-256 of the signed content (`signed_content`).
    """
    # Checked once: password hashing is slow on purpose (about a second of CPU under load), and the
    # second look under the lock only needs the answer.
    password_ok = _password_ok(signer, password, request)
    refusal = _refusal(screening, signer, password_ok, reviewed_version)
    if password_ok is None:
        refusal = str(LOCKED_OUT)
    if refusal:
        SignatureAttempt.objects.create(
            screening=screening, user=signer, succeeded=False, refusal=refusal, remote_addr=remote_addr
        )
        return SignatureResult(False, refusal, version_changed=refusal == str(VERSION_CHANGED))
    with transaction.atomic():
        screening = Screening.objects.select_for_update().select_related("patient").get(pk=screening.pk)
        refusal = _refusal(screening, signer, password_ok, reviewed_version)  # again, under the lock
        if refusal:
            return SignatureResult(False, refusal, version_changed=refusal == str(VERSION_CHANGED))
        with change_context(user=signer, reason=f"e-signature: {SIGNATURE_MEANING}"):
            screening.signed_version = screening.version
            screening.signed_content_hash = content_hash(screening)
            screening.signed_by = signer
            screening.signed_at = timezone.now()
            screening.signed_name = signer.get_full_name() or signer.get_username()
            screening.signature_meaning = SIGNATURE_MEANING
            screening.version += 1
            screening.save()
            eligible = screening.eligible is True
            if eligible:
                # Cases are often entered after the fact: the screening visit dates the enrolment
                # (and so the age at enrolment), not the moment the signature is typed.
                enrol_patient(screening.patient, enrolled_on=screening.screened_on)
        SignatureAttempt.objects.create(screening=screening, user=signer, succeeded=True, remote_addr=remote_addr)
    if eligible:
        screening.patient.refresh_from_db()
        return SignatureResult(
            True, _("Signed. %(patient)s is enrolled.") % {"patient": screening.patient.study_id}, enrolled=True
        )
    return SignatureResult(True, _("Signed. The candidate is recorded as a screen failure."))


LOCKED_OUT = gettext_lazy(
    "Too many wrong passwords: your account is locked for a while (as after failed logins). Nothing was signed."
)


def _password_ok(signer, password: str, request) -> bool | None:
    """The signer's password, counted by the login lockout (django-axes) like a login: a wrong one is a
    failed login, and a locked-out account signs nothing (None). Without a request (the application's
    own callers) the password alone is checked."""
    if request is None:
        return signer.check_password(password or "")
    from axes.handlers.proxy import AxesProxyHandler
    from django.contrib.auth.signals import user_login_failed

    http_request = getattr(request, "_request", request)  # DRF wraps Django's request
    credentials = {"username": signer.get_username()}
    if AxesProxyHandler.is_locked(http_request, credentials):
        return None
    if signer.check_password(password or ""):
        return True
    user_login_failed.send(__name__, request=http_request,
                           credentials={**credentials, "reason": "wrong password at an e-signature"})  # fmt: skip
    locked = getattr(http_request, "axes_locked_out", False)
    http_request.axes_locked_out = False  # answered here, with the refusal, not by axes' lockout page
    return None if locked else False


VERSION_CHANGED = gettext_lazy("The screening changed after you opened it: review the new answers and sign again.")


def _refusal(screening: Screening, signer, password_ok: bool, reviewed_version: int | None) -> str:
    if not may_sign(signer):
        return _("Only a coordinator may sign an eligibility screening.")
    if not password_ok:
        return _("The password is not correct: the screening was not signed.")
    if screening.is_signed:
        return _("This screening is already signed.")
    if reviewed_version is not None and reviewed_version != screening.version:
        return str(VERSION_CHANGED)
    if screening.eligible is None:
        return _("The screening is incomplete (an answer is 'unknown' or missing): it cannot be signed yet.")
    if screening.eligible is False and screening.patient.is_enrolled:
        return _("This patient is already enrolled: an ineligible screening cannot be signed for them. "
                 "Correct the answers or record the end of study.")  # fmt: skip
    return ""


def withdraw_signature(screening: Screening, *, user, reason: str) -> None:
    """Remove a signature so the answers can be corrected; the old signature stays in the audit trail.

    An enrolled patient keeps the study ID: study IDs are never reused.
    """
    if not may_sign(user):
        raise PermissionError(_("Only a coordinator may withdraw a signature."))
    if not reason.strip():
        raise ValueError(_("A reason is required to withdraw a signature."))
    with transaction.atomic(), change_context(user=user, reason=f"signature withdrawn: {reason.strip()}"):
        screening = Screening.objects.select_for_update().get(pk=screening.pk)
        screening.signed_by = None
        screening.signed_at = None
        screening.signed_name = ""
        screening.signature_meaning = ""
        screening.signed_version = None
        screening.signed_content_hash = ""
        screening.version += 1
        screening.save()
