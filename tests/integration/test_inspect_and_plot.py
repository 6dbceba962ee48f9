"""plexus inspect describes a result file; plexus-plot draws it to PNG. Inspect is checked on a plain run
(also one resumed from a checkpoint), a gradient-training file (classification and regression) and a
FORCE file: the duration, the synapse count, rates rounded, the resume count and the training summary,
each against the file's own values. A regression training run reports its loss, never an accuracy."""
import os
import re
import subprocess

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
models = os.path.join(args.source_dir, "models")
plot = os.path.join(os.path.dirname(args.plexus), "plexus-plot")


def inspect(path):
    return run([args.plexus, "inspect", path]).stdout


def header(out):
    """The lines before the per-population listing: metadata and summaries."""
    return out.split("populations:")[0]


def check_png(path, png, name):
    r = subprocess.run([plot, path, "-o", png], capture_output=True, text=True)
    c.check(r.returncode == 0, f"{name}: plexus-plot exit code {r.returncode}: {r.stderr[-500:]}")
    c.check(os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", f"{name}: a PNG was written")
    c.check(os.path.getsize(png) > 20000 if os.path.exists(png) else False, f"{name}: the PNG is not empty")


def projection_synapses(f):
    return sum(int(g.attrs["synapses"]) for g in f["network/projections"].values())


# --- a plain run, 2 ranks -------------------------------------------------------------------------
out = os.path.join(args.work_dir, "coba.h5")
run(mpi_command(args, 2, "run", os.path.join(models, "coba_benchmark.toml"),
                "--set", "run.duration_ms=200", "-o", out, "-q"))
text = inspect(out)
for needle in ("coba_benchmark", "2 rank(s)", "populations:", "lif_coba", "spikes (SONATA)", "by_time",
               "/samples/E/V_m", "float64"):
    c.check(needle in text, f"inspect output mentions {needle!r}")
with h5py.File(out, "r") as f:
    meta = f["metadata"].attrs
    c.check(f"{float(meta['duration_ms']):g} ms at dt" in text, "run: the duration is shown")
    c.check(f"{int(meta['synapses'])} synapses" in text, "run: the synapse count is shown")
    c.check("not resumed" in text, "run: the resume count is shown (none)")
    rates = {p: float(g.attrs["rate_hz"]) for p, g in f["network/populations"].items()}
for pop, rate in rates.items():
    m = re.search(rf"^\s+{pop}\s.*rate\s+(\S+) Hz", text, re.M)
    c.check(m is not None, f"run: rate of {pop} listed")
    if m:
        c.check(m.group(1) == f"{rate:.3f}", f"run: rate of {pop} rounded: {m.group(1)} (file {rate!r})")
check_png(out, os.path.join(args.work_dir, "coba.png"), "run")
r = subprocess.run([plot, os.path.join(args.work_dir, "absent.h5")], capture_output=True, text=True)
c.check(r.returncode == 2 and "error" in r.stderr, "plexus-plot of a missing file: exit 2 with a message")

# --- the same run stopped at a checkpoint and resumed --------------------------------------------
resumed = os.path.join(args.work_dir, "resumed.h5")
ck = os.path.join(args.work_dir, "ck")
run(mpi_command(args, 1, "run", os.path.join(models, "coba_benchmark.toml"), "--set", "run.duration_ms=200",
                "--checkpoint-dir", ck, "--stop-at-ms", "100", "-o", resumed, "-q"))
text = inspect(resumed + ".partial")
c.check("incomplete" in text and "not resumed" in text, "stopped run: incomplete, not resumed yet")
run(mpi_command(args, 1, "resume", ck, "-q"))
text = inspect(resumed)
with h5py.File(resumed, "r") as f:
    resumes = int(f["metadata"].attrs["resumes"])
c.check(f"resumed {resumes} time(s)" in text and resumes == 1, "resumed run: the resume count is shown")

# --- gradient training: classification (T-maze) and regression (sine) ----------------------------
short = ["--set", "train.batch_size=4", "--set", "train.validation_every=3", "--set", "train.validation_trials=4",
         "--set", "train.test_trials=8", "-q"]
tmaze = os.path.join(args.work_dir, "tmaze.h5")
run(mpi_command(args, 1, "train", os.path.join(models, "tmaze_mouse100.toml"), "--set", "train.iterations=6",
                *short, "-o", tmaze))
sine = os.path.join(args.work_dir, "sine.h5")
trained = run(mpi_command(args, 1, "train", os.path.join(models, "eprop_sine.toml"), "--set", "train.iterations=6",
                          "--set", "task.duration_ms=300", *short, "-o", sine))
for path, classification in ((tmaze, True), (sine, False)):
    name = os.path.basename(path)
    text = header(inspect(path))
    with h5py.File(path, "r") as f:
        meta, tr = f["metadata"].attrs, f["training"].attrs
        trial_ms = int(meta["trial_steps"]) * float(meta["dt_ms"])
        c.check(f"trials of {trial_ms:g} ms" in text, f"{name}: the trial length stands for the duration")
        c.check(f"{projection_synapses(f)} synapses" in text, f"{name}: the synapse count is shown")
        c.check(f"{int(tr['iterations'])} iteration(s)" in text and str(tr["rule"]) in text,
                f"{name}: iterations and rule in the training summary")
        c.check(f"last batch: loss {f['training/loss'][-1]:.4f}" in text, f"{name}: last batch loss")
        c.check(f"loss {f['validation/loss'][-1]:.4f}" in text, f"{name}: last validation loss")
        c.check(f"loss {float(f['test'].attrs['loss']):.4f}" in text, f"{name}: test loss")
        if classification:
            c.check(f"accuracy {float(f['test'].attrs['accuracy']):.3f}" in text, f"{name}: test accuracy")
            c.check(f"accuracy {f['validation/accuracy'][-1]:.3f}" in text, f"{name}: validation accuracy")
        else:
            c.check("regression" in text and "accuracy" not in text,
                    f"{name}: a regression task shows no accuracy: {text}")
            c.check("accuracy" not in f["test"].attrs, f"{name}: no test accuracy written for regression")
    check_png(path, os.path.join(args.work_dir, name.replace(".h5", ".png")), name)
# What `plexus train` itself prints at the end of a regression run.
with h5py.File(sine, "r") as f:
    c.check(f"validation loss {f['validation/loss'][-1]:.4f}" in trained.stdout
            and f"test loss {float(f['test'].attrs['loss']):.4f}" in trained.stdout,
            f"regression training summary gives the validation and test loss: {trained.stdout[-600:]}")
c.check("accuracy" not in trained.stdout + trained.stderr, "regression training prints no accuracy")

# --- FORCE training --------------------------------------------------------------------------------
force = os.path.join(args.work_dir, "force.h5")
run(mpi_command(args, 1, "train", os.path.join(models, "force_lif_sine.toml"),
                "--set", "populations.reservoir.size=300", "--set", "projections.static.weight.std=0.0230940108",
                "--set", "train.before_ms=100", "--set", "train.train_ms=600", "--set", "train.test_ms=300",
                "--set", "train.window_ms=100", "--set", "train.raster_ms=50", "-q", "-o", force))
text = header(inspect(force))
with h5py.File(force, "r") as f:
    g = f["force"]
    c.check(f"{float(f['metadata'].attrs['duration_ms']):g} ms at dt" in text, "force: the duration is shown")
    c.check(f"{projection_synapses(f)} synapses" in text, "force: the synapse count is shown")
    c.check(f"{int(g.attrs['rls_updates'])} RLS updates" in text, "force: RLS updates in the summary")
    c.check(f"training RMS error {g['metrics/train_rms'][0]:.4f}" in text, "force: training RMS error")
    c.check(f"test correlation >= {g['metrics/correlation'][()].min():.4f}" in text, "force: worst test correlation")
    before, during, after = g["rates/mean_hz"][()]
    c.check(f"{before:.2f} Hz before, {during:.2f} Hz during, {after:.2f} Hz after" in text, "force: rates")
check_png(force, os.path.join(args.work_dir, "force.png"), "force")
c.finish()
