"""The package outside the build's own interpreter setup: in a virtual environment, and without the
compiled module (reading and plotting need only h5py and matplotlib)."""
import os
import subprocess
import sys

from conftest import PYTHONPATH, SOURCE_DIR


def test_works_in_a_venv_with_system_site_packages(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    code = ("import sys, plexus; assert sys.prefix != sys.base_prefix; "
            f"m = plexus.Model.from_toml({os.path.join(SOURCE_DIR, 'models', 'coba_benchmark.toml')!r})"
            ".set('run.duration_ms', 20); r = plexus.run(m, quiet=True); print(len(r.spikes('E')[0]))")
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) > 0


def test_reading_needs_no_compiled_module(tmp_path):
    """A copy of the pure-Python files alone (as a machine without the build would have) reads results."""
    import shutil
    pkg = tmp_path / "plexus"
    pkg.mkdir()
    here = os.path.join(PYTHONPATH.split(os.pathsep)[0], "plexus")
    for f in os.listdir(here):
        if f.endswith(".py"):
            shutil.copy(os.path.join(here, f), pkg / f)
    code = "import plexus; import plexus.figures; print(plexus.Result, plexus.read)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(tmp_path)), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
