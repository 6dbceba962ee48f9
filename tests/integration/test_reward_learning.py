"""Reward-based e-prop (SPEC 4.3) learns a short-delay T-maze from reward alone: the corridor of the
`mouse` profile with the delay cut to DELAY_MS, the 100-cell LIF network of models/tmaze_reward.toml,
batches of 8 episodes, for three seeds (run side by side, one rank each; rank and thread counts do
not change the result, see test_training.py). Success = correct turns on 256 fresh test episodes,
with actions sampled from the policy; chance is 0.5.

Held for seeds 1, 2, 3 (2026-12-02): test success 0.926, 0.953, 0.930 after 400 iterations (3200
episodes), about 30 s wall for the three on 2 cores. The test asserts at least 0.80 for each
seed after ITERATIONS iterations (ITERATIONS x 8 episodes)."""
import os
import subprocess
import sys

import h5py

from common import Checker, mpi_command, parse_args

ITERATIONS = 400
DELAY_MS = 20
THRESHOLD = 0.80

args = parse_args()
c = Checker()
model = os.path.join(args.source_dir, "models", "tmaze_reward.toml")
jobs = {}
for seed in (1, 2, 3):
    out = os.path.join(args.work_dir, f"reward_seed{seed}.h5")
    cmd = mpi_command(args, 1, "train", model, "-o", out, "-q", "--set", f"network.seed={seed}",
                      "--set", f"task.delay_ms={DELAY_MS}", "--set", f"train.iterations={ITERATIONS}",
                      "--set", "train.validation_every=1000", "--set", "train.test_trials=256")
    jobs[seed] = (out, cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
for seed, (out, cmd, p) in jobs.items():
    stdout, stderr = p.communicate()
    if p.returncode != 0:
        print("command:", " ".join(cmd), "\nexit code", p.returncode, "\nstdout:", stdout[-4000:], "\nstderr:", stderr[-4000:])
        sys.exit(1)
    with h5py.File(out, "r") as f:
        acc = float(f["test"].attrs["accuracy"])
        first = float(f["training/accuracy"][:20].mean())
        last = float(f["training/accuracy"][-20:].mean())
        value = f["training/value"][()]
        print(f"seed {seed}: test success {acc:.3f} after {ITERATIONS * 8} episodes (training success: first 20 "
              f"batches {first:.3f}, last 20 {last:.3f}; mean value {value[:20].mean():.3f} -> {value[-20:].mean():.3f})")
        c.check(acc >= THRESHOLD, f"seed {seed}: test success {acc:.3f} >= {THRESHOLD}")
        c.check(last > first, f"seed {seed}: the training success rate went up")
        c.check(f["training/reward"].shape == (ITERATIONS,), f"seed {seed}: one mean reward per iteration")
c.finish()
