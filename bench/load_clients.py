"""The simulated clinicians of bench/load_test.py: each enters complete cases through the REST API.

A case is what a clinician types for one patient, form by form (docs/design.md §2 and §3):
register → baseline labs, pain, QoL → screening → coordinator's e-signature → PVP with its levels →
three infusions → follow-up labs, pain, QoL → response → adverse event → end of study → read back.

Every request is recorded (latency, status, kind of error). Every write the server acknowledged
(a 2xx with the new record's id) is recorded with what was sent, so that the database can be
checked afterwards. A write whose response never arrived has an unknown outcome: before sending
it again the client looks for the record (as a careful client would), so a retry neither loses
nor duplicates it.
"""

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

import httpx

API = "/api/v1"
QOL_ITEMS = ("q_appetite", "q_mental_state", "q_sleep", "q_fatigue", "q_pain", "q_family", "q_colleagues",
             "q_understanding", "q_attitude", "q_daily_life", "q_side_effects", "q_facial_expression")  # fmt: skip


@dataclass
class Sample:
    step: str
    started: float  # seconds since the start of the run
    ms: float
    status: int | None  # None: no response arrived
    error: str = ""  # empty for an expected answer


@dataclass
class Ack:
    """A write the client knows is saved: acknowledged by a 2xx, or found again after a lost answer."""

    form: str
    id: int
    user: str
    sent: dict
    recovered: bool = False


@dataclass
class Recorder:
    t0: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    unacknowledged: int = 0  # writes sent whose answer never arrived
    recovered: int = 0  # ... of which the record was found saved
    gave_up: int = 0  # steps abandoned at the end of the run while the server still failed
    cases_started: int = 0
    cases_completed: int = 0
    unclear: list[str] = field(default_factory=list)  # answers that were neither the record nor a clear error
    unexpected: list[str] = field(default_factory=list)  # clear refusals (4xx) of a valid case: a bug

    def now(self) -> float:
        return time.monotonic() - self.t0


def _is_clear_error(response: httpx.Response) -> bool:
    """An error answer must say so: a body that is JSON with a message, or a short HTML/text page."""
    body = response.content
    if not body:
        return False
    if "json" in response.headers.get("content-type", ""):
        try:
            return bool(json.loads(body))
        except ValueError:
            return False
    return "text/html" in response.headers.get("content-type", "") or "text/plain" in response.headers.get(
        "content-type", ""
    )


class Clinician:
    """One simulated clinician (and, for the e-signature, the coordinator at the same site)."""

    def __init__(self, number, *, base_url, token, coordinator_token, coordinator_password, site, recorder,
                 deadline, grace, think, start_after=0.0, coordinator="lt_coordinator"):  # fmt: skip
        self.number = number
        self.coordinator_name = coordinator
        self.user = f"lt_clin{number:02d}"
        self.site = site
        self.recorder = recorder
        self.deadline = deadline  # monotonic time after which no new step starts
        self.grace = grace  # how long past the deadline a failing step keeps retrying
        self.think = think
        self.start_after = start_after  # seconds after the run's start that this clinician arrives
        self.coordinator_password = coordinator_password
        timeout = httpx.Timeout(30.0, connect=5.0)
        # gunicorn closes a keep-alive connection after 2 s idle; a client that keeps it longer (httpx:
        # 5 s) may send on a socket the server is closing at that instant and lose the request. A client
        # must give up idle connections before the server does (browsers instead resend on such a socket).
        limits = httpx.Limits(keepalive_expiry=1.0)
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, limits=limits, headers={"Authorization": f"Token {token}"}
        )
        self.coordinator = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, limits=limits, headers={"Authorization": f"Token {coordinator_token}"}
        )
        self.random = random.Random(number)  # noqa: S311 - pauses and back-off, not secrets

    async def run(self) -> None:
        try:
            await asyncio.sleep(self.start_after)
            case = 0
            while time.monotonic() < self.deadline:
                case += 1
                self.recorder.cases_started += 1
                if await self.enter_case(case):
                    self.recorder.cases_completed += 1
        finally:
            await self.http.aclose()
            await self.coordinator.aclose()

    # ---- one request, with the retry policy ----------------------------------------------------

    async def call(self, step, method, url, body=None, *, client=None, expect=201, find=None):
        """Send until an expected answer (returns its JSON) or until past the deadline (returns None).

        `find()` looks for the record of a write whose answer was lost; it returns the record or None.
        """
        client = client or self.http
        uncertain = False
        backoff = 0.2
        while True:
            if uncertain and find is not None:
                found = await self._quietly(find)
                if found:
                    self.recorder.recovered += 1
                    return {**found, "_recovered": True}
            started = self.recorder.now()
            clock = time.monotonic()
            response, error = None, ""
            try:
                response = await client.request(method, url, json=body)
            except httpx.ConnectError:
                error = "connection refused"  # nothing was sent: safe to send again
            except httpx.TimeoutException:
                error = "timeout"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                error = "connection dropped"
            ms = (time.monotonic() - clock) * 1000
            if response is not None:
                error = self._judge(response, expect)
            self.recorder.samples.append(Sample(step, started, ms, response.status_code if response else None, error))
            if not error:
                return response.json()
            if response is not None and 400 <= response.status_code < 500:
                return None  # a refusal: sending the same again would be refused again
            if error in ("timeout", "connection dropped") and method != "GET":
                uncertain = True
                self.recorder.unacknowledged += 1
            elif error == "5xx" and method != "GET":
                uncertain = True  # a failure at COMMIT may come after the data was saved: look before re-sending
            if time.monotonic() > self.deadline + self.grace:
                self.recorder.gave_up += 1
                return None
            await asyncio.sleep(backoff * (0.5 + self.random.random()))
            backoff = min(backoff * 2, 2.0)

    def _judge(self, response: httpx.Response, expect: int) -> str:
        if response.status_code == expect:
            try:
                response.json()
            except ValueError:
                self.recorder.unclear.append(f"{response.status_code} with a body that is not JSON")
                return "corrupt 2xx"
            return ""
        if not _is_clear_error(response):
            self.recorder.unclear.append(f"{response.status_code} {response.headers.get('content-type')}")
        if response.status_code < 500:
            path = response.request.url.path
            self.recorder.unexpected.append(f"{path} {response.status_code}: {response.text[:300]}")
        return "5xx" if response.status_code >= 500 else str(response.status_code)

    async def _quietly(self, find):
        try:
            return await find()
        except (httpx.HTTPError, ValueError, KeyError):
            return None  # the server is still away: send again, then look again

    async def _list(self, url, **params):
        response = await self.http.get(url, params=params)
        response.raise_for_status()
        return response.json()["results"]

    def _finder(self, url, match, **params):
        async def find():
            for row in await self._list(url, **params):
                if all(str(row.get(key)) == str(value) for key, value in match.items()):
                    return row
            return None

        return find

    def _ack(self, form, answer, sent, check=None):
        """Record a saved write; check that the answer is the record that was sent (not a corrupt page)."""
        if "id" not in answer:
            self.recorder.unclear.append(f"{form}: 2xx without an id")
            return None
        if check and not answer.get("_recovered") and not check(answer):
            self.recorder.unclear.append(f"{form} {answer['id']}: the answer does not match what was sent")
        self.recorder.acks.append(Ack(form, answer["id"], self.user, sent, recovered=bool(answer.get("_recovered"))))
        return answer

    async def pause(self):
        if self.think:
            await asyncio.sleep(self.think * (0.5 + self.random.random()))

    def in_time(self) -> bool:
        return time.monotonic() < self.deadline

    # ---- the case ------------------------------------------------------------------------------

    async def write(self, form, url, body, *, find, check=None):
        """POST one form; returns its saved record, or None when the run ended before it was saved."""
        if not self.in_time():
            return None
        answer = await self.call(form, "POST", url, body, find=find)
        if answer is None:
            return None
        await self.pause()
        return self._ack(form, answer, body, check)

    async def enter_case(self, case: int) -> bool:
        hospital_number = f"LT{self.number:02d}-{case:05d}"
        patient = await self.write(
            "patient", f"{API}/patients/",
            {"site": self.site, "sex": "MF"[case % 2], "date_of_birth": f"19{50 + self.number % 30}-03-01",
             "hospital_number": hospital_number, "initials": "LT", "weight_kg": "65.0", "height_cm": "168.0",
             "diagnosis_date": "2019-06-01", "isotype": "IgG", "fractured_levels": ["T12", "L1"]},
            find=self._find_patient(hospital_number),
        )  # fmt: skip
        if patient is None:
            return False
        sn = patient["screening_number"]
        if not await self.visit(sn, "baseline", "2020-01-07", ("230", "2.90", "80", "30"), 3, 2):
            return False
        screening = await self.write(
            "screening", f"{API}/screenings/",
            {"patient": sn, "screened_on": "2020-01-06", "kps": 70, "life_expectancy_over_90_days": "yes",
             "consent_date": "2020-01-06", "criteria": {"I1": "yes", "I2": "yes", "I3": "yes", "I5": "yes",
                                                         "E1": "no", "E2": "no", "E3": "no", "E4": "no", "E5": "no"}},
            find=self._finder(f"{API}/screenings/", {}, patient=sn),
        )  # fmt: skip
        if screening is None or not await self.sign(screening["id"], screening["version"]):
            return False
        levels = [{"level": "T12", "cement_ml": "2.5", "leakage": "none"},
                  {"level": "L1", "cement_ml": "4.5", "leakage": "paravertebral"}]  # fmt: skip
        pvp = await self.write(
            "pvp", f"{API}/pvp-procedures/",
            {"patient": sn, "performed_on": "2020-01-10", "approach": "bipedicular", "bed_rest_days": 3,
             "operator": "Dr Load", "levels": levels},
            find=self._finder(f"{API}/pvp-procedures/", {}, patient=sn),
            check=lambda answer: sorted(level["level"] for level in answer["levels"]) == ["L1", "T12"],
        )  # fmt: skip
        if pvp is None:
            return False
        for cycle, day in ((1, "2020-01-13"), (2, "2020-02-10"), (3, "2020-03-09")):
            infusion = await self.write(
                "infusion", f"{API}/infusions/",
                {"patient": sn, "cycle": cycle, "infused_on": day, "dose_mg": "4.0", "diluent_ml": 100,
                 "duration_min": 20, "creatinine_umol_l": "80.0"},
                find=self._finder(f"{API}/infusions/", {"cycle": cycle}, patient=sn),
            )  # fmt: skip
            if infusion is None:
                return False
        if not await self.visit(sn, "follow_up", "2020-04-20", ("90", "2.30", "78", "12"), 1, 4):
            return False
        response = await self.write(
            "response", f"{API}/responses/",
            {"patient": sn, "assessed_on": "2020-04-20", "category": "PR", "immunofixation_negative": "no"},
            find=self._finder(f"{API}/responses/", {}, patient=sn),
        )  # fmt: skip
        adverse_event = response and await self.write(
            "adverse_event", f"{API}/adverse-events/",
            {"patient": sn, "term": "fever", "onset_on": "2020-01-14", "resolved_on": "2020-01-16",
             "ctcae_grade": 1, "related_to": "zoledronic_acid", "action": "symptomatic_treatment",
             "outcome": "resolved", "max_temperature_c": "38.5"},
            find=self._finder(f"{API}/adverse-events/", {"term": "fever", "onset_on": "2020-01-14"}, patient=sn),
        )  # fmt: skip
        end = adverse_event and await self.write(
            "end_of_study", f"{API}/end-of-study/",
            {"patient": sn, "end_date": "2020-04-27", "end_reason": "completed"},
            find=self._finder(f"{API}/end-of-study/", {}, patient=sn),
        )  # fmt: skip
        if not end:
            return False
        # Read the case back, as the patient page would: both lab draws, each with its results.
        draws = await self.call("read_back", "GET", f"{API}/lab-draws/?patient={sn}", expect=200)
        if draws is not None and sorted(len(row["results"]) for row in draws["results"]) != [4, 4]:
            self.recorder.unclear.append(f"{sn}: read back {draws['results']}")
        return draws is not None

    async def visit(self, sn, timepoint, day, labs, grade, qol_score) -> bool:
        """Labs, pain and QoL of one timepoint."""
        results = dict(zip(("alp", "calcium", "creatinine", "m_protein"), labs, strict=True))
        draw = await self.write(
            f"lab_draw_{timepoint}", f"{API}/lab-draws/",
            {"patient": sn, "timepoint": timepoint, "drawn_on": day, "fasting": True, "results": results},
            find=self._finder(f"{API}/lab-draws/", {}, patient=sn, timepoint=timepoint),
            check=lambda answer: sorted(answer["results"]) == sorted(results),
        )  # fmt: skip
        pain = draw and await self.write(
            f"pain_{timepoint}", f"{API}/pain-assessments/",
            {"patient": sn, "timepoint": timepoint, "assessed_on": day, "who_grade": grade},
            find=self._finder(f"{API}/pain-assessments/", {}, patient=sn, timepoint=timepoint),
        )  # fmt: skip
        qol = pain and await self.write(
            f"qol_{timepoint}", f"{API}/qol-assessments/",
            {"patient": sn, "timepoint": timepoint, "assessed_on": day} | dict.fromkeys(QOL_ITEMS, qol_score),
            find=self._finder(f"{API}/qol-assessments/", {}, patient=sn, timepoint=timepoint),
        )  # fmt: skip
        return bool(qol)

    async def sign(self, screening_id, version) -> bool:
        """The coordinator's e-signature (password re-entered) of the version reviewed, which enrols the patient."""
        if not self.in_time():
            return False

        async def find():
            response = await self.coordinator.get(f"{API}/screenings/{screening_id}/")
            response.raise_for_status()
            return response.json() if response.json()["signed_at"] else None

        answer = await self.call(
            "sign", "POST", f"{API}/screenings/{screening_id}/sign/",
            {"password": self.coordinator_password, "version": version},
            client=self.coordinator, expect=200, find=find,
        )  # fmt: skip
        if answer is None:
            return False
        signed = Ack("sign", screening_id, self.coordinator_name, {}, recovered="_recovered" in answer)
        self.recorder.acks.append(signed)
        await self.pause()
        return True

    def _find_patient(self, hospital_number):
        """Registrations have no natural key in the API filters: look through the site's newest patients."""

        async def find():
            first = await self.http.get(f"{API}/patients/", params={"site": self.site, "limit": 1})
            first.raise_for_status()
            count = first.json()["count"]
            rows = await self._list(f"{API}/patients/", site=self.site, limit=100, offset=max(0, count - 100))
            return next((row for row in rows if row["hospital_number"] == hospital_number), None)

        return find
