"""Every model file shipped in models/ parses, builds and runs briefly (so the configs users run stay
valid), on 2 ranks. Models with a [train] section are also trained briefly with `plexus train`,
using the overrides listed for them in SMOKE (each rule has its own notion of a short run)."""
import glob
import os
import sys

import h5py

from common import Checker, mpi_command, parse_args, run

# Model name -> overrides that make `plexus train` finish in a few seconds. A model with a [train]
# section must have an entry here.
SMOKE = {
    "tmaze_mouse100": ["train.iterations=1", "train.batch_size=2", "train.validation_trials=2", "train.test_trials=2"],
    "eprop_evidence100": ["train.iterations=1", "train.batch_size=1", "train.validation_trials=1",
                          "train.test_trials=1", "task.delay_ms=50"],
    "cortex_ei800_evidence": ["train.iterations=1", "train.batch_size=1", "train.validation_trials=1",
                              "train.test_trials=1", "task.delay_ms=50"],
    "dms200": ["train.iterations=1", "train.batch_size=1", "train.validation_trials=1", "train.test_trials=1",
               "task.sample_ms=50", "task.delay_ms=50", "task.test_ms=50"],
    "tmaze_reward": ["train.iterations=1", "train.batch_size=2", "train.validation_trials=2", "train.test_trials=2"],
    "cortex_ei800_tmaze_reward": ["train.iterations=1", "train.batch_size=1", "train.validation_trials=1",
                                  "train.test_trials=1", "task.delay_ms=50"],
    "eprop_sine": ["train.iterations=1", "train.validation_trials=1", "task.duration_ms=100"],
    "tempotron_capacity": ["train.loads=[0.1]", "train.repeats=1", "train.epochs=2"],
    "fashion_plasticity": ["train.epochs=1", "train.hidden=64", "task.train_samples=200",
                           "task.validation_samples=100", "task.test_samples=100"],
}
# FORCE models: 10 ms of each phase, 200 neurons (P is N x N).
FORCE_SMOKE = ["train.before_ms=10", "train.train_ms=10", "train.test_ms=10", "populations.reservoir.size=200"]
for _name in ("force_lif_sine", "force_izhikevich_sine", "force_izhikevich_vanderpol", "force_izhikevich_relaxation",
              "force_izhikevich_lorenz", "force_izhikevich_sawtooth", "force_izhikevich_sine_product", "force_lif_trace"):
    SMOKE[_name] = FORCE_SMOKE

args = parse_args()
c = Checker()
# Models whose data a script makes (not kept in the repository): made here, and the model pointed at it.
sys.path.insert(0, os.path.join(args.source_dir, "scripts"))
import make_shd_like  # noqa: E402

DATA = {"shd_like": os.path.join(args.work_dir, "data_shd_like.h5")}
make_shd_like.write(DATA["shd_like"], 40)
SMOKE["shd_like"] = ["train.iterations=1", "train.batch_size=2", "train.validation_trials=2", "train.test_trials=2",
                     "task.validation_range=[20, 30]", "task.test_range=[30, 40]"]
models = sorted(glob.glob(os.path.join(args.source_dir, "models", "*.toml")))
c.check(len(models) >= 3, f"{len(models)} model files")
for m in models:
    name = os.path.splitext(os.path.basename(m))[0]
    out = os.path.join(args.work_dir, name + ".h5")
    data = ["--set", f"task.file={DATA[name]}"] if name in DATA else []
    r = run(mpi_command(args, 2, "run", m, "--set", "run.duration_ms=20", "-o", out, "-q", *data))
    c.check("simulated 20.0 ms" in r.stdout, f"{name}: ran ({r.stdout.strip().splitlines()[-1] if r.stdout else ''})")
    with h5py.File(out, "r") as f:
        c.check("metadata" in f and "wall_time_s" in f["metadata"].attrs, f"{name}: complete result file")
    if "\n[train]" in "\n" + open(m).read():
        c.check(name in SMOKE, f"{name}: has a SMOKE entry for plexus train")
        sets = data + [x for s in SMOKE.get(name, []) for x in ("--set", s)]
        out = os.path.join(args.work_dir, name + "_train.h5")
        run(mpi_command(args, 2, "train", m, "-o", out, "-q", *sets))
        with h5py.File(out, "r") as f:
            c.check("metadata" in f and "wall_time_s" in f["metadata"].attrs, f"{name}: complete training result")
c.finish()
