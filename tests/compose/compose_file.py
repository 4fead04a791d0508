"""Read ``docker-compose.yml`` and the ``Dockerfile`` the way Docker would, for the compose tests.

No Docker engine runs on the test machine, so the tests read the files, resolve what Docker
would resolve (variable interpolation, the image's ``ENV``/``WORKDIR``) and then run the same
commands locally with hosts mapped to 127.0.0.1.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = ROOT / "docker-compose.yml"
DOCKERFILE_PATH = ROOT / "Dockerfile"

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariableError(ValueError):
    """A ``${VAR:?message}`` variable is unset, as ``docker compose`` would report."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if op in (":-", ":?") and not current:
            current = None
        if current is not None:
            return current
        if op in (":?", "?"):
            raise MissingVariableError(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(substitute, value)


@dataclass(frozen=True)
class Service:
    """One compose service, with its environment interpolated."""

    name: str
    spec: Mapping[str, Any]
    environment: dict[str, str]

    @property
    def command(self) -> list[str]:
        raw = self.spec.get("command") or self.spec.get("entrypoint") or []
        return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]

    @property
    def builds_kaizen_image(self) -> bool:
        return "build" in self.spec

    @property
    def profiles(self) -> list[str]:
        return list(self.spec.get("profiles", []))

    @property
    def one_shot(self) -> bool:
        return str(self.spec.get("restart", "no")) == "no"

    @property
    def depends_on(self) -> dict[str, dict[str, Any]]:
        raw = self.spec.get("depends_on") or {}
        if isinstance(raw, list):
            return {name: {"condition": "service_started"} for name in raw}
        return {name: dict(options or {}) for name, options in raw.items()}

    @property
    def listen_port(self) -> int | None:
        """The port the command listens on (``--port N``), if it takes one."""
        command = self.command
        if "--port" in command:
            return int(command[command.index("--port") + 1])
        return None

    @property
    def published_ports(self) -> list[tuple[int, int]]:
        """``(host, container)`` pairs of ``ports:``."""
        pairs = []
        for entry in self.spec.get("ports", []):
            host, _, container = str(entry).rpartition(":")
            pairs.append((int(host), int(container)))
        return pairs

    @property
    def healthcheck(self) -> list[str] | None:
        test = (self.spec.get("healthcheck") or {}).get("test")
        if not test:
            return None
        if isinstance(test, str):
            return ["CMD-SHELL", test]
        return [str(part) for part in test]


@dataclass
class ComposeFile:
    """The parsed compose file with variables taken from ``env``."""

    env: Mapping[str, str]
    data: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.data = yaml.safe_load(COMPOSE_PATH.read_text())

    def services(self) -> Iterator[Service]:
        for name, spec in self.data["services"].items():
            raw_env = spec.get("environment") or {}
            if isinstance(raw_env, list):
                raw_env = dict(item.split("=", 1) for item in raw_env)
            environment = {key: interpolate(str(value), self.env) for key, value in raw_env.items()}
            yield Service(name, spec, environment)

    def service(self, name: str) -> Service:
        return next(s for s in self.services() if s.name == name)

    def start_order(self, names: set[str]) -> list[Service]:
        """``names`` sorted so that every service comes after what it depends on."""
        by_name = {s.name: s for s in self.services() if s.name in names}
        ordered: list[Service] = []

        def visit(service: Service) -> None:
            if service in ordered:
                return
            for dependency in service.depends_on:
                if dependency in by_name:
                    visit(by_name[dependency])
            ordered.append(service)

        for service in by_name.values():
            visit(service)
        return ordered


@dataclass(frozen=True)
class Image:
    """What the Dockerfile gives every container: environment and working directory."""

    env: dict[str, str]
    workdir: str
    copied: list[str]

    @classmethod
    def read(cls) -> Image:
        text = DOCKERFILE_PATH.read_text().replace("\\\n", " ")
        env: dict[str, str] = {}
        workdir = "/"
        copied: list[str] = []
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            instruction, args = words[0].upper(), words[1:]
            if instruction == "ENV":
                env.update(arg.partition("=")[::2] for arg in args)
            elif instruction == "WORKDIR":
                workdir = args[0]
            elif instruction == "COPY":
                copied.extend(args[:-1])
        return cls(env, workdir, copied)
