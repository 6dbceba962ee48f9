"""Every model file shipped in models/ parses, builds and runs briefly (so the configs users run stay
valid), on 2 ranks."""
import glob
import os

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
models = sorted(glob.glob(os.path.join(args.source_dir, "models", "*.toml")))
c.check(len(models) >= 3, f"{len(models)} model files")
for m in models:
    name = os.path.splitext(os.path.basename(m))[0]
    out = os.path.join(args.work_dir, name + ".h5")
    r = run(mpi_command(args, 2, "run", m, "--set", "run.duration_ms=20", "-o", out, "-q"))
    c.check("simulated 20.0 ms" in r.stdout, f"{name}: ran ({r.stdout.strip().splitlines()[-1] if r.stdout else ''})")
    with h5py.File(out, "r") as f:
        c.check("metadata" in f and "wall_time_s" in f["metadata"].attrs, f"{name}: complete result file")
c.finish()
