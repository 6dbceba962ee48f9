"""`plexus train` as users run it: trained weights and learning curves are byte-identical for 1 rank x
1 thread, 2 ranks x 1 thread and 4 ranks x 2 threads (batch groups and trial instances chosen by auto); the result file holds the learning curve, validation, examples and
initial and trained weights; Dale's law holds after training; plexus-plot draws the training figure;
bad [train] and [task] sections are refused with exit code 2 and a located message; a rule's own
[train.<rule>] table overrides [train] for that rule only; restore_best tests and writes the weights of
the best validation."""
import os
import subprocess

import h5py
import numpy as np

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
models = os.path.join(args.source_dir, "models")

# Short runs: 3 iterations of 4 trials, with clipping so that the global norm is exercised.
cases = {
    # ALIF, Dale's law, sparse recurrence, symmetric feedback, Adam.
    "cortex": [os.path.join(models, "cortex_ei800_evidence.toml"), "--set", "task.delay_ms=100",
               "--set", "train.iterations=3", "--set", "train.batch_size=4", "--set", "train.clip_grad_norm=0.5",
               "--set", "train.validation_trials=4", "--set", "train.validation_every=2",
               "--set", "train.test_trials=4", "--set", "train.target_accuracy=2"],
    # Mixed LIF/ALIF, all-to-all, random feedback, plain gradient descent, rate regularisation.
    "eprop100": [os.path.join(models, "eprop_evidence100.toml"), "--set", "task.delay_ms=200",
                 "--set", "train.iterations=3", "--set", "train.batch_size=4", "--set", "train.feedback=random",
                 "--set", "train.optimizer=sgd", "--set", "train.learning_rate=0.5",
                 "--set", "train.validation_trials=4", "--set", "train.test_trials=4"],
    # ES-D-RTRL on the cortex: rank-one traces, with rate regularisation and clipping.
    "cortex_es": [os.path.join(models, "cortex_ei800_evidence.toml"), "--set", "train.rule=es_d_rtrl",
                  "--set", "task.delay_ms=100", "--set", "train.iterations=3", "--set", "train.batch_size=4",
                  "--set", "train.clip_grad_norm=0.5", "--set", "train.validation_trials=4",
                  "--set", "train.test_trials=0"],
    # D-RTRL on GIF cells (three state variables), random feedback.
    "gif_d_rtrl": [os.path.join(models, "eprop_evidence100.toml"), "--set", "task.delay_ms=200",
                   "--set", "train.rule=d_rtrl", "--set", "populations.rec.model=\"gif\"",
                   "--set", "populations.rec.params.current_jump=-0.01", "--set", "train.feedback=random",
                   "--set", "train.iterations=3", "--set", "train.batch_size=4",
                   "--set", "train.validation_trials=4", "--set", "train.test_trials=0"],
    # Reward-based e-prop (SPEC 4.3): TD errors, sampled actions, value readout, entropy bonus.
    "reward": [os.path.join(models, "tmaze_reward.toml"), "--set", "train.iterations=3", "--set", "train.batch_size=4",
               "--set", "train.entropy_coefficient=0.01", "--set", "train.clip_grad_norm=0.5",
               "--set", "train.validation_trials=4", "--set", "train.validation_every=2",
               "--set", "train.test_trials=4"],
}
# (ranks, threads) subsets, to keep the test short: every layout of batch groups, threads and parallel
# modes is in test_concurrent_trials.py (on smaller networks).
SPARSE = {"cortex", "eprop100", "cortex_es", "gif_d_rtrl", "reward"}


def digest(path):
    with h5py.File(path, "r") as f:
        parts = [f[f"weights/{p}/values"][()].tobytes() for p in sorted(f["weights"])]
        parts += [f[f"training/{d}"][()].tobytes() for d in ("loss", "accuracy", "rate_hz")]
        parts += [f["validation/accuracy"][()].tobytes()]
        parts += [f[f"training/{d}"][()].tobytes() for d in ("reward", "value") if f"training/{d}" in f]
        return parts


for name, model_args in cases.items():
    ref = None
    for ranks in (1, 2, 4):
        for threads in (1, 2):
            if name in SPARSE and (ranks, threads) not in ((1, 1), (2, 1), (4, 2)):
                continue
            out = os.path.join(args.work_dir, f"{name}_{ranks}x{threads}.h5")
            run(mpi_command(args, ranks, "train", *model_args, "-o", out, "-q", "--threads", str(threads)))
            d = digest(out)
            if ref is None:
                ref = d
                with h5py.File(out, "r") as f:
                    moved = [np.abs(f[f"weights/{p}/values"][1] - f[f"weights/{p}/values"][0]).max()
                             for p in f["weights"]]
                    c.check(min(moved) > 0, f"{name}: every plastic projection changed ({min(moved):.3g})")
            c.check(d == ref, f"{name}: {ranks} rank(s) x {threads} thread(s) give the same weights and curves as 1 x 1")
            print(f"{name}: {ranks} x {threads} done")

# The result file of a training run.
out = os.path.join(args.work_dir, "cortex_1x1.h5")
with h5py.File(out, "r") as f:
    c.check(f["training/loss"].shape == (3,) and f["training/accuracy"].shape == (3,), "one loss and accuracy per iteration")
    c.check(list(f["validation/iteration"][()]) == [2.0, 3.0], "validation every 2 iterations and after the last")
    c.check(f["validation/accuracy"].shape == (2,), "one validation accuracy per validation")
    names = [k for k in f["weights"]]
    c.check(all("weight" in f"weights/{n}" for n in names) and len(names) == 8, f"trained weights: {names}")
    c.check(f["weights/EE/values"].shape[0] == 2, "initial and trained weights")
    # Dale's law: excitatory sources keep weights >= 0, inhibitory ones <= 0, through learning.
    for p in names:
        src = f[f"weights/{p}"].attrs["source"]
        w = f[f"weights/{p}/values"][1]
        if src == "E":
            c.check(w.min() >= 0, f"Dale: {p} weights stay >= 0 (min {w.min():.3g})")
        if src == "I":
            c.check(w.max() <= 0, f"Dale: {p} weights stay <= 0 (max {w.max():.3g})")
    for ex in ("before", "after"):
        g = f[f"examples/{ex}"]
        c.check("readout" in g and g["readout"].shape == (1300, 2), f"example {ex}: readout trace")
        c.check("v" in g and g["v"].shape[0] == 1300, f"example {ex}: membrane traces")
        c.check(g["spikes/E/timestamps"].shape[0] > 0, f"example {ex}: spikes of E")
    c.check("accuracy" in f["test"].attrs, "test accuracy")
    c.check(f["metadata/learning_state_bytes"].shape == (1,), "learning state bytes per rank")

# The figure.
r = subprocess.run([os.path.join(os.path.dirname(args.plexus), "plexus-plot"), out, "-o",
                    os.path.join(args.work_dir, "cortex.png")], capture_output=True, text=True)
c.check(r.returncode == 0 and os.path.getsize(os.path.join(args.work_dir, "cortex.png")) > 20000,
        f"plexus-plot draws the training figure ({r.stderr.strip()[-300:]})")

# Errors: exit code 2 with file, line and key, and nothing written.
base = open(os.path.join(models, "tmaze_mouse100.toml")).read()
bad = {
    "unknown_train_key": (base.replace("[train]\n", "[train]\nbatchsize = 3\n"), "'train.batchsize'"),
    "unknown_rule": (base.replace('rule = "eprop"', 'rule = "bptt"'), "'train.rule'"),
    "input_size": (base.replace("size = 40", "size = 41", 1), "'populations.input.size'"),
    "no_task": (base.replace('[task]\nkind = "evidence"\nprofile = "mouse"\n', ''), "[task]"),
    "readout_delay": (base.replace('target = "out"\nrule = "all_to_all"\nweight = { dist = "normal", mean = 0.0, std = 0.1 }\ndelay_ms = 0.0',
                                   'target = "out"\nrule = "all_to_all"\nweight = { dist = "normal", mean = 0.0, std = 0.1 }\ndelay_ms = 1.0'),
                      "delay 0"),
}
# Reward mode: the readout needs outputs + 1 neurons (policy and value); reward keys need the mode.
rbase = open(os.path.join(models, "tmaze_reward.toml")).read()
bad["reward_readout"] = (rbase.replace("size = 3", "size = 2"), "needs 3 readout neurons")
bad["reward_key_without_mode"] = (base.replace("[train]\n", "[train]\ndiscount = 0.9\n"), "only with mode")
bad["curriculum_too_long"] = (rbase.replace("[train]\n", "[train]\ncurriculum_iterations = 10\n"
                                            "curriculum_delay_start_ms = 500.0\n"), "must not exceed")
# A rule's own table ([train.es_d_rtrl]) takes [train]'s keys but "rule", and must be a table.
es_table = "[train.es_d_rtrl]\n"  # the model has one (lambda)
bad["rule_table_key"] = (base.replace(es_table, es_table + "lambda_x = 0.9\n"), "'train.es_d_rtrl.lambda_x'")
bad["rule_table_rule"] = (base + "\n[train.d_rtrl]\nrule = \"eprop\"\n", "'train.d_rtrl.rule'")
bad["rule_table_type"] = (base.replace("[train]\n", "[train]\neprop = 3\n"), "must be a table")
bad["rule_table_range"] = (base.replace('rule = "eprop"', 'rule = "es_d_rtrl"').replace(es_table + "lambda = 0.998",
                                                                                   es_table + "lambda = 1.0"),
                           "'train.es_d_rtrl.lambda'")
for name, (text, needle) in bad.items():
    if text == base or text == rbase:
        c.check(False, f"{name}: the case changes the model")
        continue
    path = os.path.join(args.work_dir, f"bad_{name}.toml")
    open(path, "w").write(text)
    res = os.path.join(args.work_dir, f"bad_{name}.h5")
    r = run(mpi_command(args, 2, "train", path, "-o", res), expect=2)
    c.check(needle in r.stderr, f"{name}: message names {needle}: {r.stderr.strip()[-200:]}")
    c.check(not os.path.exists(res) and not os.path.exists(res + ".partial"), f"{name}: nothing written")

# The selected rule's table overrides [train]; the other rules' tables are ignored. Weights after two
# iterations equal those of the same settings given directly in [train].
short = ["--set", "train.iterations=2", "--set", "train.batch_size=4", "--set", "train.validation_trials=0",
         "--set", "train.test_trials=0"]
mouse = os.path.join(models, "tmaze_mouse100.toml")
variants = {
    "direct": ["--set", "train.rule=es_d_rtrl", "--set", "train.lambda=0.99", "--set", "train.learning_rate=0.01"],
    "table": ["--set", "train.rule=es_d_rtrl", "--set", "train.es_d_rtrl.lambda=0.99",
              "--set", "train.es_d_rtrl.learning_rate=0.01", "--set", "train.d_rtrl.learning_rate=0.5",
              "--set", "train.eprop.lambda=0.5"],
    "other_rule": ["--set", "train.rule=es_d_rtrl", "--set", "train.lambda=0.99",
                   "--set", "train.d_rtrl.learning_rate=0.01"],
}
weights = {}
for name, extra in variants.items():
    res = os.path.join(args.work_dir, f"rule_table_{name}.h5")
    r = run(mpi_command(args, 1, "train", mouse, "-o", res, *short, *extra))
    weights[name] = digest(res)
    if name == "table":
        c.check("lambda, learning_rate from [train.es_d_rtrl]" in r.stderr,
                f"the progress line names the rule's own settings: {r.stderr[:400]}")
c.check(weights["table"] == weights["direct"], "[train.es_d_rtrl] settings act as if given in [train]")
# A --set of a [train] key wins over the file's rule table; a --set of the table's key over both.
tabled = os.path.join(args.work_dir, "rule_table.toml")
open(tabled, "w").write(base.replace(es_table, es_table + "iterations = 4\nbatch_size = 2\n"))
for extra, want in (([], 4), (["--set", "train.iterations=2"], 2),
                    (["--set", "train.iterations=2", "--set", "train.es_d_rtrl.iterations=3"], 3)):
    res = os.path.join(args.work_dir, "rule_table_precedence.h5")
    run(mpi_command(args, 1, "train", tabled, "-o", res, "-q", "--set", "train.rule=es_d_rtrl",
                    "--set", "train.validation_trials=0", "--set", "train.test_trials=0", *extra))
    with h5py.File(res, "r") as f:
        got = int(f["training"].attrs["iterations"])
    c.check(got == want, f"precedence with {extra}: {got} iterations, expected {want}")
c.check(weights["other_rule"] != weights["direct"], "another rule's table does not apply (and the learning rate matters)")

# restore_best: the written weights and the test are those of the best validation (iteration 16 of
# 30 here, so not the last), equal to a run stopped there; a checkpoint chain keeps them.
best_sets = ["--set", "train.batch_size=4", "--set", "train.validation_trials=16", "--set", "train.validation_every=2",
             "--set", "train.test_trials=16", "--set", "train.learning_rate=0.02"]


def tested(path):
    with h5py.File(path, "r") as f:
        return ([f[f"weights/{p}/values"][()].tobytes() for p in sorted(f["weights"])],
                float(f["test"].attrs["accuracy"]), int(f["training"].attrs.get("restored_iteration", 0)))


best = os.path.join(args.work_dir, "restore_best.h5")
r = run(mpi_command(args, 2, "train", mouse, "-o", best, *best_sets, "--set", "train.iterations=30",
                    "--set", "train.restore_best=true"))
bw, bacc, bit = tested(best)
c.check(0 < bit < 30, f"the best validation is not the last iteration (iteration {bit})")
c.check(f"the weights of iteration {bit}" in r.stdout, "the summary says which weights were tested")
stopped = os.path.join(args.work_dir, "restore_best_stopped.h5")
run(mpi_command(args, 1, "train", mouse, "-o", stopped, *best_sets, "--set", f"train.iterations={bit}"))
sw, sacc, _ = tested(stopped)
c.check(bw == sw and bacc == sacc, f"restored weights and test accuracy ({bacc}) equal a run of {bit} iterations ({sacc})")
chain, ck = os.path.join(args.work_dir, "restore_best_chain.h5"), os.path.join(args.work_dir, "ck_best")
run(mpi_command(args, 1, "train", mouse, "-o", chain, "-q", *best_sets, "--set", "train.iterations=30",
                "--set", "train.restore_best=true", "--checkpoint-dir", ck, "--stop-at-iteration", "20"))
run(mpi_command(args, 2, "resume", ck, "-q"))
c.check(tested(chain) == (bw, bacc, bit), "a checkpoint chain (1 -> 2 ranks) after the best iteration gives the same")

# learning_rate_scale: one projection's step is scaled, the others' are not. After one update the
# change of in_rec is half that of the unscaled run (Adam: the step is proportional to the rate),
# and rec_rec and rec_out change as they do without the scale.
one = ["--set", "train.iterations=1", "--set", "train.batch_size=4", "--set", "train.validation_trials=0",
       "--set", "train.test_trials=0"]
changes = {}
for name, extra in (("plain", []), ("scaled", ["--set", "train.learning_rate_scale={ in_rec = 0.5 }"])):
    res = os.path.join(args.work_dir, f"lr_scale_{name}.h5")
    run(mpi_command(args, 2, "train", mouse, "-o", res, "-q", *one, *extra))
    with h5py.File(res, "r") as f:
        changes[name] = {p: f[f"weights/{p}/values"][1] - f[f"weights/{p}/values"][0] for p in f["weights"]}
d_plain, d_scaled = changes["plain"]["in_rec"], changes["scaled"]["in_rec"]
c.check(np.abs(d_plain).max() > 0, "in_rec changed")
c.check(np.allclose(d_scaled, 0.5 * d_plain, rtol=1e-3, atol=1e-6),
        f"in_rec moves half as far (max deviation {np.abs(d_scaled - 0.5 * d_plain).max():.2e})")
for p in ("rec_rec", "rec_out"):
    c.check(np.array_equal(changes["scaled"][p], changes["plain"][p]), f"{p} is not scaled")
r = run(mpi_command(args, 1, "train", mouse, "-q", *one, "--set", "train.learning_rate_scale={ nope = 2 }"), expect=2)
c.check("'nope' is not a plastic projection" in r.stderr, "an unknown projection in learning_rate_scale is refused")
c.finish()
