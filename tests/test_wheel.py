"""The package stands alone: a wheel built from the checkout, installed into a fresh venv and run from
a folder outside the checkout, lists the tasks and runs a smoke search on the ViT it ships.

The fresh venv gets the wheel only (`--no-deps`); the dependencies are this environment's, reached
through a `.pth` line naming its site-packages. Python adds that folder to the path without reading
the `.pth` files in it, so the editable install of the checkout there is not seen, and `autopeft`
can only come from the wheel (the test checks where it was imported from). A fully fresh venv that
installs the dependencies too (torch first, the CPU build) is the same check, minutes slower.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.integration
def test_wheel_runs_outside_the_checkout(tmp_path: Path) -> None:
    # build from a copy of what the wheel is made of, so no stale build/ of the checkout leaks in
    src = tmp_path / "src"
    shutil.copytree(ROOT / "autopeft", src / "autopeft", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist",
          src], cwd=tmp_path, env=env)
    (wheel,) = (tmp_path / "dist").glob("autopeft-*.whl")

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel], cwd=tmp_path, env=env)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path, env=env).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_autopeft_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env |= {"AUTOPEFT_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    where = _run([python, "-c", "import autopeft.backbones as b, autopeft.evaluators.ray_runner as r; "
                  "print(b.__file__); print(b.resolve_model_path('vit-fmnist')); print(r._uninstalled_checkout())"],
                 cwd=work, env=env).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where[:2]), where  # the wheel's copy, not the checkout
    assert (Path(where[1]) / "model.safetensors").is_file()
    assert where[2] == "None"  # Ray workers import the installed package: no checkout on their path

    autopeft = fresh / "bin" / "autopeft"
    tasks = _run([autopeft, "tasks"], cwd=work, env=env).stdout
    assert "mnist_5k" in tasks and "tweet_sentiment" in tasks
    out = _run([autopeft, "search", "--task", "mnist_5k", "--model", "vit-fmnist", "--trials", "2",
                "--fidelity", "smoke", "--out", work / "run"], cwd=work, env=env).stdout
    assert (work / "run" / "run.json").is_file() and (work / "run" / "front.csv").is_file(), out


class _Dist:
    """A stand-in for a distribution of autopeft: a wheel's files, an editable link, or (`installer`
    None) an egg-info that a build left in a source tree."""

    def __init__(self, files: Path, direct_url: str | None = None, installer: str | None = "pip") -> None:
        self.files, self.direct_url, self.installer = files, direct_url, installer

    def locate_file(self, path: str) -> Path:
        return self.files / path

    def read_text(self, name: str) -> str | None:
        return {"direct_url.json": self.direct_url, "INSTALLER": self.installer}.get(name)


def test_ray_workers_get_the_checkout_on_their_path_only_when_it_is_not_installed(monkeypatch, tmp_path):
    from autopeft.evaluators import ray_runner

    package = Path(ray_runner.__file__).resolve().parents[1]

    def installed(*dists):
        monkeypatch.setattr(ray_runner.metadata, "distributions", lambda name: iter(dists))
        return ray_runner._uninstalled_checkout()

    checkout = str(package.parent)
    assert installed() == checkout  # not installed: the checkout goes on the path
    assert installed(_Dist(package.parent)) is None  # a wheel: this very copy, in site-packages
    editable = '{"dir_info": {"editable": true}, "url": "file://%s"}'
    assert installed(_Dist(tmp_path, editable % package.parent)) is None  # editable, this checkout
    # installed, but this process imported another copy: the workers must see this one
    assert installed(_Dist(tmp_path, editable % tmp_path)) == checkout
    assert installed(_Dist(tmp_path)) == checkout
    # the checkout's own egg-info (from `pip wheel .`) is not an install; one found after it may be
    assert installed(_Dist(package.parent, installer=None)) == checkout
    assert installed(_Dist(package.parent, installer=None), _Dist(tmp_path, editable % package.parent)) is None
