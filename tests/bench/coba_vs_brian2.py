#!/usr/bin/python3
"""Wall-time and firing-rate comparison of Plexus and Brian2 on the COBA benchmark network.

Runs models/coba_benchmark.toml with Plexus (one rank, one thread) and the same network written
in Brian2 (cpp_standalone, single thread) for each requested Brian2 integration method, several
times with different seeds, and prints median wall times, mean rates and their ratios.

This is a benchmark, not a test: it prints numbers and exits 0 (it exits non-zero only when a
prerequisite is missing or a simulation fails). See tests/bench/README.md.

Usage:
    /usr/bin/python3 tests/bench/coba_vs_brian2.py [--duration-ms 10000] [--repeats 5]
        [--methods euler,exponential_euler] [--plexus build/bin/plexus] [--markdown]

The script itself needs only the standard library (h5py is used when available, for the
full-precision wall time stored in the Plexus result file). Brian2 runs in its own interpreter
(--brian-python, default /usr/bin/python3, Debian's python3-brian), one subprocess per run, each
with a fresh standalone directory. Brian2's wall time is device._last_run_time: the time of the
simulation loop itself, excluding code generation, compilation and network construction, like
the stepping time Plexus reports.
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N_CELLS = 4000
N_EXC = 3200

# The Brian2 side of the benchmark, run as `python -c BRIAN2_SCRIPT '<json parameters>'`.
# It prints one line "RESULT {json}" on success.
BRIAN2_SCRIPT = r'''
import json, sys
params = json.loads(sys.argv[1])
from brian2 import (NeuronGroup, Synapses, SpikeMonitor, defaultclock, device, ms, mV, prefs,
                    run, seed, set_device)

set_device('cpp_standalone', directory=params['directory'], build_on_run=True)
prefs.devices.cpp_standalone.openmp_threads = 0  # no OpenMP: one thread, like Plexus here
seed(params['seed'])
defaultclock.dt = 0.1 * ms

n_cells, n_exc = params['n_cells'], params['n_exc']
taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
v_th, v_reset, e_leak = -50 * mV, -60 * mV, -60 * mV
e_exc, e_inh = 0 * mV, -80 * mV
drive = 20 * mV  # 200 pA across the 10 nS leak

# Conductances ge, gi are in units of the leak conductance.
equations = """
dv/dt = (ge*(e_exc - v) + gi*(e_inh - v) - (v - e_leak) + drive)/taum : volt (unless refractory)
dge/dt = -ge/taue : 1
dgi/dt = -gi/taui : 1
"""
cells = NeuronGroup(n_cells, equations, threshold='v > v_th', reset='v = v_reset',
                    refractory=5 * ms, method=params['method'])
cells.v = '-55*mV + 5*mV*randn()'
cells.ge = 0
cells.gi = 0
exc = cells[:n_exc]
inh = cells[n_exc:]

# In a Synapses object, i counts from the start of the source subgroup and j from the start of
# the target group, so an autapse is i + (offset of the source subgroup) == j.
exc_syn = Synapses(exc, cells, on_pre='ge += 0.6')  # 6 nS = 0.6 g_L
exc_syn.connect(condition='i != j', p=0.02)
inh_syn = Synapses(inh, cells, on_pre='gi += 6.7')  # 67 nS = 6.7 g_L
inh_syn.connect(condition='i + n_exc != j', p=0.02)

spikes = SpikeMonitor(cells)
run(params['duration_ms'] * ms)

counts = spikes.count[:]
print('RESULT ' + json.dumps({
    'wall_s': float(device._last_run_time),
    'spikes': int(spikes.num_spikes),
    'spikes_E': int(counts[:n_exc].sum()),
    'spikes_I': int(counts[n_exc:].sum()),
    'synapses': int(len(exc_syn) + len(inh_syn)),
}), flush=True)
'''


class BenchError(Exception):
    """A prerequisite is missing or a simulation failed."""


def log(message):
    print(message, file=sys.stderr, flush=True)


def tail(text, lines=30):
    return '\n'.join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------------------------
# Prerequisites


def find_plexus(path):
    """The Plexus binary: as given, or relative to the repository root."""
    candidates = [path]
    if not os.path.isabs(path):
        candidates.append(os.path.join(REPO_ROOT, path))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise BenchError(
        f"Plexus binary not found at '{path}'.\n"
        f"Build it first, from the repository root ({REPO_ROOT}):\n"
        f"    cmake --preset release && cmake --build --preset release\n"
        f"or pass its location with --plexus PATH.")


def find_model(path):
    candidates = [path]
    if not os.path.isabs(path):
        candidates.append(os.path.join(REPO_ROOT, path))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise BenchError(f"model file not found: '{path}'")


def check_brian2(python):
    """Brian2's version string, or BenchError with install instructions."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise BenchError(f"Python interpreter for Brian2 not found: '{python}'")
    proc = subprocess.run([python, '-c', 'import brian2; print(brian2.__version__)'],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(
            f"Brian2 is not importable from {python}:\n{tail(proc.stderr, 5)}\n"
            f"Install Debian's package with\n"
            f"    sudo apt-get install python3-brian\n"
            f"or, from the repository root,\n"
            f"    scripts/install-deps.sh bench\n"
            f"(Brian2 must be importable from {python}; the python3 on PATH may differ.)")
    return proc.stdout.strip().splitlines()[-1]


def plexus_version(plexus):
    proc = subprocess.run([plexus, '--version'], capture_output=True, text=True)
    return 'Plexus ' + (proc.stdout.strip() or proc.stderr.strip() or 'unknown').splitlines()[0]


# ----------------------------------------------------------------------------------------------
# One run of each simulator

FLOAT = r'([-+0-9.eE]+)'
RE_HEADER = re.compile(r'(\d+) neurons, (\d+) synapses; (\d+) rank\(s\) x (\d+) thread\(s\)')
RE_SIMULATED = re.compile(r'simulated ' + FLOAT + r' ms in ' + FLOAT + r' s wall \(' + FLOAT +
                          r' s per simulated second\); (\d+) spikes')
RE_POPULATION = re.compile(r'^\s*(\S+)\s+\S+\s+(\d+) neurons\s+(\d+) spikes\s+' + FLOAT + r' Hz')
RE_PEAK = re.compile(r'peak memory per rank: min ' + FLOAT + r' (\S+) / mean ' + FLOAT +
                     r' (\S+) / max ' + FLOAT + r' (\S+)')
RE_BYTES_PER_SYN = re.compile(r'synapses per rank: .*; ' + FLOAT + r' bytes per synapse')

UNIT_MIB = {'B': 1 / 2**20, 'KiB': 1 / 2**10, 'MiB': 1.0, 'GiB': 2**10, 'TiB': 2**20}


def to_mib(value, unit):
    if unit not in UNIT_MIB:
        raise BenchError(f"unknown memory unit '{unit}' in Plexus output")
    return float(value) * UNIT_MIB[unit]


def parse_plexus_output(text):
    """The numbers of interest from Plexus's console output (raises BenchError if absent)."""
    result = {}
    populations = {}
    for line in text.splitlines():
        if (m := RE_HEADER.search(line)):
            result['synapses'] = int(m.group(2))
            result['ranks'], result['threads'] = int(m.group(3)), int(m.group(4))
        elif (m := RE_SIMULATED.search(line)):
            result['simulated_ms'] = float(m.group(1))
            result['wall_s'] = float(m.group(2))
            result['s_per_sim_s'] = float(m.group(3))
            result['spikes'] = int(m.group(4))
        elif (m := RE_PEAK.search(line)):
            result['peak_mib'] = to_mib(m.group(5), m.group(6))
        elif (m := RE_BYTES_PER_SYN.search(line)):
            result['bytes_per_synapse'] = float(m.group(1))
        elif (m := RE_POPULATION.match(line)):
            populations[m.group(1)] = int(m.group(3))
    missing = [key for key in ('wall_s', 'spikes', 'peak_mib', 'bytes_per_synapse', 'synapses')
               if key not in result]
    if missing or not {'E', 'I'} <= populations.keys():
        raise BenchError('could not parse Plexus output (missing: ' +
                         ', '.join(missing + sorted({'E', 'I'} - populations.keys())) +
                         '):\n' + tail(text))
    result['spikes_E'], result['spikes_I'] = populations['E'], populations['I']
    return result


def read_plexus_file(path, result):
    """Refine the parsed numbers from the result file, if h5py is available."""
    try:
        import h5py
    except ImportError:
        # The console prints the wall time to 10 ms; s per simulated second has more digits.
        result['wall_s'] = max(result['wall_s'], result['s_per_sim_s'] * result['simulated_ms'] / 1e3)
        return
    with h5py.File(path, 'r') as f:
        result['wall_s'] = float(f['/metadata'].attrs['wall_time_s'])
        spikes_E = int(f['/network/populations/E'].attrs['spikes'])
        spikes_I = int(f['/network/populations/I'].attrs['spikes'])
        if (spikes_E, spikes_I) != (result['spikes_E'], result['spikes_I']):
            raise BenchError(f'{path}: spike counts in the file ({spikes_E}, {spikes_I}) differ '
                             f"from the console ({result['spikes_E']}, {result['spikes_I']})")


def run_plexus(plexus, model, duration_ms, seed, workdir):
    output = os.path.join(workdir, f'plexus_seed{seed}.h5')
    command = [plexus, 'run', model, '-o', output, '-q', '--threads', '1',
               '--set', f'run.duration_ms={duration_ms:g}', '--set', f'network.seed={seed}']
    # Plexus reports its peak memory from getrusage(RUSAGE_SELF).ru_maxrss, which on Linux
    # survives execve: started directly from this process it would report at least this Python
    # interpreter's own peak RSS (about 40 MiB once h5py is loaded). Starting it from a forked
    # child of a small shell (the trailing `exit` stops the shell from exec'ing in place) gives
    # it a fresh accounting, so the reported peak is Plexus's own.
    wrapped = ['/bin/sh', '-c', '"$@"; exit $?', 'sh'] + command
    proc = subprocess.run(wrapped, capture_output=True, text=True, env=single_thread_env())
    if proc.returncode != 0:
        raise BenchError(f'Plexus failed (exit {proc.returncode}): {shlex.join(command)}\n' +
                         tail(proc.stdout + '\n' + proc.stderr))
    result = parse_plexus_output(proc.stdout + '\n' + proc.stderr)
    if result.get('ranks', 1) != 1 or result.get('threads', 1) != 1:
        raise BenchError(f"Plexus ran on {result['ranks']} rank(s) x {result['threads']} "
                         f'thread(s), expected 1 x 1')
    read_plexus_file(output, result)
    os.remove(output)
    return result


def run_brian2(python, method, duration_ms, seed, workdir):
    directory = os.path.join(workdir, f'brian2_{method}_seed{seed}')
    params = {'directory': directory, 'method': method, 'seed': seed,
              'duration_ms': duration_ms, 'n_cells': N_CELLS, 'n_exc': N_EXC}
    proc = subprocess.run([python, '-c', BRIAN2_SCRIPT, json.dumps(params)], cwd=workdir,
                          capture_output=True, text=True, env=single_thread_env())
    shutil.rmtree(directory, ignore_errors=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        raise BenchError(f'Brian2 ({method}, seed {seed}) failed (exit {proc.returncode}):\n' +
                         tail(proc.stdout + '\n' + proc.stderr))
    return json.loads(lines[-1][len('RESULT '):])


def single_thread_env():
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = '1'
    return env


# ----------------------------------------------------------------------------------------------
# Statistics and reporting


def pooled_rate_hz(run, duration_ms):
    return run['spikes'] / N_CELLS / (duration_ms / 1e3)


def summarise(runs, duration_ms):
    walls = [r['wall_s'] for r in runs]
    rates = [pooled_rate_hz(r, duration_ms) for r in runs]
    rates_E = [r['spikes_E'] / N_EXC / (duration_ms / 1e3) for r in runs]
    rates_I = [r['spikes_I'] / (N_CELLS - N_EXC) / (duration_ms / 1e3) for r in runs]
    sd = statistics.stdev if len(runs) > 1 else (lambda values: 0.0)
    return {
        'wall_median': statistics.median(walls), 'wall_min': min(walls), 'wall_max': max(walls),
        's_per_sim_s': statistics.median(walls) / (duration_ms / 1e3),
        'rate_mean': statistics.mean(rates), 'rate_sd': sd(rates), 'n': len(runs),
        'rate_E': statistics.mean(rates_E), 'rate_I': statistics.mean(rates_I),
        'synapses': statistics.mean(r['synapses'] for r in runs),
    }


def comparisons(results, methods, duration_ms):
    """Per method: time ratio Brian2 / Plexus and rate difference (Plexus - Brian2) / Brian2."""
    plexus = summarise(results['plexus'], duration_ms)
    rows = []
    for method in methods:
        brian = summarise(results[method], duration_ms)
        paired = [b['wall_s'] / p['wall_s'] for p, b in zip(results['plexus'], results[method])]
        diff = (plexus['rate_mean'] - brian['rate_mean']) / brian['rate_mean'] * 100
        # Standard error of the difference of the two means, relative to Brian2's mean rate.
        se = (plexus['rate_sd'] ** 2 / plexus['n'] + brian['rate_sd'] ** 2 / brian['n']) ** 0.5
        rows.append({'method': method,
                     'time_ratio': brian['wall_median'] / plexus['wall_median'],
                     'paired_min': min(paired), 'paired_max': max(paired),
                     'rate_diff_pct': diff, 'rate_diff_se_pct': se / brian['rate_mean'] * 100})
    return rows


def memory_summary(plexus_runs):
    bytes_per_syn = sorted({r['bytes_per_synapse'] for r in plexus_runs})
    peaks = [r['peak_mib'] for r in plexus_runs]
    return {'bytes_per_synapse': '/'.join(f'{b:.2f}' for b in bytes_per_syn),
            'peak_median': statistics.median(peaks), 'peak_max': max(peaks)}


def rows_for_table(results, methods, duration_ms):
    labels = [('Plexus', 'exponential Euler (built in)', 'plexus')]
    labels += [('Brian2', method, method) for method in methods]
    rows = []
    for simulator, method, key in labels:
        s = summarise(results[key], duration_ms)
        rows.append([simulator, method,
                     f"{s['wall_median']:.3f} [{s['wall_min']:.3f}, {s['wall_max']:.3f}]",
                     f"{s['s_per_sim_s']:.4f}",
                     f"{s['rate_mean']:.3f} ± {s['rate_sd']:.3f}",
                     f"{s['rate_E']:.3f}", f"{s['rate_I']:.3f}",
                     f"{s['synapses']:.0f}"])
    return rows


HEADERS = ['simulator', 'method', 'wall s: median [min, max]', 's / sim. s',
           'rate Hz: mean ± sd', 'E Hz', 'I Hz', 'synapses']


def print_text(results, methods, args, info):
    rows = rows_for_table(results, methods, args.duration_ms)
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(HEADERS)]
    line = lambda cells: '  '.join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()
    print(f"COBA benchmark: {N_CELLS} cells ({N_EXC} E, {N_CELLS - N_EXC} I), "
          f"{args.duration_ms:g} ms simulated at dt 0.1 ms, {args.repeats} repeat(s) "
          f"(seeds 1..{args.repeats}), one rank / one thread")
    print(f"{info['plexus_version']}; Brian2 {info['brian2_version']} (cpp_standalone); "
          f"CPU {info['cpu']} ({info['cores']} logical CPUs); load average at start "
          f"{info['load']}")
    print()
    print(line(HEADERS))
    print(line(['-' * w for w in widths]))
    for row in rows:
        print(line(row))
    print()
    print('Brian2 / Plexus (time ratio > 1: Plexus faster; rate difference = (Plexus - Brian2) / '
          'Brian2, ± standard error):')
    for c in comparisons(results, methods, args.duration_ms):
        print(f"  {c['method']:<18} time ratio {c['time_ratio']:.2f}x "
              f"(per-repeat pairs {c['paired_min']:.2f}x .. {c['paired_max']:.2f}x), "
              f"rate difference {c['rate_diff_pct']:+.2f} % ± {c['rate_diff_se_pct']:.2f} %")
    mem = memory_summary(results['plexus'])
    print()
    print(f"Plexus memory: {mem['bytes_per_synapse']} bytes per synapse; peak memory per rank "
          f"{mem['peak_median']:.2f} MiB (median over runs; max {mem['peak_max']:.2f} MiB)")
    print()
    print(f"command: {info['command']}")
    print(f"date: {info['date']}; total benchmark time {info['elapsed']:.0f} s")


def print_markdown(results, methods, args, info):
    rows = rows_for_table(results, methods, args.duration_ms)
    print(f"COBA benchmark ({N_CELLS} cells, {args.duration_ms:g} ms simulated, dt 0.1 ms, "
          f"{args.repeats} repeat(s), one rank / one thread), {info['date']}.")
    print()
    print(f"- CPU: {info['cpu']}, {info['cores']} logical CPUs (load average at start "
          f"{info['load']})")
    print(f"- {info['plexus_version']}; Brian2 {info['brian2_version']} (cpp_standalone, "
          f"`openmp_threads = 0`)")
    print(f"- Command: `{info['command']}`")
    print()
    print('| ' + ' | '.join(HEADERS) + ' |')
    print('|' + '|'.join(['---', '---'] + ['---:'] * (len(HEADERS) - 2)) + '|')
    for row in rows:
        print('| ' + ' | '.join(row) + ' |')
    print()
    print('| Brian2 method | Brian2 / Plexus time | per-repeat range | '
          'rate difference (Plexus − Brian2) / Brian2 |')
    print('|---|---:|---:|---:|')
    for c in comparisons(results, methods, args.duration_ms):
        print(f"| {c['method']} | {c['time_ratio']:.2f}× | {c['paired_min']:.2f}× – "
              f"{c['paired_max']:.2f}× | {c['rate_diff_pct']:+.2f} % ± "
              f"{c['rate_diff_se_pct']:.2f} % |")
    mem = memory_summary(results['plexus'])
    print()
    print(f"Plexus: {mem['bytes_per_synapse']} bytes per synapse, peak memory per rank "
          f"{mem['peak_median']:.2f} MiB (median; max {mem['peak_max']:.2f} MiB). Wall times "
          f"exclude network construction and, for Brian2, code generation and compilation "
          f"(`device._last_run_time`). Time ratio > 1 means Plexus is faster.")


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.lower().startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def utc_date():
    try:
        return subprocess.run(['date', '-u'], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())


# ----------------------------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--duration-ms', type=float, default=10000.0,
                        help='simulated time per run (default 10000)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='runs per simulator and method, seeds 1..N (default 5)')
    parser.add_argument('--methods', default='euler,exponential_euler',
                        help="comma-separated Brian2 integration methods "
                             "(default 'euler,exponential_euler')")
    parser.add_argument('--plexus', default='build/bin/plexus',
                        help='Plexus binary (default build/bin/plexus, relative to the current '
                             'directory or the repository root)')
    parser.add_argument('--model', default='models/coba_benchmark.toml',
                        help='Plexus model file (default models/coba_benchmark.toml)')
    parser.add_argument('--brian-python', default='/usr/bin/python3',
                        help='interpreter that can import brian2 (default /usr/bin/python3)')
    parser.add_argument('--markdown', action='store_true',
                        help='print a markdown report (date, CPU, command, tables) instead of '
                             'the plain-text table')
    args = parser.parse_args()
    args.methods = [m.strip() for m in args.methods.split(',') if m.strip()]
    if not args.methods:
        parser.error('--methods: give at least one Brian2 method')
    if len(set(args.methods)) != len(args.methods):
        parser.error('--methods: duplicate method')
    if 'plexus' in args.methods:
        parser.error("--methods: 'plexus' is not a Brian2 method")
    if args.repeats < 1:
        parser.error('--repeats must be at least 1')
    if args.duration_ms <= 0:
        parser.error('--duration-ms must be positive')
    return args


def main():
    args = parse_args()
    started = time.time()
    info = {'command': shlex.join([sys.executable] + sys.argv), 'date': utc_date(),
            'cpu': cpu_model(), 'cores': os.cpu_count(),
            'load': ' '.join(f'{x:.2f}' for x in os.getloadavg())}
    try:
        plexus = find_plexus(args.plexus)
        model = find_model(args.model)
        info['brian2_version'] = check_brian2(args.brian_python)
        info['plexus_version'] = plexus_version(plexus)

        results = {'plexus': []}
        results.update({method: [] for method in args.methods})
        jobs = ['plexus'] + args.methods
        with tempfile.TemporaryDirectory(prefix='plexus-coba-bench-') as workdir:
            for i in range(args.repeats):
                seed = i + 1
                # Rotate the order from repeat to repeat so that slow drifts of the machine's
                # load do not always hit the same simulator.
                shift = i % len(jobs)
                for job in jobs[shift:] + jobs[:shift]:
                    t0 = time.time()
                    if job == 'plexus':
                        run = run_plexus(plexus, model, args.duration_ms, seed, workdir)
                        label = 'Plexus'
                    else:
                        run = run_brian2(args.brian_python, job, args.duration_ms, seed, workdir)
                        label = f'Brian2 {job}'
                    results[job].append(run)
                    log(f"[repeat {i + 1}/{args.repeats}, seed {seed}] {label:<26} "
                        f"{run['wall_s']:8.3f} s wall, "
                        f"{pooled_rate_hz(run, args.duration_ms):7.3f} Hz, "
                        f"{run['synapses']} synapses ({time.time() - t0:.1f} s incl. setup)")
    except BenchError as error:
        print(f'coba_vs_brian2: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('coba_vs_brian2: interrupted', file=sys.stderr)
        return 130

    info['elapsed'] = time.time() - started
    if args.markdown:
        print_markdown(results, args.methods, args, info)
    else:
        print_text(results, args.methods, args, info)
    return 0


if __name__ == '__main__':
    sys.exit(main())
