"""Malformed model files and command lines: exit code 2, a message with file, line and key, on every
rank count, and no output file left behind (neither the result nor a .partial)."""
import glob
import os
import resource
import subprocess

import h5py

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
base = open(os.path.join(args.source_dir, "models/coba_benchmark.toml")).read()
lines = base.splitlines()


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError(needle)


cases = []
# Unknown key (typo) in a population.
t = base.replace('size = 3200', 'size = 3200\nsise = 3')
cases.append(("unknown_key", t, [], f"bad.toml:{line_of(t, 'sise')}", "'populations.E.sise'"))
# Wrong type.
t = base.replace('p = 0.02', 'p = "0.02"', 1)
quoted = 'p = "0.02"'
cases.append(("wrong_type", t, [], f"bad.toml:{line_of(t, quoted)}", "'projections.EE.p'"))
# Out of range.
t = base.replace('duration_ms = 1000.0', 'duration_ms = -5.0')
cases.append(("out_of_range", t, [], f"bad.toml:{line_of(t, 'duration_ms = -5.0')}", "'run.duration_ms'"))
# Unknown neuron parameter.
t = base.replace('tau_m_ms = 20.0', 'tau_mem_ms = 20.0', 1)
cases.append(("bad_param", t, [], f"bad.toml:{line_of(t, 'tau_mem_ms')}", "'populations.E.params.tau_mem_ms'"))
# TOML syntax error.
t = base.replace('[projections.EI]', '[projections.EI')
cases.append(("syntax", t, [], f"bad.toml:{line_of(t, '[projections.EI')}", "syntax"))
# A bad override.
cases.append(("bad_set", base, ["--set", "network.seed=-3"], "--set network.seed=-3", "'network.seed'"))
# A missing connection file.
t = base.replace('rule = "fixed_probability"\np = 0.02\nweight = 6.0', 'rule = "from_file"\nfile = "nowhere.h5"', 1)
cases.append(("missing_file", t, [], f"bad.toml:{line_of(t, 'nowhere.h5')}", "nowhere.h5"))
# A sampled variable the neuron model does not have (checked before the result file is created).
t = base.replace('variables = ["V_m", "g_e", "g_i"]', 'variables = ["V_m", "bogus"]', 1)
cases.append(("bad_sample", t, [], f"bad.toml:{line_of(t, 'bogus')}", "has no variable 'bogus'"))

for name, text, extra, where, key in cases:
    d = os.path.join(args.work_dir, name)
    os.makedirs(d)
    model = os.path.join(d, "bad.toml")
    open(model, "w").write(text)
    out = os.path.join(d, "result.h5")
    for ranks in (1, 2):
        r = run(mpi_command(args, ranks, "run", model, "-o", out, "-q", *extra), expect=2, cwd=d)
        msg = r.stderr
        c.check(where in msg, f"{name} ({ranks} ranks): message names '{where}': {msg.strip()[:300]}")
        c.check(key in msg, f"{name} ({ranks} ranks): message names {key}")
        c.check(msg.count("plexus: error:") == 1, f"{name} ({ranks} ranks): reported once, not once per rank")
        c.check(not glob.glob(os.path.join(d, "result.h5*")), f"{name}: no output file left behind")

# `plexus run` of a training model without [run] duration_ms: it would simulate 0 ms (training takes its
# length from the trials, so the key is optional there); `plexus train` of it still writes no file when
# a sampled variable is wrong.
d = os.path.join(args.work_dir, "train_model")
os.makedirs(d)
sine = os.path.join(args.source_dir, "models/eprop_sine.toml")
out = os.path.join(d, "result.h5")
for ranks in (1, 2):
    r = run(mpi_command(args, ranks, "run", sine, "-o", out, "-q"), expect=2, cwd=d)
    c.check("'duration_ms'" in r.stderr and f"eprop_sine.toml:{line_of(open(sine).read(), '[run]')}" in r.stderr,
            f"run without duration ({ranks} ranks): message names the key and its table: {r.stderr.strip()[:300]}")
    c.check(r.stderr.count("plexus: error:") == 1, f"run without duration ({ranks} ranks): reported once")
    c.check(not glob.glob(out + "*"), f"run without duration ({ranks} ranks): no output file left behind")
r = run(mpi_command(args, 1, "train", sine, "--set", 'record.samples.rec.variables=["bogus"]', "-o", out, "-q"),
        expect=2, cwd=d)
c.check("has no variable 'bogus'" in r.stderr, f"train with a bad sampled variable: {r.stderr.strip()[:300]}")
c.check(not glob.glob(out + "*"), "train with a bad sampled variable: no output file left behind")

# Not silently: a delay off the step grid, and an output name that holds something else than a result.
coba = os.path.join(args.source_dir, "models/coba_benchmark.toml")
short = ["--set", "run.duration_ms=5"]
r = run(mpi_command(args, 1, "run", coba, *short, "--set", "projections.EE.delay_ms=0.15", "-q",
                    "-o", os.path.join(d, "delay.h5")), expect=2)
c.check("'projections.EE.delay_ms'" in r.stderr and "1.5 steps of dt = 0.1 ms" in r.stderr,
        f"a delay of 1.5 steps is refused with its key: {r.stderr.strip()[:300]}")
notes = os.path.join(d, "notes.txt")
with open(notes, "w") as f:
    f.write("not a result\n")
r = run(mpi_command(args, 2, "run", coba, *short, "-q", "-o", notes), expect=2)
c.check("is not an HDF5 file: not replacing it" in r.stderr and open(notes).read() == "not a result\n",
        f"-o on a file that is not a result: refused, the file kept: {r.stderr.strip()[:300]}")
r = run(mpi_command(args, 1, "run", coba, *short, "-q", "-o", d), expect=2)
c.check("is a directory" in r.stderr, f"-o on a directory: {r.stderr.strip()[:300]}")

# A training whose loss becomes NaN (a learning rate of 1e300 makes the weights infinite after the first
# batch) stops with a message naming the iteration, or, with on_nonfinite = "skip_batch", skips the update.
mouse = os.path.join(args.source_dir, "models/tmaze_mouse100.toml")
blowup = ["--set", "train.iterations=4", "--set", "train.batch_size=2", "--set", "train.validation_trials=2",
          "--set", "train.test_trials=2", "--set", "train.learning_rate=1e300", "--set", "train.optimizer=sgd"]
r = run(mpi_command(args, 2, "train", mouse, *blowup, "-q", "-o", os.path.join(d, "nan.h5")), expect=1)
c.check("iteration 2: the batch's loss is not a finite number" in r.stderr and "on_nonfinite" in r.stderr,
        f"a NaN loss stops the training: {r.stderr.strip()[:300]}")
out = os.path.join(d, "nan_skipped.h5")
r = run(mpi_command(args, 2, "train", mouse, *blowup, "--set", "train.on_nonfinite=skip_batch", "-o", out))
with h5py.File(out, "r") as f:
    skipped = int(f["training"].attrs["skipped_batches"])
c.check(skipped == 3 and r.stderr.count("skipped: not finite") == 3,
        f"on_nonfinite = skip_batch: 3 batches skipped, and said so ({skipped})")

# A scale that makes a population too large is reported at network.scale (the key the user typed), and
# running out of memory says so (an address-space limit of 200 MB against a network that needs more).
r = run(mpi_command(args, 1, "run", coba, "--set", "network.scale=1e12", "-q", "-o", os.path.join(d, "big.h5")),
        expect=2)
c.check("'network.scale': scaling by" in r.stderr and "populations.E.size" in r.stderr,
        f"an absurd scale is reported at network.scale: {r.stderr.strip()[:300]}")
# (Not under the sanitizer presets: their run-time reserves more address space than the limit.)
sanitized = any(s in args.plexus for s in ("build-asan", "build-tsan"))
limited = None if sanitized else subprocess.run([args.plexus, "run", coba, "--set", "network.scale=60", "--set", "run.duration_ms=1", "-q",
                          "-o", os.path.join(d, "oom.h5")], capture_output=True, text=True,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20)))
if limited is not None:
    c.check(limited.returncode == 1 and "out of memory" in limited.stderr and "scale-test" in limited.stderr,
            f"out of memory explained: exit {limited.returncode}, {limited.stderr.strip()[-300:]}")

# A model file that does not exist, and a bad option.
r = run(mpi_command(args, 1, "run", os.path.join(args.work_dir, "absent.toml"), "-q"), expect=2)
c.check("absent.toml" in r.stderr, "missing model file named")
r = run([args.plexus, "run"], expect=2)
c.check("model" in r.stderr.lower(), "missing positional argument reported")
r = run([args.plexus, "run", "x.toml", "--threads", "0"], expect=2)
r = run([args.plexus, "inspect", os.path.join(args.work_dir, "absent.h5")], expect=2)
c.check("no such file" in r.stderr, "inspect of a missing file")
c.finish()
