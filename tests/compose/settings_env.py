"""Which environment variables the code reads: found by introspecting its pydantic-settings classes.

Every module of a package whose source defines a ``BaseSettings`` subclass is imported, and each
settings class contributes ``env_prefix + FIELD`` (or the field's alias) for every field.
"""

from __future__ import annotations

import importlib
import re

from pydantic_settings import BaseSettings

from tests.compose.compose_file import ROOT

_DEFINES_SETTINGS = re.compile(r"^class \w+\((?:[\w.]*\.)?BaseSettings\)", re.M)


def settings_classes(package: str) -> list[type[BaseSettings]]:
    """Every ``BaseSettings`` subclass defined in ``package`` (found by reading the sources)."""
    found: list[type[BaseSettings]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if not _DEFINES_SETTINGS.search(path.read_text()):
            continue
        module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variable names a settings class reads (upper-cased)."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    names = set()
    for name, info in settings_class.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        names.add((alias or f"{prefix}{name}").upper())
    return names


def env_read_by(packages: list[str]) -> set[str]:
    """Union of :func:`env_names` over the settings classes of ``packages``."""
    return {
        name for package in packages for cls in settings_classes(package) for name in env_names(cls)
    }


def settings_class_names(packages: list[str]) -> list[str]:
    return [cls.__qualname__ for package in packages for cls in settings_classes(package)]
