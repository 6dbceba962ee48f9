#!/usr/bin/python3
"""Do two builds compute the same numbers? Runs a short version of every shipped model (and the
rule variants a model file switches to with one --set) with two plexus binaries and compares the
result files dataset by dataset (everything but /metadata, whose timings differ between runs).

    tests/regression/same_numbers.py --old OLD/bin/plexus --new build/bin/plexus [--ranks 1 2]
                                     [--only NAME ...] [--work DIR]

Exit code 0 when every run of every model is identical, 1 otherwise. Used for restructurings that
must not change a number (the training-layer issue); keep it working when a model is added: a
model the script does not know how to shorten fails loudly rather than being skipped."""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))

# Short settings per kind of run. Training: two iterations of a small batch, validation every
# iteration, a few test trials.
GRADIENT = ["train.iterations=2", "train.batch_size=3", "train.validation_every=1",
            "train.validation_trials=2", "train.test_trials=2"]
FORCE = ["train.before_ms=100", "train.train_ms=200", "train.test_ms=200", "train.window_ms=100",
         "train.max_lag_ms=20", "train.raster_ms=50"]


def runs_for(name, text):
    """(label, command words after the model path) for each run of a model."""
    if "[train]" not in text:
        return [("run", ["run", "--set", "run.duration_ms=300"])]
    if 'rule = "force"' in text:
        return [("train", ["train"] + sum((["--set", s] for s in FORCE), [])),
                ("run", ["run", "--set", "run.duration_ms=200"])]
    if 'rule = "tempotron"' in text:
        return [("train", ["train", "--set", "train.loads=[0.2, 0.4]", "--set", "train.repeats=2",
                           "--set", "train.epochs=5", "--set", "train.test_patterns=0"])]
    if 'rule = "equilibrium"' in text:
        return [("train", ["train", "--set", "train.hidden=30", "--set", "train.epochs=2",
                           "--set", "task.train_samples=60", "--set", "task.validation_samples=20",
                           "--set", "task.test_samples=30", "--set", "train.batch_size=10"])]
    if 'rule = "eprop"' in text or "[train.es_d_rtrl]" in text:
        base = ["train"] + sum((["--set", s] for s in GRADIENT), [])
        out = [("eprop", base)]
        if 'mode = "reward"' not in text:
            out.append(("es_d_rtrl", base + ["--set", "train.rule=es_d_rtrl"]))
            out.append(("d_rtrl", base + ["--set", "train.rule=d_rtrl"]))
        return out
    raise SystemExit(f"same_numbers.py: do not know how to shorten model {name}; teach runs_for()")


# Wall-clock measurements, which differ between any two runs.
TIMINGS = {"training/seconds", "training@seconds_per_iteration", "training@seconds_per_epoch"}


def digests(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("metadata") and name not in TIMINGS:
                out[name] = (hashlib.sha256(obj[()].tobytes()).hexdigest(), obj.shape)
        f.visititems(visit)
        for group in ["training", "test", "validation"]:  # scalars kept as attributes
            if group in f:
                for k, v in f[group].attrs.items():
                    if f"{group}@{k}" not in TIMINGS:
                        out[f"{group}@{k}"] = (repr(v), ())
    return out


def run(binary, mpiexec, ranks, model, words, out, env):
    cmd = [binary, words[0], model, "-o", out, "-q"] + words[1:]
    if ranks > 1:
        cmd = [mpiexec, "-n", str(ranks), "--oversubscribe", "--bind-to", "none"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return f"exit {r.returncode}: {r.stderr.strip()[-600:]}"
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", required=True)
    p.add_argument("--new", required=True)
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", nargs="*", default=None, help="model names (default: every model)")
    p.add_argument("--work", default=os.path.join("results", "same_numbers"))
    a = p.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_WAIT_POLICY="passive")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    models = sorted(f[:-5] for f in os.listdir(os.path.join(SOURCE, "models")) if f.endswith(".toml"))
    if a.only:
        models = [m for m in models if m in a.only]
    failures = 0
    for name in models:
        path = os.path.join(SOURCE, "models", name + ".toml")
        text = open(path).read()
        for label, words in runs_for(name, text):
            for ranks in a.ranks:
                tag = f"{name}/{label}/{ranks}r"
                files = {}
                errors = {}
                for side, binary in (("old", a.old), ("new", a.new)):
                    out = os.path.join(a.work, f"{name}-{label}-{ranks}-{side}.h5")
                    errors[side] = run(binary, a.mpiexec, ranks, path, words, out, env)
                    files[side] = out
                if errors["old"] or errors["new"]:
                    same = errors["old"] == errors["new"] or (
                        errors["old"] and errors["new"] and
                        errors["old"].split(":")[0] == errors["new"].split(":")[0])
                    print(f"{'same' if same else 'DIFFERENT'}  {tag}: old {errors['old']}; new {errors['new']}")
                    failures += not same
                    continue
                d_old, d_new = digests(files["old"]), digests(files["new"])
                diff = sorted(k for k in set(d_old) | set(d_new) if d_old.get(k) != d_new.get(k))
                if diff:
                    failures += 1
                    print(f"DIFFERENT {tag}: {len(diff)} of {len(d_old)} datasets: {', '.join(diff[:8])}")
                else:
                    print(f"identical {tag}: {len(d_old)} datasets")
                sys.stdout.flush()
    print(f"{failures} run(s) differ" if failures else "all runs identical")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
