"""The Docker build reuses its dependency layer, compose secrets stay out of git, and the compose
file's comments point at files that exist."""

from __future__ import annotations

import re
import shlex
import subprocess

from tests.compose.compose_file import DOCKERFILE_PATH, ROOT

SOURCE_DIRECTORIES = ("kaizen_sdk", "kaizen_fastapi", "kaizen_server", "example_app")


def _instructions() -> list[tuple[str, list[str]]]:
    text = DOCKERFILE_PATH.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            found.append((words[0].upper(), words[1:]))
    return found


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = _instructions()
    copies = [index for index, (name, args) in enumerate(steps) if name == "COPY"]
    first_source_copy = min(
        index for index in copies if any(d in steps[index][1] for d in SOURCE_DIRECTORIES)
    )
    installs = [
        index
        for index, (name, args) in enumerate(steps)
        if name == "RUN" and "pip install" in " ".join(args)
    ]
    dependency_install = installs[0]
    assert dependency_install < first_source_copy, "dependencies install after the source"
    # What the dependency layer depends on: pyproject.toml alone (no source, no README).
    copied_before = [
        path for index in copies if index < dependency_install for path in steps[index][1][:-1]
    ]
    assert copied_before == ["pyproject.toml"]
    assert ".[server]" in " ".join(steps[dependency_install][1])
    # The project itself is installed from the copied source, without touching dependencies.
    final_install = " ".join(steps[installs[-1]][1])
    assert installs[-1] > first_source_copy
    assert "--no-deps" in final_install


def test_compose_secrets_are_ignored_by_git() -> None:
    for name in (".env", "kaizen.env"):
        result = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", name], cwd=ROOT, check=False
        )
        assert result.returncode == 0, f"{name} is not in .gitignore"


def test_files_named_in_the_compose_comments_exist() -> None:
    comments = "\n".join(
        line for line in (ROOT / "docker-compose.yml").read_text().splitlines() if "#" in line
    )
    named = set(re.findall(r"\b((?:tests|scripts|example_app)/[\w/]+\.\w+)", comments))
    assert named, "the compose file names no test file"
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert missing == []
