"""Concurrent trials (decisions/0016): a batch's trials split over batch groups of ranks and, within a
rank, run as instances one per thread ("trials") or one at a time with the neurons split over the
threads ("neurons"). Trained weights, curves, validation, test accuracy, examples and checkpoints are
byte-identical over (1, 2, 4 ranks) x (1, 2 threads) x (batch groups 1, 2) x (trials, neurons), for
e-prop, ES-D-RTRL and reward-based e-prop; a checkpoint written at (2 ranks, 2 groups) resumes at
(1 rank, 2 threads) to the same result; auto picks trials when it may and keeps only the instances
the memory budget holds; bad settings are refused with exit code 2 before anything is written."""
import glob
import os
import re

from common import Checker, mpi_command, parse_args, result_digests, run

args = parse_args()
c = Checker()
w = args.work_dir
models = os.path.join(args.source_dir, "models")
mouse = os.path.join(models, "tmaze_mouse100.toml")

# Short runs: 2 iterations of batch 4 (2 trials per group with 2 groups), validation and test trials
# split over the groups too.
SHORT = ["--set", "train.iterations=2", "--set", "train.batch_size=4", "--set", "train.validation_trials=4",
         "--set", "train.validation_every=1", "--set", "train.test_trials=4", "--set", "train.target_accuracy=2"]
cases = {
    "eprop": [mouse, *SHORT],
    "es_d_rtrl": [mouse, *SHORT, "--set", "train.rule=es_d_rtrl"],
    "reward": [os.path.join(models, "tmaze_reward.toml"), *SHORT, "--set", "train.entropy_coefficient=0.01"],
}


def digest(path):
    d = result_digests(path)
    d.pop("training/seconds", None)  # wall time per iteration
    return d


def layouts():
    for ranks in (1, 2, 4):
        for groups in (1, 2):
            if groups > ranks:
                continue
            for threads in (1, 2):
                for mode in ("trials", "neurons"):
                    yield ranks, groups, threads, mode


for name, model_args in cases.items():
    ref = None
    for ranks, groups, threads, mode in layouts():
        tag = f"{name}_{ranks}r_{groups}g_{threads}t_{mode}"
        out = os.path.join(w, tag + ".h5")
        r = run(mpi_command(args, ranks, "train", *model_args, "-o", out, "--threads", str(threads),
                            "--batch-groups", str(groups), "--set", f'train.parallel="{mode}"'))
        said = re.search(r"(\d+) batch group\(s\) of (\d+) rank\(s\); (one trial at a time|(\d+) trial\(s\) at once)",
                         r.stdout + r.stderr)
        c.check(said and int(said.group(1)) == groups and int(said.group(2)) == ranks // groups,
                f"{tag}: the log states the groups ({said.group(0) if said else r.stderr[-300:]})")
        if mode == "trials":
            c.check(said and said.group(4) and int(said.group(4)) == threads, f"{tag}: {threads} instance(s) per rank")
        d = digest(out)
        if ref is None:
            ref = d
            c.check(any(k.startswith("weights/") for k in d) and "validation/accuracy" in d,
                    f"{name}: the result holds weights and validation")
        diff = sorted(k for k in set(d) | set(ref) if d.get(k) != ref.get(k))
        c.check(not diff, f"{tag}: identical to 1 rank x 1 thread ({diff[:5]})")
    print(f"{name}: {sum(1 for _ in layouts())} layouts done")


# Checkpoints: the same content whatever the layout; (2 ranks, 2 groups) resumed at (1 rank, 2 threads).
def manifest_arrays(ck):
    """Per-array CRC-32 (in id order) from the newest checkpoint's manifest."""
    newest = sorted(glob.glob(os.path.join(ck, "ckpt-*")))[-1]
    text = open(os.path.join(newest, "manifest.txt"), errors="replace").read()
    return dict(re.findall(r"\d+ ((?:sim|train)/\S+) \d+ float\d\d \d+ \d+ (\d+)", text))


eprop = cases["eprop"][:]
eprop[eprop.index("train.iterations=2")] = "train.iterations=3"
reference = os.path.join(w, "ck_reference.h5")
run(mpi_command(args, 1, "train", *eprop, "-o", reference, "-q"))
crcs = {}
for ranks, groups, threads in ((2, 2, 1), (1, 1, 2), (4, 2, 2)):
    ck = os.path.join(w, f"ck_{ranks}_{groups}_{threads}")
    out = os.path.join(w, f"ck_{ranks}_{groups}_{threads}.h5")
    run(mpi_command(args, ranks, "train", *eprop, "-o", out, "-q", "--threads", str(threads), "--batch-groups",
                    str(groups), "--checkpoint-dir", ck, "--stop-at-iteration", "1"))
    crcs[(ranks, groups, threads)] = manifest_arrays(ck)
first = crcs[(2, 2, 1)]
c.check(len(first) > 10, f"the checkpoint lists its arrays ({len(first)})")
for k, v in crcs.items():
    diff = sorted(a for a in set(v) | set(first) if v.get(a) != first.get(a))
    c.check(not diff, f"checkpoint at {k} (ranks, groups, threads) holds the same arrays as at (2, 2, 1) ({diff[:4]})")
run(mpi_command(args, 1, "resume", os.path.join(w, "ck_2_2_1"), "-q", "--threads", "2"))
d, ref = digest(os.path.join(w, "ck_2_2_1.h5")), digest(reference)
diff = sorted(k for k in set(d) | set(ref) if d.get(k) != ref.get(k))
c.check(not diff, f"(2 ranks, 2 groups) stopped after iteration 1, resumed at (1 rank, 2 threads): same result ({diff[:5]})")
run(mpi_command(args, 2, "resume", os.path.join(w, "ck_1_1_2"), "-q", "--batch-groups", "2"))
d = digest(os.path.join(w, "ck_1_1_2.h5"))
c.check(d == ref, "(1 rank, 2 threads) resumed at (2 ranks, 2 groups): same result")

# auto: trials with 2 threads and 2 trials per group; only the instances that fit the memory budget.
out = os.path.join(w, "auto.h5")
r = run(mpi_command(args, 1, "train", *cases["eprop"], "-o", out, "--threads", "2"))
log = r.stdout + r.stderr
c.check("2 trial(s) at once per rank" in log and "auto:" in log, "auto runs 2 trials at once on 2 threads")
c.check(digest(out) == digest(os.path.join(w, "eprop_1r_1g_1t_trials.h5")), "auto: the same result")
m = re.search(r"memory on rank 0: ([0-9.]+) (KiB|MiB) per trial instance x 2 \+ ([0-9.]+) (KiB|MiB) shared", log)
c.check(m is not None, f"the log states bytes per instance and shared ({log[-400:]})")
if m:
    unit = {"KiB": 1 / 1024, "MiB": 1.0}
    inst, shared = float(m.group(1)) * unit[m.group(2)], float(m.group(3)) * unit[m.group(4)]
    budget = shared + 1.5 * inst  # one instance fits, two do not
    out = os.path.join(w, "budget.h5")
    r = run(mpi_command(args, 1, "train", *cases["eprop"], "-o", out, "--threads", "2", "--set",
                        f"train.memory_limit_mb={budget:.4f}"))
    log = r.stdout + r.stderr
    # auto may keep one instance or split neurons instead: either way one instance, within the budget.
    m = re.search(r"per trial instance x (\d+) \+ .* = ([0-9.]+) (KiB|MiB) \(budget ([0-9.]+) (KiB|MiB)\)", log)
    c.check(m and m.group(1) == "1" and float(m.group(2)) * unit[m.group(3)] <= float(m.group(4)) * unit[m.group(5)],
            f"auto keeps within the memory budget ({log[-400:]})")
    c.check(digest(out) == digest(os.path.join(w, "eprop_1r_1g_1t_trials.h5")), "within the budget: the same result")
    # Explicit trials beyond the budget: refused.
    out = os.path.join(w, "over.h5")
    r = run(mpi_command(args, 1, "train", *cases["eprop"], "-o", out, "--threads", "2", "--set",
                        f"train.memory_limit_mb={budget:.4f}", "--set", 'train.parallel="trials"'), expect=2)
    c.check("holds 1 trial instance" in r.stderr and not os.path.exists(out) and not os.path.exists(out + ".partial"),
            f"explicit trials beyond the budget: refused, nothing written ({r.stderr.strip()[-300:]})")

# Refusals: exit 2, a message naming the problem, nothing written.
bad = [
    (2, ["--batch-groups", "3"], "does not divide the 2 ranks"),
    (2, ["--batch-groups", "2", "--set", "train.batch_size=1"], "exceeds the batch of 1"),
    (1, ["--batch-groups", "0"], "--batch-groups"),
    (1, ["--batch-groups", "two"], "--batch-groups"),
    (1, ["--set", "train.memory_limit_mb=0.01"], "too small for one trial instance"),
    (1, ["--set", 'train.parallel="lanes"'], "train.parallel"),
]
for i, (ranks, extra, text) in enumerate(bad):
    out = os.path.join(w, f"bad{i}.h5")
    r = run(mpi_command(args, ranks, "train", *cases["eprop"], "-o", out, *extra), expect=2)
    c.check(text in r.stderr, f"refused {' '.join(extra)}: '{text}' in ({r.stderr.strip()[-300:]})")
    c.check(not os.path.exists(out) and not os.path.exists(out + ".partial"), f"refused {' '.join(extra)}: nothing written")
c.finish()
