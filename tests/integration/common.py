"""Shared helpers for the integration tests: run the plexus binary (under mpiexec), read results."""
import argparse
import os
import shutil
import subprocess
import sys


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--plexus", required=True)
    p.add_argument("--mpiexec", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--work-dir", required=True)
    a = p.parse_args()
    shutil.rmtree(a.work_dir, ignore_errors=True)
    os.makedirs(a.work_dir)
    return a


def mpi_command(args, ranks, *rest):
    return [args.mpiexec, "-n", str(ranks), "--oversubscribe", "--bind-to", "none", args.plexus, *rest]


def run(cmd, expect=0, cwd=None):
    """Runs cmd; fails the test (exit 1) if its exit code is not `expect`. Returns the result."""
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if r.returncode != expect:
        print("command:", " ".join(cmd))
        print("exit code", r.returncode, "expected", expect)
        print("stdout:", r.stdout[-4000:])
        print("stderr:", r.stderr[-4000:])
        sys.exit(1)
    return r


class Checker:
    """Collects failures so that one run reports all of them."""

    def __init__(self):
        self.failures = 0
        self.checks = 0

    def check(self, condition, message):
        self.checks += 1
        if not condition:
            self.failures += 1
            print("FAILED:", message)

    def finish(self):
        print(f"{self.checks - self.failures} of {self.checks} checks passed")
        sys.exit(1 if self.failures else 0)


def result_digests(path):
    """sha256 of every dataset of a result file except /metadata (wall times and such differ between
    runs), by path: two runs with equal digests recorded the same spikes, samples and weights."""
    import hashlib

    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("metadata"):
                out[name] = (hashlib.sha256(obj[()].tobytes()).hexdigest(), obj.shape)
        f.visititems(visit)
    return out
