"""Fixtures of the Python interface's tests. CTest runs them with PYTHONPATH at the build's package and
PLEXUS_BIN, PLEXUS_SOURCE_DIR and MPIEXEC set (tests/CMakeLists.txt); by hand:
    PYTHONPATH=build/python PLEXUS_BIN=build/bin/plexus python3 -m pytest tests/python
"""
import os
import shutil
import subprocess
import sys

import pytest

SOURCE_DIR = os.environ.get("PLEXUS_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PLEXUS_BIN = os.environ.get("PLEXUS_BIN", os.path.join(SOURCE_DIR, "build", "bin", "plexus"))
MPIEXEC = os.environ.get("MPIEXEC", "mpiexec")
PYTHONPATH = os.environ.get("PYTHONPATH", os.path.join(SOURCE_DIR, "build", "python"))


def model_path(name):
    return os.path.join(SOURCE_DIR, "models", name)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Each test runs in a directory of its own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_python(script, ranks=1, cwd=None, timeout=900, args=()):
    """Runs `script` (a file) under /usr/bin/python3, under mpiexec when ranks > 1 (every rank runs it)."""
    env = dict(os.environ, PYTHONPATH=PYTHONPATH, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_WAIT_POLICY="passive")
    cmd = [sys.executable, str(script), *args]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), "--oversubscribe", "--bind-to", "none", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    return r


def have_mpiexec():
    return shutil.which(MPIEXEC) is not None
