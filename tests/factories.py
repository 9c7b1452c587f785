"""factory_boy factories: a complete, valid record by default; tests override what they test."""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from trials import services
from trials.models import (
    AdverseEvent,
    ApiToken,
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
    User,
)
from trials.roles import ensure_role_groups


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"S{n:02d}")
    name = factory.LazyAttribute(lambda site: f"Hospital {site.code}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if create and extracted:
            ensure_role_groups()
            user.groups.add(Group.objects.get(name=extracted))
            user.is_staff = extracted == "data_manager"
            user.save()
            if extracted == "data_manager":
                # Data managers must have two-factor (trials/security.py): enrolled, as in real life.
                TOTPDevice.objects.create(user=user, name="test app", confirmed=True)

    @factory.post_generation
    def site(user, create, extracted, **kwargs):
        if create and extracted:
            user.sites.add(extracted)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory)
    sex = "M"
    date_of_birth = date(1955, 3, 1)
    hospital_number = factory.Sequence(lambda n: f"HN{n:05d}")
    initials = "AB"
    weight_kg = Decimal("70.0")
    height_cm = Decimal("170.0")
    diagnosis_date = date(2019, 6, 1)
    isotype = "IgG"
    fractured_levels = factory.LazyFunction(lambda: ["T12", "L1"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Numbering is a service concern (locks the site row); factories go through it too.
        return services.register_patient(**kwargs)


class ScreeningFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Screening

    patient = factory.SubFactory(PatientFactory)
    screened_on = date(2020, 1, 6)
    kps = 70
    life_expectancy_over_90_days = "yes"
    i1 = i2 = i3 = i5 = "yes"
    e1 = e2 = e3 = e4 = e5 = "no"
    consent_date = date(2020, 1, 6)


class PvpProcedureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PvpProcedure

    patient = factory.SubFactory(PatientFactory)
    performed_on = date(2020, 1, 10)
    approach = "bipedicular"
    bed_rest_days = 3
    operator = "Dr Wang"


class TreatedLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatedLevel

    procedure = factory.SubFactory(PvpProcedureFactory)
    level = "T12"
    cement_ml = Decimal("2.5")


class InfusionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Infusion

    patient = factory.SubFactory(PatientFactory)
    cycle = 1
    infused_on = date(2020, 1, 13)
    dose_mg = Decimal("4.0")
    diluent_ml = 100
    duration_min = 20
    creatinine_umol_l = Decimal("70.0")


class LabDrawFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabDraw

    patient = factory.SubFactory(PatientFactory)
    timepoint = "baseline"
    drawn_on = date(2020, 1, 7)


class LabResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabResult

    lab_draw = factory.SubFactory(LabDrawFactory)
    analyte = "alp"
    value = Decimal("120")


class PainAssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PainAssessment

    patient = factory.SubFactory(PatientFactory)
    timepoint = "baseline"
    assessed_on = date(2020, 1, 7)
    who_grade = 3


class QolAssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QolAssessment

    patient = factory.SubFactory(PatientFactory)
    timepoint = "baseline"
    assessed_on = date(2020, 1, 7)
    q_appetite = q_mental_state = q_sleep = q_fatigue = q_pain = q_family = 2
    q_colleagues = q_understanding = q_attitude = q_daily_life = q_side_effects = q_facial_expression = 2


class TumourResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TumourResponse

    patient = factory.SubFactory(PatientFactory)
    assessed_on = date(2020, 5, 1)
    category = "PR"


class AdverseEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AdverseEvent

    patient = factory.SubFactory(PatientFactory)
    term = "nausea"
    onset_on = date(2020, 1, 14)
    resolved_on = date(2020, 1, 15)
    ctcae_grade = 1
    related_to = "zoledronic_acid"
    outcome = "resolved"


class EndOfStudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EndOfStudy

    patient = factory.SubFactory(PatientFactory)
    end_date = date(2020, 6, 1)
    end_reason = "completed"


def api_client_for(user) -> APIClient:
    """An API client authenticated with the user's token, as a script would be."""
    client = APIClient()
    _token, key = ApiToken.mint(user, name="test client", scope=ApiToken.Scope.WRITE, second_factor=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
