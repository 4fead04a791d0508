"""docker-compose.yml against the code: commands, settings, ports, health checks, and a real run.

No Docker engine runs here. The static tests check that the compose file only uses commands
that exist and environment variables the settings classes read, and that ports, health
checks and dependencies line up. The last test runs the same commands with the same
environment on this machine (hosts mapped to 127.0.0.1, a fresh database on the machine's
PostgreSQL) and checks that they start and answer.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from kaizen_sdk.config import API_KEY_ENV, BASE_URL_ENV
from tests.compose.compose_file import ROOT, ComposeFile, Image, Service
from tests.compose.settings_env import env_read_by, settings_class_names
from tests.support.ct_server import TEST_API_KEY
from tests.support.loopback_http import loopback_client, loopback_get
from tests.support.ports import free_port
from tests.support.postgres import fresh_postgres_database

COMPOSE_ENV = {"KAIZEN_API_KEY": TEST_API_KEY}
# Variables of third-party images (documented by those images), not of Kaizen code.
IMAGE_ENV = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "ollama-pull": {"OLLAMA_HOST"},
}
START_DEADLINE_S = 60.0
JOB_DEADLINE_S = 120.0


def compose() -> ComposeFile:
    return ComposeFile(COMPOSE_ENV)


def kaizen_services() -> list[Service]:
    return [s for s in compose().services() if s.builds_kaizen_image]


def packages_of(service: Service) -> list[str]:
    """Packages whose settings the service's process reads."""
    if service.command[0] == "kaizen-server":
        return ["kaizen_server"]
    return ["example_app", "kaizen_fastapi"]


def _console_script(name: str) -> object:
    matches = entry_points(group="console_scripts", name=name)
    assert matches, f"no console script {name!r} is installed (pyproject [project.scripts])"
    return next(iter(matches)).load()


@pytest.mark.parametrize("service", kaizen_services(), ids=lambda s: s.name)
def test_command_exists(service: Service) -> None:
    """Every command is an installed entry point, an importable module or an ASGI app."""
    command = service.command
    program = command[0]
    if program == "kaizen-server":
        assert callable(_console_script("kaizen-server"))
        subcommand = command[1]
        result = subprocess.run(
            [sys.executable, "-m", "kaizen_server", subcommand, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode == 0, f"kaizen-server {subcommand} --help:\n{result.stderr}"
    elif program == "uvicorn":
        assert callable(_console_script("uvicorn"))
        module_name, _, attribute = command[1].partition(":")
        app = getattr(importlib.import_module(module_name), attribute)
        assert callable(app), f"{command[1]} is not an ASGI app"
    elif program == "python":
        assert command[1] == "-m"
        assert importlib.util.find_spec(command[2]) is not None, f"no module {command[2]}"
    else:
        pytest.fail(f"service {service.name}: unexpected program {program!r}")


@pytest.mark.parametrize("service", kaizen_services(), ids=lambda s: s.name)
def test_environment_is_read_by_settings(service: Service) -> None:
    """Every variable a service sets is a field of a settings class its process reads."""
    packages = packages_of(service)
    known = env_read_by(packages)
    if packages != ["kaizen_server"]:
        known |= {API_KEY_ENV, BASE_URL_ENV}  # read by the SDK client itself
    assert known, f"no settings classes found in {packages}"
    unknown = set(service.environment) - known
    assert not unknown, (
        f"{service.name} sets {sorted(unknown)}, which none of "
        f"{settings_class_names(packages)} reads"
    )


def test_third_party_services_use_documented_variables() -> None:
    for service in compose().services():
        if not service.builds_kaizen_image:
            assert set(service.environment) <= IMAGE_ENV.get(service.name, set()), service.name


def test_ports_and_healthchecks_line_up() -> None:
    services = {s.name: s for s in compose().services()}
    listening = {name: s.listen_port for name, s in services.items() if s.listen_port}
    listening["postgres"] = 5432
    listening["ollama"] = 11434
    for service in services.values():
        for _host, container in service.published_ports:
            assert container == service.listen_port, f"{service.name} publishes {container}"
        check = service.healthcheck
        if check and service.listen_port:
            ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", " ".join(check))}
            assert ports == {service.listen_port}, f"{service.name} health check {check}"
        for value in service.environment.values():
            for host, port in re.findall(r"[@/]([a-z][\w-]*):(\d+)", value):
                assert host in services, f"{service.name} points at unknown host {host}"
                assert listening.get(host) == int(port), f"{service.name}: {host}:{port}"
        for dependency, options in service.depends_on.items():
            assert dependency in services, f"{service.name} depends on unknown {dependency}"
            condition = options.get("condition")
            if condition == "service_healthy":
                assert services[dependency].healthcheck, f"{dependency} has no health check"
            if condition == "service_completed_successfully":
                assert services[dependency].one_shot, f"{dependency} is not a one-shot service"


def test_dockerfile_ships_what_the_commands_import() -> None:
    image = Image.read()
    for package in ("kaizen_sdk", "kaizen_fastapi", "kaizen_server", "example_app"):
        assert package in image.copied, f"the Dockerfile does not COPY {package}"
    assert image.env.get("PYTHONPATH") == "/app"


# --- the same commands, run on this machine -------------------------------------------------


class LocalRun:
    """Runs compose services as local processes: hosts -> 127.0.0.1, ports -> free ports."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.ports: dict[int, int] = {}
        self.processes: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self.image = Image.read()

    def port(self, container_port: int) -> int:
        return self.ports.setdefault(container_port, free_port())

    def localize(self, text: str) -> str:
        """Rewrite ``//<service or 127.0.0.1>:<port>`` to ``//127.0.0.1:<local port>``."""
        return re.sub(
            r"//(?:127\.0\.0\.1|ct-server|example-app):(\d+)",
            lambda m: f"//127.0.0.1:{self.port(int(m[1]))}",
            text,
        )

    def argv(self, args: list[str]) -> list[str]:
        local = [args[0]]
        for previous, value in itertools.pairwise(args):
            if previous == "--port":
                value = str(self.port(int(value)))
            local.append("127.0.0.1" if value == "0.0.0.0" else self.localize(value))
        program = local[0]
        executable = (
            sys.executable if program == "python" else str(Path(sys.executable).parent / program)
        )
        return [executable, *local[1:]]

    def env(self, service: Service) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: v.replace("/app", str(ROOT)) for k, v in self.image.env.items()})
        for key, value in service.environment.items():
            if key == "KAIZEN_DATABASE_URL":
                assert "@postgres:5432/" in value
                value = self.database_url
            env[key] = self.localize(value)
        return env

    def run(self, service: Service) -> None:
        log = self.workdir / f"{service.name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.argv(service.command),
                cwd=self.workdir,
                env=self.env(service),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if service.one_shot:
            code = process.wait(timeout=START_DEADLINE_S)
            assert code == 0, f"{service.name} failed ({code}):\n{log.read_text()[-3000:]}"
            return
        self.processes.append((service, process))
        if service.healthcheck is not None:
            self.wait_healthy(service, process, log)

    def assert_running(self, name: str) -> None:
        for service, process in self.processes:
            if service.name == name:
                log = (self.workdir / f"{name}.log").read_text()[-3000:]
                assert process.poll() is None, f"{name} exited:\n{log}"
                return
        pytest.fail(f"{name} was not started")

    def wait_healthy(self, service: Service, process: subprocess.Popen[bytes], log: Path) -> None:
        check = service.healthcheck
        assert check is not None
        assert check[0] == "CMD", f"{service.name} needs a CMD health check"
        argv = self.argv(check[1:])
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{service.name} exited:\n{log.read_text()[-3000:]}"
            if subprocess.run(argv, capture_output=True, timeout=10).returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail(f"{service.name} not healthy in {START_DEADLINE_S}s:\n{log.read_text()}")

    def stop(self) -> None:
        for _service, process in reversed(self.processes):
            process.terminate()
        for _service, process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def local_run(tmp_path: Path) -> Iterator[LocalRun]:
    with fresh_postgres_database() as url:
        run = LocalRun(url, tmp_path)
        try:
            yield run
        finally:
            run.stop()


@pytest.mark.postgres
def test_compose_commands_start_and_answer(local_run: LocalRun) -> None:
    """postgres (the machine's) -> migrate -> ct-server, worker -> seed -> example-app; then
    the app answers, and feedback up to the threshold gets a job done by the worker."""
    file = compose()
    names = {s.name for s in file.services() if s.builds_kaizen_image and not s.profiles}
    for service in file.start_order(names):
        local_run.run(service)

    ct_url = f"http://127.0.0.1:{local_run.port(8000)}"
    app_url = f"http://127.0.0.1:{local_run.port(8001)}"
    assert loopback_get(f"{ct_url}/ready", timeout=5).json() == {"status": "ready"}
    tasks = loopback_get(
        f"{ct_url}/api/v1/tasks", headers={"X-API-Key": TEST_API_KEY}, timeout=5
    ).json()
    assert [t["name"] for t in tasks] == ["summarize_ticket"]
    page = loopback_get(app_url, timeout=5)
    assert page.status_code == 200
    assert "Support ticket summarizer" in page.text
    status = loopback_get(f"{app_url}/api/status", timeout=10).json()
    assert status["task"]["name"] == "summarize_ticket"
    assert [v["version_number"] for v in status["versions"]] == [1]

    threshold = status["task"]["feedback_threshold"]
    with loopback_client(base_url=ct_url, headers={"X-API-Key": TEST_API_KEY}, timeout=10) as ct:
        items = [
            {
                "task_id": "summarize_ticket",
                "inputs": {"ticket": f"ticket {i}"},
                "output": f"summary {i}",
                "score": 1.0,
            }
            for i in range(threshold)
        ]
        assert ct.post("/api/v1/feedback/batch", json={"items": items}).status_code == 201
        deadline = time.monotonic() + JOB_DEADLINE_S
        jobs: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            jobs = ct.get("/api/v1/jobs", params={"task_id": "summarize_ticket"}).json()
            if jobs and jobs[0]["status"] in ("SUCCESS", "FAILURE", "PR_FAILED"):
                break
            time.sleep(0.2)
    assert jobs, "no job was queued at the threshold"
    assert jobs[0]["status"] == "SUCCESS", jobs[0]  # run by the worker: the server only queues
    local_run.assert_running("worker")
