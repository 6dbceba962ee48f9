"""cmake --install of the build into a new prefix P, then, from a clean directory, P/bin/plexus runs
P/share/plexus/models/coba_benchmark.toml and P/bin/plexus-plot draws its result; `import plexus` from
P/lib/python3/dist-packages runs it too; the installed cluster scripts find the installed binary."""
import os
import subprocess

from common import Checker, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir
build = os.path.dirname(os.path.dirname(os.path.abspath(args.plexus)))
prefix = os.path.join(w, "prefix")
run(["cmake", "--install", build, "--prefix", prefix])
for f in ("bin/plexus", "bin/plexus-plot", "share/plexus/models/coba_benchmark.toml",
          "share/plexus/cluster/submit_chain.sh", "share/doc/plexus/README.md", "share/doc/plexus/train.md"):
    c.check(os.path.exists(os.path.join(prefix, f)), f"installed {f}")
clean = os.path.join(w, "clean")
os.makedirs(clean)
env = {k: v for k, v in os.environ.items() if k != "PLEXUS_BIN"}
r = subprocess.run([os.path.join(prefix, "bin/plexus"), "run",
                    os.path.join(prefix, "share/plexus/models/coba_benchmark.toml"), "--set", "run.duration_ms=200"],
                   cwd=clean, capture_output=True, text=True, env=env)
print(r.stdout[-1500:], r.stderr[-1500:])
result = os.path.join(clean, "results/coba_benchmark.h5")
c.check(r.returncode == 0 and os.path.exists(result), "the installed plexus ran the installed COBA model")
p = subprocess.run(["/usr/bin/python3", os.path.join(prefix, "bin/plexus-plot"), result], cwd=clean,
                   capture_output=True, text=True)
c.check(p.returncode == 0 and os.path.exists(os.path.join(clean, "results/coba_benchmark.png")),
        f"the installed plexus-plot drew it ({p.stderr.strip()[-300:]})")
# The installed Python package: import it from the prefix (not the build tree) and run the installed model;
# the spikes equal the installed command line's.
pkg = os.path.join(prefix, "lib/python3/dist-packages")
code = ("import sys, h5py, numpy as np, plexus; assert plexus.__file__.startswith(sys.argv[1]), plexus.__file__; "
        "r = plexus.run(plexus.Model.from_toml(sys.argv[2]).set('run.duration_ms', 200), quiet=True); "
        "f = h5py.File(sys.argv[3], 'r'); "
        "assert np.array_equal(r.spikes('E')[0], f['spikes/E/timestamps'][()]); print('same spikes')")
py = subprocess.run(["/usr/bin/python3", "-c", code, pkg, os.path.join(prefix, "share/plexus/models/coba_benchmark.toml"),
                     result], cwd=clean, capture_output=True, text=True,
                    env=dict(env, PYTHONPATH=pkg, PYTHONDONTWRITEBYTECODE="1"))
# A build without the Python module (the sanitizer presets) installs the package without it: importing
# it must then say how to get it rather than fail somewhere inside.
with open(os.path.join(build, "CMakeCache.txt")) as f:
    with_python = "PLEXUS_PYTHON:BOOL=ON" in f.read()
if with_python:
    c.check(py.returncode == 0 and "same spikes" in py.stdout,
            f"import plexus from the prefix runs the installed model ({py.stderr.strip()[-400:]})")
else:
    c.check(py.returncode != 0 and "PLEXUS_PYTHON=ON" in py.stderr and "Traceback" in py.stderr,
            f"without the compiled module, import plexus names the build option ({py.stderr.strip()[-400:]})")
# The installed chain script finds the installed binary; without sbatch it stops at submission, but
# only after the binary was found: the error is about sbatch, not the binary.
s = subprocess.run(["bash", os.path.join(prefix, "share/plexus/cluster/submit_chain.sh"), "--dir", "ck", "--",
                    "run", os.path.join(prefix, "share/plexus/models/coba_benchmark.toml")],
                   cwd=clean, capture_output=True, text=True, env=dict(env, PATH="/usr/bin:/bin"))
c.check("no plexus binary" not in s.stderr, f"the installed chain script finds the installed binary ({s.stderr.strip()[-200:]})")
c.finish()
