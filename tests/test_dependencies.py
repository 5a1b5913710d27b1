"""The dependencies: yt-dlp has a floor, everything is locked with hashes, and every install
(make, the Docker image) goes through the locks (issue 18, finding 12)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness import PROJECT_ROOT

# What CI and the image run: the platform the locks are for.
LOCKED_FOR = {
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    version: str
    marker: str | None
    hashes: int


def _project() -> dict[str, object]:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as handle:
        project: dict[str, object] = tomllib.load(handle)["project"]
    return project


def _requirements(extra: str | None = None) -> list[Requirement]:
    project = _project()
    if extra is None:
        listed = project["dependencies"]
    else:
        extras = project["optional-dependencies"]
        assert isinstance(extras, dict)
        listed = extras[extra]
    assert isinstance(listed, list)
    return [Requirement(line) for line in listed]


def read_lock(name: str) -> dict[str, Pin]:
    """`name==version` lines of a pip-compile lock, each with its `--hash` lines."""
    pins: dict[str, Pin] = {}
    current: str | None = None
    for line in (PROJECT_ROOT / name).read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = Pin(match[2], match[3], 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            pin = pins[current]
            pins[current] = Pin(pin.version, pin.marker, pin.hashes + 1)
        elif not line.startswith(" "):
            current = None
    return pins


def test_yt_dlp_has_a_floor_not_a_pin() -> None:
    [yt_dlp] = [r for r in _requirements() if r.name == "yt-dlp"]
    assert [spec.operator for spec in yt_dlp.specifier] == [">="]


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))]
)
def test_every_dependency_is_locked_with_hashes_inside_its_range(
    lock: str, extras: tuple[str, ...]
) -> None:
    pins = read_lock(lock)
    assert pins, f"{lock} has no pins"
    assert all(pin.hashes for pin in pins.values()), "every pin has its hashes"
    wanted = _requirements() + [r for extra in extras for r in _requirements(extra)]
    for requirement in wanted:
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{lock} has {requirement.name}=={pin.version}, outside {requirement.specifier}: "
            "run `make lock`"
        )
        if requirement.marker is not None:  # the platform ones keep their marker
            assert pin.marker is not None
            assert Marker(pin.marker).evaluate(LOCKED_FOR) == requirement.marker.evaluate(
                LOCKED_FOR
            )
    assert "setuptools" in pins  # the build backend: the bot is built without the index


def test_the_production_lock_is_the_dev_lock_less_the_dev_tools() -> None:
    production, dev = read_lock("requirements.lock"), read_lock("requirements-dev.lock")
    assert {name: pin.version for name, pin in production.items()}.items() <= {
        name: pin.version for name, pin in dev.items()
    }.items(), "the two locks disagree: run `make lock`"


def test_make_and_the_image_install_from_the_locks_with_hashes() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r $(LOCK)" in makefile
    assert "--require-hashes -r $(DEV_LOCK)" in makefile
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    for target in ("lock:", "update-yt-dlp:"):
        assert re.search(rf"^{target}", makefile, re.MULTILINE), target
