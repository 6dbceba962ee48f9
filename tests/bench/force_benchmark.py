#!/usr/bin/python3
"""FORCE benchmark: by default the published LIF configuration (models/force_lif_sine.toml: 2000 LIF neurons,
5 s before, 5 s of and 5 s after training, dt 0.05 ms, 15 s in all) with Plexus at 1 and 2 ranks,
and the same network written plainly in NumPy (tests/bench/force_lif_numpy.py) as the peer,
measured in the same run; prints wall and CPU times, their ratios, and the learning metrics.

This is a benchmark, not a test: it prints numbers and exits 0 (non-zero only when a run fails).
See tests/bench/README.md.

Usage (from the repository root):
    /usr/bin/python3 tests/bench/force_benchmark.py [--repeats 3] [--ranks 1,2] [--peer-repeats 1] [--markdown]
    /usr/bin/python3 tests/bench/force_benchmark.py --model models/force_izhikevich_sine.toml --ranks 1 \
        --peer-repeats 0      # the done criteria of the Izhikevich network (no peer for it)

Besides the times it prints, per run, the done criteria of the FORCE issue: RMS error in the last
training second < 0.05, correlation at the best lag > 0.95 in every 1-s test window, amplitude
ratio within 0.85-1.15 and dominant frequency 5 +- 0.25 Hz in every window.

Plexus's times are those it stores in the result file: wall time of the three phases (rank 0)
and CPU time per rank (user + system, all threads); network construction is excluded (0.1 s).
The peer's are those of its simulation loop (time.perf_counter, time.process_time); building its
dense weight matrix is excluded too. Ratios are peer / Plexus (> 1: Plexus faster).
"""

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_plexus(args, ranks, seed, out):
    cmd = [args.plexus, "train", args.model, "-q", "-o", out, "--set", f"network.seed={seed}"]
    if ranks > 1 or args.always_mpiexec:
        cmd = [args.mpiexec, "-n", str(ranks), "--oversubscribe", "--bind-to", "none"] + cmd
    env = dict(os.environ, OMP_WAIT_POLICY="passive", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if args.yield_when_idle:
        # Ranks waiting in the per-step spike exchange yield the core instead of spinning: on a
        # machine with more runnable processes than cores, spinning ranks starve the rank they wait for.
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"plexus failed ({shlex.join(cmd)}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    import h5py
    with h5py.File(out, "r") as f:
        m, g = f["metadata"], f["force"]
        corr = g["metrics/correlation"][()]
        amp = g["metrics/amplitude"][()]
        freq = g["metrics/frequency_hz"][()]
        return {
            "wall_s": float(m.attrs["wall_time_s"]),
            "process_s": elapsed,
            "cpu_s": float(sum(m["cpu_seconds"][()])),
            "train_rms": float(max(g["metrics/train_rms"][()])),
            "min_correlation": float(corr.min()),
            "amplitude": (float(amp.min()), float(amp.max())),
            "frequency_hz": (float(freq.min()), float(freq.max())),
            "rates_hz": [float(x) for x in g["rates/mean_hz"][()]],
            "simulated_s": float(m.attrs["duration_ms"]) * 1e-3,
        }


def run_peer(args, seed):
    cmd = [args.peer_python, os.path.join(REPO_ROOT, "tests", "bench", "force_lif_numpy.py"), "--seed", str(seed)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"the NumPy peer failed ({shlex.join(cmd)}):\n{r.stderr[-2000:]}")
    line = next(x for x in r.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def med(xs):
    return statistics.median(xs)


def fmt_range(xs, digits=2):
    return f"{med(xs):.{digits}f} [{min(xs):.{digits}f}, {max(xs):.{digits}f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="Plexus runs per rank count (seeds 1..n)")
    ap.add_argument("--peer-repeats", type=int, default=1, help="NumPy runs (about 2-3 min each)")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--plexus", default=os.path.join(REPO_ROOT, "build", "bin", "plexus"))
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--always-mpiexec", action="store_true", help="start 1-rank runs under mpiexec too")
    ap.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "force_lif_sine.toml"))
    ap.add_argument("--peer-python", default="/usr/bin/python3")
    ap.add_argument("--yield-when-idle", action="store_true",
                    help="let waiting MPI ranks yield the core (use on a shared, overloaded machine)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    ranks = [int(x) for x in args.ranks.split(",") if x]
    load0 = os.getloadavg()
    results = {r: [] for r in ranks}
    peer = []
    with tempfile.TemporaryDirectory(prefix="plexus-force-bench-") as tmp:
        # Interleaved, so that machine noise hits all alike.
        for rep in range(max(args.repeats, args.peer_repeats)):
            seed = rep + 1
            if rep < args.repeats:
                for r in ranks:
                    res = run_plexus(args, r, seed, os.path.join(tmp, f"r{r}_s{seed}.h5"))
                    results[r].append(res)
                    log(f"plexus {r} rank(s) seed {seed}: wall {res['wall_s']:.2f} s, CPU {res['cpu_s']:.2f} s, "
                        f"RMS {res['train_rms']:.4f}, min correlation {res['min_correlation']:.4f}")
            if rep < args.peer_repeats:
                res = run_peer(args, seed)
                peer.append(res)
                log(f"numpy seed {seed}: wall {res['wall_s']:.1f} s, CPU {res['cpu_s']:.1f} s, "
                    f"RMS {res['train_rms']:.4f}, min correlation {res['min_correlation']}")
    load1 = os.getloadavg()

    simulated_s = results[ranks[0]][0]["simulated_s"] if results.get(ranks[0]) else 15.0
    rows = []
    for r in ranks:
        rs = results[r]
        if not rs:
            continue
        rows.append((f"Plexus {os.path.basename(args.model)}, {r} rank(s)", fmt_range([x["wall_s"] for x in rs]), fmt_range([x["cpu_s"] for x in rs]),
                     f"{med([x['wall_s'] for x in rs]) / simulated_s:.3f}", f"{max(x['train_rms'] for x in rs):.4f}",
                     f"{min(x['min_correlation'] for x in rs):.4f}", len(rs)))
    if peer:
        rows.append(("NumPy (tests/bench/force_lif_numpy.py)", fmt_range([x["wall_s"] for x in peer], 1),
                     fmt_range([x["cpu_s"] for x in peer], 1), f"{med([x['wall_s'] for x in peer]) / 15.0:.2f}",
                     f"{max(x['train_rms'] for x in peer):.4f}",
                     f"{min(x['min_correlation'] for x in peer if x['min_correlation'] is not None):.4f}", len(peer)))
    header = ("implementation", "wall s: median [min, max]", "CPU s: median [min, max]", "wall s / simulated s",
              "last-second RMS (worst)", "min window correlation", "runs")
    if args.markdown:
        print(f"FORCE benchmark ({os.path.basename(args.model)}), {time.strftime('%Y-%m-%d')}, {cpu_name()} "
              f"({os.cpu_count()} CPUs); load average "
              f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end.\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(str(x) for x in row) + " |")
    else:
        for row in [header] + rows:
            print("  ".join(str(x) for x in row))
    # Done criteria, run by run.
    crit_header = ("run", "last-second RMS", "min correlation", "amplitude", "frequency Hz", "criteria")
    crit_rows = []
    for r in ranks:
        for seed, x in enumerate(results[r], start=1):
            ok = (x["train_rms"] < 0.05 and x["min_correlation"] > 0.95 and 0.85 <= x["amplitude"][0]
                  and x["amplitude"][1] <= 1.15 and 4.75 <= x["frequency_hz"][0] and x["frequency_hz"][1] <= 5.25)
            crit_rows.append((f"{r} rank(s), seed {seed}", f"{x['train_rms']:.4f}", f"{x['min_correlation']:.4f}",
                              f"{x['amplitude'][0]:.3f} to {x['amplitude'][1]:.3f}",
                              f"{x['frequency_hz'][0]:.3f} to {x['frequency_hz'][1]:.3f}", "met" if ok else "MISSED"))
    print()
    if args.markdown:
        print("| " + " | ".join(crit_header) + " |")
        print("|" + "---|" * len(crit_header))
        for row in crit_rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in [crit_header] + crit_rows:
            print("  ".join(row))
    if peer and results.get(1):
        w1 = med([x["wall_s"] for x in results[1]])
        c1 = med([x["cpu_s"] for x in results[1]])
        wp, cp = med([x["wall_s"] for x in peer]), med([x["cpu_s"] for x in peer])
        print(f"\nNumPy / Plexus (1 rank): wall {wp / w1:.1f}x, CPU {cp / c1:.1f}x")
    if results.get(1) and results.get(2):
        print(f"1 rank / 2 ranks, wall: {med([x['wall_s'] for x in results[1]]) / med([x['wall_s'] for x in results[2]]):.2f}x")
    print(f"\ncommand: {shlex.join([os.path.relpath(sys.argv[0], REPO_ROOT)] + sys.argv[1:])}")


if __name__ == "__main__":
    main()
