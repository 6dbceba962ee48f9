#!/usr/bin/python3
"""e-prop, D-RTRL and ES-D-RTRL side by side on one model: seconds per iteration (median of
repeats, training iterations only), learning-state bytes per rank split by kind (per synapse, of
which eligibility traces, per neuron, per source), and the ratios of D-RTRL and ES-D-RTRL to
e-prop measured in the same run. A fourth timing trains the readout alone (e-prop on the
projections into the readout population): the cost of simulating the network, so that each
rule's own cost, its time above that, can be compared too. With --learn, each rule also trains with the model's own
schedule (or --set overrides) and the test accuracy and iterations are reported. Prints a
markdown table.

    /usr/bin/python3 tests/bench/learning_rules.py --model models/cortex_ei800_evidence.toml --ranks 2
    /usr/bin/python3 tests/bench/learning_rules.py --model models/dms200.toml --ranks 2 --learn
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tomllib

import h5py

RULES = ("eprop", "d_rtrl", "es_d_rtrl")


def env():
    e = dict(os.environ)
    e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_WAIT_POLICY="passive")
    return e


def cmd(args, *rest):
    c = [args.plexus] + list(rest)
    if args.ranks > 1:
        c = [args.mpiexec, "-n", str(args.ranks), "--oversubscribe", "--bind-to", "none"] + c
    return c


def train(args, rule, out, sets):
    s = ["--set", f"train.rule={rule}"] + [x for v in args.set + sets for x in ("--set", v)]
    r = subprocess.run(cmd(args, "train", args.model, "-o", out, "-q", *s), capture_output=True, text=True, env=env())
    if r.returncode != 0:
        sys.exit(f"{rule} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    with h5py.File(out, "r") as f:
        md = f["metadata"]
        split = {k: max(int(x) for x in md[f"learning_{k}_bytes"][()]) for k in ("synapse", "trace", "neuron", "source")}
        res = {
            "s_per_it": float(f["training"].attrs["seconds_per_iteration"]),
            "state": max(int(x) for x in md["learning_state_bytes"][()]),
            "rss": max(int(x) for x in md["peak_rss_bytes"][()]),
            "synapses": int(f["training"].attrs["plastic_synapses"]),
            "iterations": int(f["training"].attrs["iterations"]),
            **split,
        }
        if "test" in f and "accuracy" in f["test"].attrs:
            res["test"] = float(f["test"].attrs["accuracy"])
        if "validation/accuracy" in f and f["validation/accuracy"].shape[0]:
            res["best_validation"] = float(f["validation/accuracy"][()].max())
            res["curve"] = (f["validation/iteration"][()].tolist(), f["validation/accuracy"][()].tolist())
    return res


def readout_projections(model):
    with open(model, "rb") as f:
        m = tomllib.load(f)
    pops = m.get("populations", {})
    return [n for n, p in m.get("projections", {}).items() if pops.get(p.get("target"), {}).get("model") == "readout"]


def mib(b):
    return f"{b / 2**20:.2f} MiB"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--plexus", default="build/bin/plexus")
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3, help="iterations per timing run")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rules", default=",".join(RULES))
    p.add_argument("--learn", action="store_true", help="also train with the model's schedule")
    p.add_argument("--set", action="append", default=[], help="override for every run")
    p.add_argument("--work", default="bench-rules")
    p.add_argument("--figure", help="with --learn: validation accuracy of every rule over iterations (PNG)")
    p.add_argument("--timing", action=argparse.BooleanOptionalAction, default=True, help="run the timing part")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rules = args.rules.split(",")
    timing = {}
    # In [train.eprop], so that it wins over a plastic list the model's own table may have.
    readout_only = "train.eprop.plastic=[" + ",".join(f'"{n}"' for n in readout_projections(args.model)) + "]"
    for rule in (rules + ["readout"] if args.timing else []):
        runs = []
        for k in range(args.repeats):
            out = os.path.join(args.work, f"{rule}_t{k}.h5")
            extra = [readout_only] if rule == "readout" else []
            runs.append(train(args, "eprop" if rule == "readout" else rule, out,
                              [f"train.iterations={args.iterations}", f"train.batch_size={args.batch}",
                               "train.validation_trials=0", "train.test_trials=0", "train.target_accuracy=2"] + extra))
        med = statistics.median(r["s_per_it"] for r in runs)
        timing[rule] = dict(runs[0], s_per_it=med, all=[r["s_per_it"] for r in runs])
        print(f"{rule}: {med:.3f} s/it {timing[rule]['all']}", file=sys.stderr)
    base = timing.get("eprop")
    if args.timing:
        table(args, rules, timing, base)
    if args.learn:
        learned = {}
        print("\n| rule | iterations | best validation | test accuracy | s per iteration |")
        print("| --- | --- | --- | --- | --- |")
        for rule in rules:
            r = learned[rule] = train(args, rule, os.path.join(args.work, f"{rule}_learn.h5"), [])
            print(f"| {rule} | {r['iterations']} | {r.get('best_validation', float('nan')):.3f} | "
                  f"{r.get('test', float('nan')):.3f} | {r['s_per_it']:.3f} |", flush=True)
        if args.figure:
            figure(args, learned)


def figure(args, learned):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for rule, r in learned.items():
        if "curve" in r:
            it, acc = r["curve"]
            ax.plot(it, acc, marker="o", ms=3, label=f"{rule} (test {r.get('test', float('nan')):.3f})")
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation accuracy")
    ax.set_title(os.path.basename(args.model), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.figure, dpi=120)
    print(f"wrote {args.figure}", file=sys.stderr)


def table(args, rules, timing, base):
    print(f"\n{args.model}, {args.ranks} rank(s), batch {args.batch}, median of {args.repeats} runs of "
          f"{args.iterations} iterations\n")
    print("| rule | s per iteration | ÷ e-prop | learning state per rank | per synapse (traces) | per neuron | "
          "per source | ÷ e-prop | trace bytes per synapse | peak RSS per rank |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for rule in rules:
        t = timing[rule]
        rt = f"{t['s_per_it'] / base['s_per_it']:.2f}" if base else "-"
        rm = f"{t['state'] / base['state']:.2f}" if base else "-"
        print(f"| {rule} | {t['s_per_it']:.3f} | {rt} | {mib(t['state'])} | {mib(t['synapse'])} "
              f"({mib(t['trace'])}) | {t['neuron'] / 1024:.1f} KiB | {t['source'] / 1024:.1f} KiB | {rm} | "
              f"{t['trace'] / max(t['synapses'] / args.ranks, 1):.1f} | {mib(t['rss'])} |")
    sim = timing.get("readout")
    if sim:
        print(f"\nReadout alone (the network's simulation and the readout's learning): {sim['s_per_it']:.3f} s per "
              "iteration. Each rule's own cost, its time above that:\n")
        print("| rule | s per iteration above the readout-only run | ÷ e-prop |")
        print("| --- | --- | --- |")
        eo = base["s_per_it"] - sim["s_per_it"] if base else None
        for rule in rules:
            o = timing[rule]["s_per_it"] - sim["s_per_it"]
            print(f"| {rule} | {o:.3f} | {f'{o / eo:.2f}' if eo and eo > 0 else '-'} |")


if __name__ == "__main__":
    main()
