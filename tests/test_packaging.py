"""hdcore installs as a library: the pins in requirements*.txt agree with pyproject.toml's ranges, and a wheel
built from the tree carries the package data and the ``hdcore`` console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins(name: str) -> dict[str, Requirement]:
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def declared() -> tuple[dict[str, Requirement], dict[str, dict[str, Requirement]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {canonicalize_name(Requirement(r).name): Requirement(r) for r in project["dependencies"]}
    extras = {extra: {canonicalize_name(Requirement(r).name): Requirement(r) for r in requirements}
              for extra, requirements in project["optional-dependencies"].items()}  # fmt: skip
    return core, extras


def pinned_version(requirement: Requirement) -> str:
    [specifier] = list(requirement.specifier)
    assert specifier.operator == "==", f"{requirement} is not pinned"
    return specifier.version


def test_every_pin_satisfies_its_declared_range_and_nothing_is_declared_unpinned():
    core, extras = declared()
    runtime, testing = pins("requirements.txt"), pins("requirements-test.txt")
    every_declared = {**core, **{n: r for reqs in extras.values() for n, r in reqs.items()}}
    for name, requirement in {**runtime, **testing}.items():
        if name in every_declared:
            assert every_declared[name].specifier.contains(pinned_version(requirement)), (requirement, every_declared[name])
    assert set(core) | set(extras.get("app", {})) <= set(runtime), "a run-time dependency is not pinned"
    assert set(extras.get("test", {})) <= set(testing), "a test dependency is not pinned"
    undeclared = set(runtime) - set(every_declared)
    assert not undeclared, f"pinned for the app but not declared in pyproject.toml: {undeclared}"


def test_a_wheel_carries_the_package_data_and_the_console_script(tmp_path):
    source = tmp_path / "source"  # a copy: building in place would leave build/ and *.egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "hdcore", source / "hdcore", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path),
         str(source)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("hdcore-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert {"hdcore/webapp/compare_slider.js", "hdcore/webapp/compare_slider.css",
            "hdcore/sweep/niqe_pristine.json", "hdcore/providers/local/families/realcugan.py"} <= names  # fmt: skip
    assert "hdcore = hdcore.cli:main" in entry_points
    assert not any(name.startswith(("tests/", "pages/")) for name in names)
