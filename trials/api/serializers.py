"""API serializers: the data dictionary's names (docs/design.md §2), and the models' own rules
(full_clean) for validation.

No rule is repeated here: a serializer builds the model instance and asks it to validate itself,
exactly as the forms do, so the API refuses what the pages refuse, with the same messages.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trials import access, protocol, unreadable
from trials.models import (
    AdverseEvent,
    DataQuery,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    Site,
    TreatedLevel,
    TumourResponse,
)
from trials.models.base import FREE_TEXT_MAX_CHARS, REASON_MAX_CHARS
from trials.roles import IDENTIFYING_FIELDS, may_see_identifying


def full_clean(instance, exclude=()) -> None:
    try:
        instance.full_clean(exclude=list(exclude))
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from error


class PatientRefField(serializers.SlugRelatedField):
    """A form refers to its patient by screening number, among the requesting user's patients."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="screening_number", **kwargs)

    def get_queryset(self):
        return access.patients_for_user(self.context["request"].user)


def text_limit(limit: int) -> list:
    """Django's length check instead of DRF's: its message gives the length as well as the limit
    ("at most 200 characters (it has 250)"), the same words the pages show."""
    return [MaxLengthValidator(limit)]


class StudyModelSerializer(serializers.ModelSerializer):
    """Text fields over their model's length limit are refused with Django's message (see `text_limit`);
    a date or number that cannot be read is refused naming the value (see trials/unreadable.py)."""

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if kwargs.pop("max_length", None) is not None:
            kwargs["validators"] = [*kwargs.get("validators", []), *text_limit(model_field.max_length)]
        return unreadable.NAMING_THE_VALUE.get(field_class, field_class), kwargs


class ClinicalSerializer(StudyModelSerializer):
    """`version` guards against lost updates (409); `reason` is required to change saved data."""

    version = unreadable.IntegerField(required=False)
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=False, validators=text_limit(REASON_MAX_CHARS)
    )

    # Which patient (or site) a record belongs to is fixed once it exists: re-parenting a form would
    # carry its data into another patient's record, and another site's. A data manager moves a patient
    # between sites in the administration, with a reason.
    FIXED_AFTER_CREATION = ("patient", "site")

    def validate(self, attrs):
        for name in self.FIXED_AFTER_CREATION:
            if self.instance is not None and name in attrs and attrs[name] != getattr(self.instance, name):
                raise serializers.ValidationError({name: [
                    f"The {name} of a saved record cannot change (it is {getattr(self.instance, name)}): "
                    + ("a data manager moves a patient between sites in the administration, with a reason."
                       if name == "site" else "enter the form again for the right patient.")
                ]})  # fmt: skip
        if self.instance is not None and not attrs.get("reason"):
            raise serializers.ValidationError({"reason": ["A reason for change is required to edit saved data."]})
        if self.instance is not None and attrs.get("version") is None:
            raise serializers.ValidationError({"version": ["Send the version you edited (optimistic locking)."]})
        model_fields = {f.name for f in self.Meta.model._meta.concrete_fields}
        candidate = self.instance or self.Meta.model()
        original = {name: getattr(candidate, name) for name in model_fields if hasattr(candidate, name)}
        for name, value in attrs.items():
            if name in model_fields:
                setattr(candidate, name, value)
        try:
            full_clean(candidate, exclude=self.clean_exclude())
        finally:
            if self.instance is not None:
                for name, value in original.items():  # the save applies them again, after the version check
                    setattr(candidate, name, value)
        return attrs

    def clean_exclude(self):
        return ["version"]


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name"]


class PatientSerializer(ClinicalSerializer):
    site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all())
    age_at_enrolment = serializers.IntegerField(read_only=True)
    fractured_count = serializers.IntegerField(read_only=True)
    fracture_region = serializers.CharField(read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "screening_number", "study_id", "site", "sex", "date_of_birth", "hospital_number",
                  "initials", "weight_kg", "height_cm", "diagnosis_date", "isotype", "light_chain", "iss_stage",
                  "fractured_levels", "enrolled_on", "age_at_enrolment", "fractured_count", "fracture_region",
                  "version", "reason"]  # fmt: skip
        read_only_fields = ["screening_number", "study_id", "enrolled_on"]

    def validate_site(self, site):
        if not access.sites_for_user(self.context["request"].user).filter(pk=site.pk).exists():
            raise serializers.ValidationError(f"{site.code} is not one of your sites.")
        return site

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not may_see_identifying(self.context["request"].user):
            for name in IDENTIFYING_FIELDS:  # de-identified: not shown at all (not even as null)
                data.pop(name, None)
        return data

    def clean_exclude(self):
        return ["version", "screening_number", "site"]


class ScreeningSerializer(ClinicalSerializer):
    patient = PatientRefField()
    criteria = serializers.DictField(child=serializers.ChoiceField(choices=protocol.Answer.choices), required=False)
    eligible = serializers.BooleanField(read_only=True, allow_null=True)
    failed_criteria = serializers.ListField(read_only=True)

    class Meta:
        model = Screening
        fields = ["id", "patient", "screened_on", "kps", "life_expectancy_over_90_days", "criteria", "consent_date",
                  "eligible", "failed_criteria", "signed_by", "signed_at", "signed_name", "signature_meaning",
                  "version", "reason"]  # fmt: skip
        read_only_fields = ["signed_by", "signed_at", "signed_name", "signature_meaning"]

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        criteria = values.pop("criteria", {})
        unknown = set(criteria) - set(protocol.TYPED_CRITERIA)
        if unknown:
            raise serializers.ValidationError(
                {"criteria": [f"{', '.join(sorted(unknown))}: not a typed criterion (I4 is derived from KPS and "
                              f"life expectancy; the others are {', '.join(protocol.TYPED_CRITERIA)})."]}
            )  # fmt: skip
        values.update({code.lower(): answer for code, answer in criteria.items()})
        return values

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["criteria"] = instance.criteria
        return data

    def validate(self, attrs):
        if self.instance is not None and self.instance.is_signed:
            raise serializers.ValidationError(
                {"criteria": ["This screening is signed and read-only: a coordinator must withdraw the signature."]}
            )
        return super().validate(attrs)


class TreatedLevelSerializer(StudyModelSerializer):
    class Meta:
        model = TreatedLevel
        fields = ["level", "cement_ml", "leakage"]


class PvpProcedureSerializer(ClinicalSerializer):
    patient = PatientRefField()
    levels = TreatedLevelSerializer(many=True)

    class Meta:
        model = PvpProcedure
        fields = ["id", "patient", "performed_on", "approach", "bed_rest_days", "operator", "levels", "version",
                  "reason"]  # fmt: skip

    def validate_levels(self, levels):
        if not levels:
            raise serializers.ValidationError("Enter at least one treated level.")
        names = [level["level"] for level in levels]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise serializers.ValidationError(f"Level {', '.join(twice)} is listed twice.")
        errors = []
        for level in levels:
            try:
                TreatedLevel(**level).full_clean(exclude=["procedure"])
                errors.append({})
            except DjangoValidationError as error:
                errors.append(error.message_dict)
        if any(errors):
            raise serializers.ValidationError(errors)
        return levels


class InfusionSerializer(ClinicalSerializer):
    patient = PatientRefField()
    crcl_ml_min = serializers.DecimalField(max_digits=6, decimal_places=1, read_only=True)
    label_dose_mg = serializers.DecimalField(max_digits=3, decimal_places=1, read_only=True, allow_null=True)

    class Meta:
        model = Infusion
        fields = ["id", "patient", "cycle", "infused_on", "status", "held_reason", "dose_mg", "diluent_ml",
                  "duration_min", "creatinine_umol_l", "crcl_ml_min", "label_dose_mg", "version", "reason"]  # fmt: skip


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "description": "in the analyte's canonical unit"},
            {
                "type": "object",
                "properties": {"value": {"type": "number"}, "unit": {"type": "string", "example": "mg/dL"}},
                "required": ["value"],
                "description": "in one of the units the analyte accepts (docs/design.md §2)",
            },
        ]
    }
)
class LabValueField(serializers.Field):
    """A lab value as sent: a number in the analyte's canonical unit, or {"value": 10.2, "unit": "mg/dL"}.
    Read into (value, unit); the unit is checked against the analyte's by protocol.read_lab_value."""

    default_error_messages = {
        "shape": 'Send a number, or {{"value": <number>, "unit": "<unit>"}}.',  # braces doubled: DRF formats it
        "unit": "The unit must be text, e.g. “mg/dL”.",
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.number = unreadable.DecimalField(max_digits=12, decimal_places=4)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            return self.number.run_validation(data), ""
        if "value" not in data or set(data) - {"value", "unit"}:
            self.fail("shape")
        unit = data.get("unit") or ""
        if not isinstance(unit, str):
            self.fail("unit")
        return self.number.run_validation(data["value"]), unit.strip()


class LabDrawSerializer(ClinicalSerializer):
    """`results` maps analyte to value: a number in its canonical unit, or {"value", "unit"} in any unit
    the analyte accepts (read by protocol.read_lab_value, as on the lab page); `critical_confirmed`
    lists the analytes whose critical value the sender confirms (as the form's confirmation box)."""

    patient = PatientRefField()
    results = serializers.DictField(child=LabValueField(), write_only=True)
    critical_confirmed = serializers.ListField(child=serializers.CharField(), required=False, write_only=True)

    class Meta:
        model = LabDraw
        fields = ["id", "patient", "timepoint", "drawn_on", "fasting", "results", "critical_confirmed", "version",
                  "reason"]  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["results"] = {result.analyte: float(result.value) for result in instance.results.all()}
        return data

    def validate(self, attrs):
        confirmed = set(attrs.get("critical_confirmed", []))
        errors, readings = {}, {}
        for analyte, (value, unit) in attrs.get("results", {}).items():
            if analyte not in protocol.ANALYTES_BY_CODE:
                errors[analyte] = [
                    f"{analyte} is not an analyte of the study ({', '.join(protocol.ANALYTES_BY_CODE)})."
                ]
                continue
            try:
                reading = protocol.read_lab_value(analyte, value, unit)
            except protocol.UnitNotAccepted as error:
                errors[analyte] = [str(error)]
                continue
            try:
                LabResult.from_reading(reading, critical_confirmed=analyte in confirmed).clean()
            except DjangoValidationError as error:
                # The rule speaks of the canonical value; the sender also reads what they sent.
                as_typed = reading.entered_unit != protocol.ANALYTES_BY_CODE[analyte].unit
                entered = f" ({protocol.plain_number(value)} {unit} entered)" if as_typed else ""
                errors[analyte] = [
                    f"{message}{entered}" for messages in error.message_dict.values() for message in messages
                ]
                continue
            readings[analyte] = reading
        if errors:
            raise serializers.ValidationError({"results": errors})
        if "results" in attrs:
            attrs["results"] = readings
        return super().validate(attrs)


class PainAssessmentSerializer(ClinicalSerializer):
    patient = PatientRefField()

    class Meta:
        model = PainAssessment
        fields = ["id", "patient", "timepoint", "assessed_on", "who_grade", "vas", "version", "reason"]


class QolAssessmentSerializer(ClinicalSerializer):
    patient = PatientRefField()
    total = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = QolAssessment
        fields = ["id", "patient", "timepoint", "assessed_on", *protocol.QOL_ITEM_CODES, "total", "version", "reason"]


class TumourResponseSerializer(ClinicalSerializer):
    patient = PatientRefField()

    class Meta:
        model = TumourResponse
        fields = ["id", "patient", "assessed_on", "category", "immunofixation_negative", "marrow_plasma_cells_pct",
                  "version", "reason"]  # fmt: skip


class AdverseEventSerializer(ClinicalSerializer):
    patient = PatientRefField()

    class Meta:
        model = AdverseEvent
        fields = ["id", "patient", "term", "other_term", "onset_on", "resolved_on", "ctcae_grade", "serious",
                  "related_to", "action", "outcome", "max_temperature_c", "description", "version",
                  "reason"]  # fmt: skip


class EndOfStudySerializer(ClinicalSerializer):
    patient = PatientRefField()

    class Meta:
        model = EndOfStudy
        fields = ["id", "patient", "end_date", "end_reason", "notes", "version", "reason"]


class SignatureSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True)
    version = unreadable.IntegerField(help_text="The version of the screening you reviewed (409 if it changed since).")


class DataQuerySerializer(StudyModelSerializer):
    patient = serializers.SlugRelatedField(slug_field="screening_number", read_only=True)
    record = serializers.CharField(write_only=True, help_text="`<form>:<id>`, e.g. `labresult:12`")

    class Meta:
        model = DataQuery
        fields = ["id", "patient", "record", "record_type", "record_id", "field", "question", "status", "raised_by",
                  "raised_at", "answer", "answered_by", "answered_at", "closed_by", "closed_at"]  # fmt: skip
        read_only_fields = ["record_type", "record_id", "status", "raised_by", "raised_at", "answer", "answered_by",
                            "answered_at", "closed_by", "closed_at"]  # fmt: skip


class RecordSerializer(serializers.Serializer):
    record = serializers.CharField(help_text="`<form>:<id>`, e.g. `labresult:12`")
    version = unreadable.IntegerField(help_text="The version of the record you checked (409 if it changed since).")


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(
        required=False,
        allow_blank=True,
        validators=text_limit(FREE_TEXT_MAX_CHARS),
        help_text="the answer, or the reason",
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_blank=False,
        validators=text_limit(REASON_MAX_CHARS),
        help_text="why: required to delete a form, unlock a record or unfreeze",
    )


class FreezeSerializer(serializers.Serializer):
    site = serializers.CharField(required=False, allow_blank=True, help_text="a site code; empty: the whole study")
    reason = serializers.CharField(
        required=False, allow_blank=True, validators=text_limit(REASON_MAX_CHARS), help_text="why (to unfreeze)"
    )

    def validate(self, attrs):
        if self.context.get("reason_required") and not attrs.get("reason", "").strip():
            raise serializers.ValidationError({"reason": ["A reason is required to unfreeze."]})
        return attrs
