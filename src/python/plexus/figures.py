"""The figures of a Plexus result (raster, rates, traces, weights, learning curve, FORCE target vs output,
tempotron and equilibrium training, scaling and sweep tables): `plexus.plot(result)` and the `plexus-plot`
command, which is a thin wrapper over `main()` here."""

import argparse
import contextlib
import math
import os
import sys
import time

import h5py
import matplotlib
import numpy as np

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")  # before pyplot: no display on cluster nodes (a notebook keeps its own backend)
import matplotlib.pyplot as plt  # noqa: E402

BY_TIME = 2  # value of the SONATA `sorting` enum meaning "sorted by time"
MAX_TRACES = 5  # sampled neurons drawn per (population, variable) panel
MAX_WEIGHTS = 2_000_000  # synapses read per weight histogram; more are strided


class PlotError(Exception):
    pass


def text(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def number(attrs, key, default=math.nan):
    """attrs[key] as a float if it holds one finite number (or a string of one), else `default`: missing, NaN,
    a word such as "n/a", an array. Attributes may be edited by hand or written by other tools, and an odd
    one should show as "n/a" in its figure rather than stop the figure."""
    if key not in attrs:
        return default
    value = np.asarray(attrs[key])
    if value.size != 1:
        return default
    value = value.item()
    try:
        x = float(text(value) if isinstance(value, (bytes, str)) else value)
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def integer(attrs, key, default=None):
    """attrs[key] as an int, else `default` (see number)."""
    x = number(attrs, key)
    return default if math.isnan(x) else int(x)


def shown(x, spec="g"):
    """A number from number() for a title or legend: "n/a" when it was missing or odd."""
    return "n/a" if math.isnan(x) else format(x, spec)


def verdict(attrs):
    """An example trial's `correct` attribute in words (a missing one reads as wrong, as before)."""
    if "correct" not in attrs:
        return "wrong"
    return {0: "wrong", None: "n/a"}.get(integer(attrs, "correct"), "correct")


def members(group):
    """[(name, object)] of an HDF5 group (none if it is None). h5py's items() gives None for a member it cannot
    open; indexing raises the reason instead, which main() reports as a damaged file."""
    return [(name, group[name]) for name in group] if group is not None else []


def round_bin(window_ms, dt_ms):
    """A round bin width (1, 2 or 5 x 10^k ms) giving about 200 bins over the window;
    below 1 ms the rates are too noisy to read unless the window itself is tiny."""
    target = max(window_ms / 200.0, min(window_ms / 10.0, 1.0), dt_ms or 0.0, 1e-6)
    exp = 10.0 ** math.floor(math.log10(target))
    return next(m * exp for m in (1, 2, 5, 10) if m * exp >= target - 1e-12)


def bisect(ds, value, n):
    """First index i < n with ds[i] >= value in a sorted 1-D dataset, reading O(log n) elements, not the array."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if ds[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def read_spikes(group, start, stop):
    """(times, population-local ids) of the spikes in [start, stop)."""
    ts, ids = group["timestamps"], group["node_ids"]
    n = min(ts.shape[0], ids.shape[0])  # a run still writing may have extended only one of them
    if integer(group.attrs, "sorting", 0) == BY_TIME:
        i0, i1 = bisect(ts, start, n), bisect(ts, stop, n)
        return ts[i0:i1], ids[i0:i1].astype(np.int64)
    t = ts[:n]
    keep = (t >= start) & (t < stop)
    return t[keep], ids[:n][keep].astype(np.int64)


def last_time(ds):
    t = float(ds[-1]) if ds.shape[0] else 0.0
    return t if math.isfinite(t) else 0.0


def populations(f):
    """Population name -> size, in network order (by first gid)."""
    pops = f.get("network/populations")
    if pops is None:
        return {}
    names = sorted(pops, key=lambda n: integer(pops[n].attrs, "first_gid", 0))
    return {n: max(integer(pops[n].attrs, "size", 0), 0) for n in names}


def sample_panels(f, wanted, start, stop):
    """[(population, variable, units, times, values[:, :MAX_TRACES], node_ids)] within the window."""
    panels = []
    for pop, g in members(f.get("samples")):
        if (wanted and pop not in wanted) or "times_ms" not in g:
            continue
        times = g["times_ms"][()]
        i0, i1 = np.searchsorted(times, start), np.searchsorted(times, stop, side="right")  # samples end steps
        ids = g["node_ids"][:MAX_TRACES] if "node_ids" in g else np.arange(MAX_TRACES)
        for var, ds in members(g):
            if var in ("times_ms", "node_ids") or ds.ndim != 2:
                continue
            rows = min(i1, ds.shape[0])  # a partial file may hold more times than rows, or fewer
            values = ds[i0:rows, :MAX_TRACES]
            panels.append((pop, var, text(ds.attrs.get("units", "")), times[i0:i0 + len(values)], values, ids))
    return panels


def envelope(t, values, buckets=3000):
    """Min and max of each run of samples, so a long trace draws fast yet keeps its spikes and resets."""
    n = len(t) // buckets
    if n < 3:
        return t, values
    m = n * buckets
    blocks = values[:m].reshape(buckets, n, values.shape[1])
    tb = t[:m].reshape(buckets, n)
    t2 = np.stack([tb[:, 0], tb[:, -1]], axis=1).ravel()
    v2 = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).reshape(2 * buckets, values.shape[1])
    return np.concatenate([t2, t[m:]]), np.concatenate([v2, values[m:]])


def weight_hists(f, start, stop):
    """[(projection, source, target, [(label, weights), ...])]: first and last snapshot in the window."""
    out = []
    for name, g in members(f.get("weights")):
        vals, times = g["values"], g["times_ms"][()]
        n = min(vals.shape[0], len(times))  # a partial file may have one more of either
        if n == 0 or vals.shape[1] == 0:
            continue
        inside = np.flatnonzero((times[:n] >= start) & (times[:n] <= stop))
        rows = inside if len(inside) else np.arange(n)
        stride = max(1, math.ceil(vals.shape[1] / MAX_WEIGHTS))
        first, last = vals[rows[0], ::stride], vals[rows[-1], ::stride]
        t0, t1 = times[rows[0]], times[rows[-1]]
        if rows[-1] == rows[0]:
            snaps = [(f"t = {t0:g} ms", first)]
        elif np.array_equal(first, last):
            snaps = [(f"t = {t0:g} ms (same at {t1:g} ms)", first)]
        else:
            snaps = [(f"t = {t0:g} ms", first), (f"t = {t1:g} ms", last)]
        out.append((name, text(g.attrs.get("source", "?")), text(g.attrs.get("target", "?")), snaps))
    return out


def colour(pop, sizes):
    """A population keeps its colour (from its place in the network) whichever populations are drawn."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return cycle[list(sizes).index(pop) % len(cycle)]


def raster_rows(spikes, sizes, max_neurons):
    """Rows of the raster of these populations (draw_raster draws at most max_neurons per population)."""
    return sum(min(sizes[p], max_neurons) for p in spikes)


def raster_height(rows, full=4.0):
    """Panel height (inches) for a raster of `rows` rows: a few neurons (one STDP cell) get a short
    strip, not a tall, empty-looking panel."""
    return full if rows >= 40 else min(full, 0.8 + 0.08 * rows)


def draw_raster(ax, spikes, sizes, max_neurons, window_s, height_in=None):
    """Populations stacked top to bottom in network order, each on at most max_neurons evenly spaced rows.
    height_in: the panel's height, to size the markers of a raster of a few rows to fill them."""
    rows_per_pop = [min(sizes[p], max_neurons) for p in spikes]
    total = sum(rows_per_pop)
    # A dense raster wants thin ticks; a few rows get ticks of about half a row's height, so each
    # spike is visible on its own.
    ms, mew = max(1.0, min(4.0, 300.0 / max(total, 1))), 0.5
    if height_in and 0 < total <= 10:
        ms, mew = min(14.0, 0.5 * height_in * 72.0 / total), 1.0
    top = total
    ticks, labels = [], []
    for (pop, (t, ids)), rows in zip(spikes.items(), rows_per_pop):
        if rows == 0:
            continue
        chosen = np.unique(np.round(np.linspace(0, sizes[pop] - 1, rows)).astype(np.int64))
        pos = np.searchsorted(chosen, ids).clip(0, len(chosen) - 1)
        keep = chosen[pos] == ids
        y = top - 1 - pos[keep]  # neuron 0 at the top of its band
        rate = len(t) / (sizes[pop] * window_s) if window_s > 0 and sizes[pop] else 0.0
        shown = "" if rows == sizes[pop] else f", {len(chosen)} of {sizes[pop]} shown"
        ax.plot(t[keep], y, "|", ms=ms, mew=mew, color=colour(pop, sizes), rasterized=True,
                label=f"{pop}: {rate:.2f} Hz{shown}")
        ticks.append(top - (rows + 1) / 2)  # the middle of rows top - 1 .. top - rows
        labels.append(pop)
        top -= rows
        if top > 0:
            ax.axhline(top - 0.5, color="0.7", lw=0.5)
    ax.set_ylim(-0.5, total - 0.5)
    ax.set_yticks(ticks, labels)
    ax.set_ylabel("neuron")
    # Proxy handles: a one-pixel '|' marker makes an invisible legend entry.
    handles = [matplotlib.lines.Line2D([], [], color=line.get_color(), lw=3, label=line.get_label())
               for line in ax.get_lines() if not line.get_label().startswith("_")]
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1, 1), ncol=len(handles),
              fontsize="small", frameon=False)


def raster_title(ax, title):
    """A raster's title, on a line of its own above the legend row that draw_raster puts over the axes
    (the two overlapped when the title and the legend were both long)."""
    ax.set_title(title, fontsize="small", loc="left", pad=24)


def test_line(ax, value, label, spec, color="C2"):
    """The test result as a dotted line; a missing or odd value keeps its legend entry, as "n/a"."""
    if math.isnan(value):
        ax.plot([], [], color=color, ls=":", lw=1, label=f"{label} n/a")
    else:
        ax.axhline(value, color=color, ls=":", lw=1, label=f"{label} {value:{spec}}")


def draw_learning_curve(ax, f):
    """Loss (left axis) and, for classification, accuracies (right axis) against training iteration."""
    classification = integer(f["metadata"].attrs, "classification", 1) if "metadata" in f else 1
    loss = f["training/loss"][()] if "training/loss" in f else None
    if loss is not None:
        ax.plot(np.arange(1, len(loss) + 1), loss, color="C3", lw=1, label="training loss (batch)")
        ax.set_ylabel("loss")
    val_it = f["validation/iteration"][()] if "validation/iteration" in f else np.zeros(0)
    if not classification:
        if "validation/loss" in f and len(val_it):
            vl = f["validation/loss"][()]
            n = min(len(val_it), len(vl))
            ax.plot(val_it[:n], vl[:n], color="C2", marker="." if n < 80 else None, label="validation loss (held-out trials)")
        if "test" in f and "loss" in f["test"].attrs:
            test_line(ax, number(f["test"].attrs, "loss"), "test loss", ".4f")
        finite = loss[np.isfinite(loss)] if loss is not None else np.zeros(0)  # NaN: a gap in the curve
        if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 30:
            ax.set_yscale("log")
        acc_ax = ax
    else:
        acc_ax = ax.twinx() if loss is not None else ax
        if "training/accuracy" in f:
            acc = f["training/accuracy"][()]
            acc_ax.plot(np.arange(1, len(acc) + 1), acc, color="C0", lw=0.6, alpha=0.5, label="training accuracy (batch)")
        if "validation/accuracy" in f and len(val_it):
            va = f["validation/accuracy"][()]
            n = min(len(val_it), len(va))
            acc_ax.plot(val_it[:n], va[:n], color="C2", marker="." if n < 80 else None,
                        label="validation accuracy (held-out trials)")
        if "test" in f and "accuracy" in f["test"].attrs:
            test_line(acc_ax, number(f["test"].attrs, "accuracy"), "test accuracy", ".3f")
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_ylim(0, 1.02)
    ax.set_xlabel("iteration (one optimiser step per batch)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # no "iteration 2.5"
    handles = [h for a in dict.fromkeys([ax, acc_ax]) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1), ncol=4, frameon=False,
              fontsize="small")


def example_raster(ax, g, sizes, max_neurons, title):
    """Raster of one example trial (/examples/NAME/spikes), with the loss window shaded."""
    spikes = {}
    for pop in sizes:
        if pop in g["spikes"]:
            sg = g["spikes"][pop]
            spikes[pop] = (sg["timestamps"][()], sg["node_ids"][()].astype(np.int64))
    length = float(g["readout"].shape[0]) if "readout" in g else 0.0
    draw_raster(ax, spikes, sizes, max_neurons, length / 1000.0)
    window = number(g.attrs, "window_begin_ms", 0.0)
    if 0 < window < length:
        ax.axvspan(window, length, color="C2", alpha=0.08, lw=0)
    raster_title(ax, title)


def draw_training(path, f, sizes, title, args):
    """Training result: learning curve; example trials before and after training (raster, readout,
    membrane traces); initial and trained weight distributions."""
    examples = [(n, f["examples"][n]) for n in ("before", "after") if "examples" in f and n in f["examples"]]
    weights = []
    for name, g in members(f.get("weights")):
        vals = g["values"]
        if vals.ndim == 2 and vals.shape[0] >= 2 and "times_ms" not in g:
            stride = max(1, math.ceil(vals.shape[1] / MAX_WEIGHTS))
            weights.append((name, text(g.attrs.get("source", "?")), text(g.attrs.get("target", "?")),
                            [("initial", vals[0, ::stride]), ("trained", vals[-1, ::stride])]))
    wrows = math.ceil(len(weights) / 4)
    rows = [2.6] + ([3.4, 1.4, 1.6] if examples else []) + [2.2] * wrows
    fig = plt.figure(figsize=(13, sum(rows) + 1.2), dpi=args.dpi, constrained_layout=True)
    grid = fig.add_gridspec(len(rows), 1, height_ratios=rows)
    draw_learning_curve(fig.add_subplot(grid[0]), f)
    if examples:
        cols = grid[1:4].subgridspec(3, len(examples), height_ratios=rows[1:4])
        for c, (name, g) in enumerate(examples):
            label = verdict(g.attrs)
            desc = text(g.attrs.get("description", ""))
            ax_r = fig.add_subplot(cols[0, c])
            example_raster(ax_r, g, sizes, args.max_neurons,
                           f"{name} training: {desc}" + (f" ({label})" if integer(g.attrs, "label", -1) >= 0 else ""))
            t = np.arange(g["readout"].shape[0]) * number(f["metadata"].attrs, "dt_ms", 1.0)
            ax_y = fig.add_subplot(cols[1, c], sharex=ax_r)
            y = g["readout"][()]
            for k in range(y.shape[1]):
                ax_y.plot(t, y[:, k], lw=1, label=f"readout {k}")
            if "target" in g:
                tg = g["target"][()]
                for k in range(tg.shape[1]):
                    ax_y.plot(t, tg[:, k], lw=1, ls="--", color="k", label="target" if k == 0 else None)
            window = number(g.attrs, "window_begin_ms", 0.0)
            if 0 < window < t[-1]:
                ax_y.axvspan(window, t[-1], color="C2", alpha=0.08, lw=0)
            ax_y.set_ylabel("readout y")
            ax_y.legend(fontsize="x-small", loc="upper left", ncol=3)
            ax_v = fig.add_subplot(cols[2, c], sharex=ax_r)
            if "v" in g:
                v = g["v"][()]
                gids = g["v_gids"][()] if "v_gids" in g else np.arange(v.shape[1])
                for k in range(v.shape[1]):
                    ax_v.plot(t, v[:, k], lw=0.6, label=f"gid {int(gids[k])}")
                ax_v.legend(fontsize="xx-small", loc="upper left", ncol=min(v.shape[1], 8))
            ax_v.set_ylabel("membrane v")
            ax_v.set_xlabel("time in trial (ms)")
            for ax in (ax_r, ax_y):
                ax.tick_params(labelbottom=False)
    if weights:
        wgrid = grid[len(rows) - wrows:].subgridspec(wrows, 4)
        for k, w in enumerate(weights):
            draw_weights(fig.add_subplot(wgrid[k // 4, k % 4]), *w, sizes)
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path)
    plt.close(fig)


def draw_reward(path, f, sizes, title, args):
    """Reward-based training (T-maze): success rate (correct turns), mean reward and mean value
    estimate per iteration, validation success; then an episode before and after training: raster
    with the decision step and the chosen side marked, and the policy (softmax of readouts 0, 1) and
    value (readout 2) over the episode."""
    examples = [(n, f["examples"][n]) for n in ("before", "after") if "examples" in f and n in f["examples"]]
    rows = [2.8] + ([3.2, 1.6] if examples else [])
    fig = plt.figure(figsize=(13, sum(rows) + 1.2), dpi=args.dpi, constrained_layout=True)
    grid = fig.add_gridspec(len(rows), 1, height_ratios=rows)
    ax = fig.add_subplot(grid[0])
    batch = number(f["metadata"].attrs, "batch_size", 1.0)
    # Success and reward coincide when the only reward is the final one: the reward is drawn dashed.
    for name, colour_, ls, label in (("accuracy", "C0", "-", "success rate (correct turns, batch)"),
                                     ("reward", "C2", "--", "mean reward (batch)"),
                                     ("value", "C1", "-", "mean value estimate V (batch)")):
        if f"training/{name}" in f:
            y = f[f"training/{name}"][()]
            ax.plot(np.arange(1, len(y) + 1) * batch, y, color=colour_, lw=0.7, ls=ls, alpha=0.7, label=label)
    if "validation/iteration" in f and len(f["validation/iteration"]):
        ax.plot(f["validation/iteration"][()] * batch, f["validation/accuracy"][()], "o-", color="C3", ms=3,
                label="validation success rate (held-out episodes)")
    if "test" in f and "accuracy" in f["test"].attrs:
        test_line(ax, number(f["test"].attrs, "accuracy"), "test success", ".3f", color="C3")
    ax.axhline(0.5, color="0.6", lw=0.6, ls="--")
    ax.set_xlabel("training episodes")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1), ncol=3, frameon=False, fontsize="small")
    if examples:
        cols = grid[1:3].subgridspec(2, len(examples), height_ratios=rows[1:3])
        dt = number(f["metadata"].attrs, "dt_ms", 1.0)
        for c, (name, g) in enumerate(examples):
            side = {0: "left", 1: "right"}.get(integer(g.attrs, "action", -1), "none")
            ok = verdict(g.attrs)
            ax_r = fig.add_subplot(cols[0, c])
            example_raster(ax_r, g, sizes, args.max_neurons,
                           f"{name} training: {text(g.attrs.get('description', ''))}; turned {side} ({ok}, "
                           f"reward {shown(number(g.attrs, 'reward', 0.0))})")
            decision = number(g.attrs, "decision_ms", -1.0)
            y = g["readout"][()]
            t = np.arange(y.shape[0]) * dt
            ax_p = fig.add_subplot(cols[1, c], sharex=ax_r)
            if y.shape[1] >= 3:
                logits = y[:, :2] - y[:, :2].max(axis=1, keepdims=True)
                pi = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                ax_p.plot(t, pi[:, 0], lw=1, color="C0", label="pi(left)")
                ax_p.plot(t, pi[:, 1], lw=1, color="C1", label="pi(right)")
                ax_p.plot(t, y[:, 2], lw=1, color="C2", label="value V")
            for a in (ax_r, ax_p):
                if decision >= 0:
                    a.axvline(decision, color="k", lw=1, ls="--")
            if decision >= 0:
                ax_p.annotate(f"decision: {side}", (decision, 0.5), xycoords=("data", "axes fraction"), xytext=(-4, 0),
                              textcoords="offset points", ha="right", va="center", fontsize="small",
                              bbox=dict(boxstyle="round", fc="white", ec="0.7"))
            ax_p.set_ylabel("policy / value")
            ax_p.set_xlabel("time in episode (ms)")
            ax_p.legend(fontsize="x-small", loc="best", ncol=3)  # pi sits near 0.5 early in training
            ax_r.tick_params(labelbottom=False)
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path)
    plt.close(fig)


def plastic_projections(f):
    """[(projection, w_max, times_ms, values)] for plastic projections with at least 3 weight snapshots."""
    out = []
    for name, g in members(f.get("weights")):
        attrs = f["network/projections"][name].attrs if name in f.get("network/projections", {}) else {}
        w_max = number(attrs, "w_max")
        if not w_max > 0 or "values" not in g:  # no W_max (or an odd one) to scale the histogram by
            continue
        vals, times = g["values"], g["times_ms"][()]
        n = min(vals.shape[0], len(times))
        if n >= 3 and vals.shape[1] > 0:
            stride = max(1, math.ceil(vals.shape[1] / MAX_WEIGHTS))
            out.append((name, w_max, times[:n], np.abs(vals[:n, ::stride])))
    return out


def draw_weight_evolution(path, f, plastic, title, dpi):
    """Per plastic projection: the weight histogram over time (colour: fraction of synapses per bin),
    the fractions below 0.1 W_max and above 0.9 W_max over time, and the first and last histograms."""
    fig, axes = plt.subplots(len(plastic), 3, figsize=(14, 3.8 * len(plastic)), dpi=dpi, squeeze=False,
                             constrained_layout=True, gridspec_kw={"width_ratios": [2.2, 1.2, 1.2]})
    # Room between the columns: the colourbar's label would otherwise touch the next panel's y label.
    fig.get_layout_engine().set(wspace=0.06)
    for (name, w_max, times, vals), (ax, bx, cx) in zip(plastic, axes):
        bins = np.linspace(0.0, 1.0, 41)
        hist = np.array([np.histogram(v / w_max, bins)[0] for v in vals], dtype=float) / vals.shape[1]
        t_s = times / 1000.0
        edges_t = np.concatenate([t_s[:1], (t_s[1:] + t_s[:-1]) / 2, t_s[-1:]])
        mesh = ax.pcolormesh(edges_t, bins, hist.T, cmap="magma", shading="flat",
                             norm=matplotlib.colors.PowerNorm(0.5, vmin=0.0, vmax=max(hist.max(), 1e-9)))
        fig.colorbar(mesh, ax=ax, label="fraction of synapses")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("weight / W_max")
        ax.set_title(f"{name}: weight histogram over time ({vals.shape[1]} synapses)", fontsize="small")
        low, high = (vals / w_max < 0.1).mean(axis=1), (vals / w_max > 0.9).mean(axis=1)
        bx.plot(t_s, low, color="C0", label="below 0.1 W_max")
        bx.plot(t_s, high, color="C3", label="above 0.9 W_max")
        bx.set_xlabel("time (s)")
        bx.set_ylabel("fraction of synapses")
        bx.set_ylim(0, 1)
        bx.legend(fontsize="small")
        bx.set_title(f"at the end: {low[-1]:.3f} below, {high[-1]:.3f} above", fontsize="small")
        cx.hist(vals[0] / w_max, bins, histtype="step", ls="--", color="0.4", label=f"t = {t_s[0]:g} s")
        cx.hist(vals[-1] / w_max, bins, histtype="stepfilled", alpha=0.7, color="C1", label=f"t = {t_s[-1]:g} s")
        cx.set_xlabel("weight / W_max")
        cx.set_ylabel("synapses")
        cx.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path)
    plt.close(fig)


def draw_tempotron(path, f, dpi):
    """Tempotron training: the fraction of patterns answered wrongly per epoch (one line per tempotron,
    coloured by load), and the epoch of the first error-free pass against the load (x: not reached)."""
    g = f["tempotron"]
    err, ex = g["errors"][()], g["experiments"]
    load, patterns, solved = ex["load"][()], ex["patterns"][()], ex["solved_epoch"][()]
    acc = ex["train_accuracy"][()]
    unit_exp = g["units/experiment"][()]
    epochs = integer(g.attrs, "epochs", err.shape[1] if err.ndim == 2 else 0)
    loads = sorted(set(load.tolist()))
    cmap = plt.get_cmap("viridis")
    col = {a: cmap(i / max(len(loads) - 1, 1)) for i, a in enumerate(loads)}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=dpi, constrained_layout=True)
    for u in range(err.shape[0]):
        e = int(unit_exp[u])
        last = int(solved[e]) if solved[e] > 0 else epochs
        ax.plot(np.arange(1, last + 1), err[u, :last] / patterns[e], lw=0.8, color=col[load[e]])
    for a in loads:
        ax.plot([], [], color=col[a], label=f"P/N = {a:g}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("fraction of patterns wrong")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(fontsize="small")
    ok = solved > 0
    bx.plot(load[ok], solved[ok], "o", color="C0", label="first epoch without an error")
    if (~ok).any():
        bx.plot(load[~ok], np.full((~ok).sum(), epochs), "x", color="C3", label=f"not within {epochs} epochs")
    bx.set_xlabel("load P/N")
    bx.set_ylabel("epochs")
    ax2 = bx.twinx()
    means = [acc[load == a].mean() for a in loads]
    ax2.plot(loads, means, "s--", color="C2", label="training accuracy (final weights)")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(min(0.5, min(means) - 0.02), 1.01)
    handles = bx.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    bx.legend(handles=handles, fontsize="small", loc="center left")
    meta = f["metadata"].attrs if "metadata" in f else {}
    title = (f"{text(meta.get('model', '?'))}: tempotron training, {integer(g.attrs, 'afferents', 'n/a')} afferents, "
             f"{len(loads)} load(s) x {len(load) // max(len(loads), 1)} repeat(s); {meta.get('ranks', '?')} rank(s) x "
             f"{meta.get('threads', '?')} thread(s), Plexus {text(meta.get('plexus_version', '?'))} "
             f"({text(meta.get('git_hash', '?'))})")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path)
    plt.close(fig)


def draw_equilibrium(path, f, dpi):
    """Equilibrium-rule training: learning curve per epoch (training, validation, final test accuracy),
    the test confusion matrix, and the input weights of the hidden cells that drive the outputs most."""
    fig = plt.figure(figsize=(15, 5.4), dpi=dpi, constrained_layout=True)
    panels = fig.subfigures(1, 3, width_ratios=[1.3, 1.0, 1.0])
    ax = panels[0].subplots()
    epochs = f["training/epoch"][()] if "training/epoch" in f else np.array([])
    if len(epochs):
        ax.plot(epochs, f["training/accuracy"][()], color="C0", marker=".", label="training (as presented)")
    if "validation/epoch" in f and len(f["validation/epoch"]):
        ax.plot(f["validation/epoch"][()], f["validation/accuracy"][()], color="C2", marker=".", label="validation")
    if "test" in f and "accuracy" in f["test"].attrs:
        test = number(f["test"].attrs, "accuracy")
        ax.plot([max(len(epochs), 1)], [test], "D", color="C3", label=f"test {shown(test, '.4f')}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("learning curve", fontsize="small")
    if "test/confusion" in f:
        cm = f["test/confusion"][()].astype(float)
        names = text(f["test"].attrs.get("classes", "")).split(",")
        rows = cm.sum(axis=1, keepdims=True)
        frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        cax = panels[1].subplots()
        cax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for i in range(frac.shape[0]):
            for j in range(frac.shape[1]):
                if frac[i, j] >= 0.01:
                    cax.text(j, i, f"{100 * frac[i, j]:.0f}", ha="center", va="center", fontsize=6,
                             color="white" if frac[i, j] > 0.5 else "black")
        ticks = range(frac.shape[0])
        cax.set_xticks(ticks, names if len(names) == frac.shape[0] else ticks, rotation=60, fontsize=6)
        cax.set_yticks(ticks, names if len(names) == frac.shape[0] else ticks, fontsize=6)
        cax.set_xlabel("predicted")
        cax.set_ylabel("true")
        cax.set_title("test confusion (% of each true class)", fontsize="small")
    if "equilibrium/input_hidden" in f and "equilibrium/hidden_output" in f:
        w1 = f["equilibrium/input_hidden"]  # inputs x hidden
        w2 = f["equilibrium/hidden_output"][()]  # hidden x outputs
        side = int(round(math.sqrt(w1.shape[0])))
        n = min(16, w1.shape[1])
        pick = np.sort(np.argsort(-np.linalg.norm(w2, axis=1))[:n])
        fields = w1[:, pick] if w1.shape[1] else np.zeros((w1.shape[0], 0))
        raxes = panels[2].subplots(4, 4).ravel()
        for rax in raxes[n:]:
            rax.set_axis_off()
        for k in range(n):
            rax = raxes[k]
            if side * side == w1.shape[0]:
                v = fields[:, k]
                lim = max(float(np.abs(v).max()), 1e-12)
                rax.imshow(v.reshape(side, side), cmap="RdBu_r", vmin=-lim, vmax=lim)
            rax.set_xticks([])
            rax.set_yticks([])
            rax.set_title(f"{pick[k]}", fontsize=6, pad=1)
        panels[2].suptitle("input weights of the hidden cells with the largest\noutput weights (red +, blue -)",
                           fontsize="small")
    meta = f["metadata"].attrs if "metadata" in f else {}
    hidden = f["network/populations/hidden"].attrs.get("size", "?") if "network/populations/hidden" in f else "?"
    fig.suptitle(f"{text(meta.get('model', os.path.basename(path)))}: equilibrium rule, {hidden} hidden cells, "
                 f"{len(epochs)} epoch(s) on {f['training'].attrs.get('samples', '?')} images, "
                 f"{meta.get('ranks', '?')} rank(s) x {meta.get('threads', '?')} thread(s), "
                 f"Plexus {text(meta.get('plexus_version', '?'))} ({text(meta.get('git_hash', '?'))})",
                 fontsize="medium")
    fig.savefig(path)
    plt.close(fig)


def draw_rates(ax, spikes, sizes, start, stop, bin_ms):
    """Population rate in Hz per neuron, from all spikes (not just the raster's subset)."""
    edges = np.arange(start, stop + bin_ms * 1e-9, bin_ms)
    if edges[-1] < stop - 1e-9:
        edges = np.append(edges, stop)  # a shorter last bin; its rate is divided by its own width
    for pop, (t, _) in spikes.items():
        counts, _ = np.histogram(t, edges)
        rate = counts / (sizes[pop] * np.diff(edges) / 1000.0)
        ax.plot((edges[:-1] + edges[1:]) / 2, rate, lw=1, label=pop, color=colour(pop, sizes))
    ax.set_ylabel(f"rate (Hz)\n{bin_ms:g} ms bins")
    ax.legend(loc="upper right", fontsize="small", ncol=min(len(spikes), 6))


def draw_traces(ax, pop, var, units, t, values, ids):
    t, values = envelope(t, values)
    for c in range(values.shape[1]):
        ax.plot(t, values[:, c], lw=0.8, label=f"{pop} {int(ids[c])}" if c < len(ids) else None)
    ax.set_ylabel(f"{pop} {var}" + (f" ({units})" if units else ""))
    ax.legend(loc="upper right", fontsize="x-small", ncol=values.shape[1])


def draw_weights(ax, name, src, tgt, snaps, sizes):
    snaps = [(label, w[np.isfinite(w)]) for label, w in snaps]  # NaN weights (a damaged file) have no bin
    # Weights of a run that diverged (up to +-1e308) are drawn in units of a power of ten: matplotlib
    # cannot place ticks on an axis that spans more than the largest double.
    big = max((float(np.abs(w).max()) for _, w in snaps if len(w)), default=0.0)
    unit = 10.0 ** math.floor(math.log10(big)) if big > 1e15 else 1.0
    if unit != 1.0:
        snaps = [(label, w / unit) for label, w in snaps]
    lo = min((float(w.min()) for _, w in snaps if len(w)), default=0.0)
    hi = max((float(w.max()) for _, w in snaps if len(w)), default=0.0)
    pad = 0.0 if hi > lo else max(0.05 * abs(lo), 0.5)  # all weights equal: centre one bar
    x = np.linspace(0.0, 1.0, 51)
    # As a blend of the ends, so that a range wider than the largest double (weights of +-1e308, from a
    # run that diverged) still gives finite, increasing edges where hi - lo would overflow.
    bins = (lo - pad) * (1.0 - x) + (hi + pad) * x
    c = colour(src, sizes) if src in sizes else None
    for (label, w), ls in zip(snaps, ("--", "-")):  # first snapshot dashed, last solid
        ax.hist(w, bins, histtype="step" if len(snaps) > 1 else "stepfilled", color=c, ls=ls, label=label)
    ax.set_title(f"{name} ({src} -> {tgt})", fontsize="small")
    ax.set_xlabel("weight" if unit == 1.0 else f"weight (x {unit:.0e})")
    ax.set_ylabel("synapses")
    ax.legend(fontsize="x-small")


def draw_force(path, f, title, max_neurons, dpi):
    """FORCE training: target and decoded output over the whole run (training window shaded), the
    last second of training and of the test up close, and rasters before and after training."""
    g = f["force"]
    times = g["trace/times_ms"][()]
    out, tgt = g["trace/output"][()], g["trace/target"][()]
    names = [n.strip() for n in text(g.attrs.get("output_names", "")).split(",")] or ["x"]
    k = out.shape[1]
    end = number(g.attrs, "test_end_ms", float(times[-1]) if len(times) else 0.0)
    t0, t1 = number(g.attrs, "train_begin_ms", 0.0), number(g.attrs, "train_end_ms", end)
    sizes = populations(f)
    fig = plt.figure(figsize=(12, 2.0 * k + 6.5), dpi=dpi, constrained_layout=True)
    grid = fig.add_gridspec(k + 2, 2, height_ratios=[2.0] * k + [2.2, 3.0])

    def trace(ax, lo, hi, legend):
        for m in range(k):
            sel = (times > lo) & (times <= hi)
            ax.plot(times[sel], tgt[sel, m], color="0.55", lw=1.2, ls="--", label="target" if m == 0 else None)
            ax.plot(times[sel], out[sel, m], color=f"C{m}", lw=1.0, label=f"output {names[m] if m < len(names) else m}")
        if legend:
            ax.legend(loc="upper right", fontsize="x-small", ncol=k + 1)

    for m in range(k):
        ax = fig.add_subplot(grid[m, :])
        sel = slice(None)
        ax.plot(times[sel], tgt[sel, m], color="0.55", lw=1.0, ls="--", label="target")
        ax.plot(times[sel], out[sel, m], color=f"C{m}", lw=0.7, label="output")
        ax.axvspan(t0, t1, color="C2", alpha=0.08, label="training" if m == 0 else None)
        ax.set_xlim(0, end)
        ax.set_ylabel(names[m] if m < len(names) else f"output {m}")
        if m == 0:
            ax.legend(loc="upper left", fontsize="x-small", ncol=3)
        if m == k - 1:
            ax.set_xlabel("time (ms)")
    zoom = 1000.0
    for col, (lo, hi, label) in enumerate(((max(t0, t1 - zoom), t1, "end of training"),
                                           (max(t1, end - zoom), end, "end of test (free running)"))):
        ax = fig.add_subplot(grid[k, col])
        if hi > lo:
            trace(ax, lo, hi, col == 0)
            ax.set_xlim(lo, hi)
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("time (ms)")
    for col, which in enumerate(("before", "after")):
        ax = fig.add_subplot(grid[k + 1, col])
        sg = g.get(f"spikes/{which}")
        if sg is None:
            continue
        lo, hi = number(sg.attrs, "start_ms"), number(sg.attrs, "stop_ms")  # NaN: no raster, n/a in the title
        spikes = {p: (sg[p]["timestamps"][()], sg[p]["node_ids"][()].astype(np.int64)) for p in sg}
        spikes = {p: spikes[p] for p in sorted(spikes, key=lambda p: list(sizes).index(p) if p in sizes else 0)}
        for p, (_, ids) in spikes.items():
            if not sizes.get(p):
                sizes[p] = int(ids.max()) + 1 if len(ids) else 1
        if spikes and hi > lo:
            draw_raster(ax, spikes, sizes, max_neurons, (hi - lo) / 1000.0)
            ax.set_xlim(lo, hi)
        raster_title(ax, f"{'before' if which == 'before' else 'after'} training ({shown(lo)} to {shown(hi)} ms)")
        ax.set_xlabel("time (ms)")
    summary = ""
    if "metrics" in g:
        mg = g["metrics"]
        rms = mg["train_rms"][()]
        summary = f"\nRMS error over the last {shown(number(mg.attrs, 'rms_window_ms'))} ms of training: " + \
                  ", ".join(f"{x:.4f}" for x in rms)
        if "correlation" in mg and mg["correlation"].shape[0]:
            corr, amp, fr = mg["correlation"][()], mg["amplitude"][()], mg["frequency_hz"][()]
            summary += (f"; test windows: correlation >= {corr.min():.3f}, amplitude {amp.min():.2f} to {amp.max():.2f}, "
                        f"frequency {fr.min():.2f} to {fr.max():.2f} Hz")
    fig.suptitle(f"{title}\nFORCE: {text(g.attrs.get('target', ''))}{summary}", fontsize="medium")
    fig.savefig(path)
    plt.close(fig)


def one_line(error):
    """An exception's message on one line (a KeyError's without the quotes str() adds)."""
    return " ".join(text(error.args[0] if isinstance(error, KeyError) and error.args else error).split())


def still_written(path):
    """A hint for a file that may be open for writing."""
    return ("; if the run is still going, try again when it has ended (HDF5 files cannot be read reliably while "
            "they are written)" if path.endswith(".partial") else "")


def open_result(path):
    """The result file, open for reading; a PlotError naming the file and what is wrong if it cannot be."""
    if not os.path.exists(path):
        raise PlotError(f"no such file: {path}")
    if os.path.isdir(path):
        raise PlotError(f"{path}: is a directory, not a result file")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise PlotError(f"{path}: cannot read it: {e.strerror}")
    if not h5py.is_hdf5(path):
        raise PlotError(f"{path}: " + ("empty file (was the run cut short?)" if os.path.getsize(path) == 0
                                       else "not an HDF5 file, or damaged"))
    for attempt in range(3):
        try:
            # No file locking, so the .partial file of a running job can be opened; while the run is
            # writing, the file can briefly look truncated, hence the retries.
            return h5py.File(path, "r", locking=False)
        except OSError as e:
            if attempt == 2:
                what = "truncated HDF5 file" if "truncated" in str(e) else "damaged HDF5 file"
                raise PlotError(f"{path}: {what}, cannot open it ({one_line(e)}){still_written(path)}")
            time.sleep(0.5)


def raised_by_h5py(error):
    """Whether `error` comes from h5py reading the file (an object or attribute missing, damaged structures),
    rather than from a mistake in the code here, which should keep its traceback."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__", "").split(".")[0] == "h5py"


def default_output(path):
    for suffix, repl in ((".h5", ".png"), (".h5.partial", ".partial.png")):
        if path.endswith(suffix):
            return path[:-len(suffix)] + repl
    return path + ".png"


def plot(args):
    """Draws the figures of `args.file` (a path, or an open h5py.File with the path it stands for in
    `args.name`); returns the PNG files written."""
    if isinstance(args.file, h5py.File):
        path, opened = args.name, contextlib.nullcontext(args.file)
    else:
        path, opened = args.file, open_result(args.file)
    written = []
    with opened as f:
        meta = f["metadata"].attrs if "metadata" in f else {}
        sizes = populations(f)
        recorded = set(f.get("spikes", {})) | set(f.get("samples", {}))
        wanted = [p for p in args.populations.split(",") if p] if args.populations else None
        for p in wanted or []:
            if p not in sizes and p not in recorded:
                raise PlotError(f"unknown population '{p}' (the file has: {', '.join(sizes) or 'none'})")

        if "tempotron/errors" in f:  # tempotron training: error curves and capacity, a figure of its own
            out = args.output or default_output(path)
            draw_tempotron(out, f, args.dpi)
            return [out]
        unfinished = path.endswith(".partial") or ("metadata" in f and "wall_time_s" not in meta)
        if "training" in f and text(f["training"].attrs.get("rule", "")) == "equilibrium":
            out = args.output or default_output(path)
            draw_equilibrium(out, f, args.dpi)
            return [out]
        if "training" in f:
            out = args.output or default_output(path)
            model = text(meta.get("model", os.path.basename(path)))
            iterations = integer(f["training"].attrs, "iterations",
                                 len(f["training/loss"]) if "training/loss" in f else "n/a")
            title = (f"{model}: trained {iterations} "
                     f"iterations of {meta.get('batch_size', '?')} trial(s), {meta.get('ranks', '?')} rank(s) x "
                     f"{meta.get('threads', '?')} thread(s), Plexus {text(meta.get('plexus_version', '?'))} "
                     f"({text(meta.get('git_hash', '?'))})" + ("\nUNFINISHED RUN" if unfinished else ""))
            if text(f["training"].attrs.get("mode", "")) == "reward":
                draw_reward(out, f, sizes, title, args)
            else:
                draw_training(out, f, sizes, title, args)
            return [out]
        duration = number(meta, "duration_ms", 0.0)
        dt = number(meta, "dt_ms", 0.0)
        # An unfinished run has data only up to its last flush: end the default window there.
        ends = [last_time(g["timestamps"]) for _, g in members(f.get("spikes")) if "timestamps" in g]
        ends += [last_time(g["times_ms"]) for _, g in members(f.get("samples")) if "times_ms" in g]
        data_end = max(ends, default=0.0)
        run_end = data_end if unfinished or not duration else duration
        if run_end <= 0:
            run_end = dt or 0.1  # e.g. a run cut short right after its first flush: still draw something
        # Beyond the run there is no data, and rates there would read as silence: clip the window to it.
        start = max(args.start or 0.0, 0.0)
        stop = min(args.stop, run_end) if args.stop is not None else run_end
        if start >= stop:
            raise PlotError(f"--start {start:g} ms is not before the end of the data ({run_end:g} ms)")

        spikes = {}
        for pop, g in members(f.get("spikes")):
            if (wanted is None or pop in wanted) and "timestamps" in g:
                spikes[pop] = read_spikes(g, start, stop)
                if not sizes.get(pop):  # not in /network: assume the highest id seen is the last neuron
                    sizes[pop] = int(spikes[pop][1].max()) + 1 if len(spikes[pop][1]) else 1
        spikes = {p: spikes[p] for p in sorted(spikes, key=list(sizes).index)}
        samples = sample_panels(f, wanted, start, stop)
        weights = [w for w in weight_hists(f, start, stop) if wanted is None or {w[1], w[2]} & set(wanted)]
        has_force = "force/trace/output" in f
        if not spikes and not samples and not weights and not has_force:
            raise PlotError(f"nothing to plot in {path}: no spikes, samples, weights or training curves"
                            + (f" for population(s) {args.populations}" if wanted else ""))

        planned = shown(number(meta, "duration_ms"))
        title = (f"{text(meta.get('model', os.path.basename(path)))}: {meta.get('ranks', '?')} rank(s) x "
                 f"{meta.get('threads', '?')} thread(s), {planned} ms {'planned' if unfinished else 'simulated'}, "
                 f"Plexus {text(meta.get('plexus_version', '?'))} ({text(meta.get('git_hash', '?'))})")
        if unfinished:
            title += f"\nUNFINISHED RUN: data up to {data_end:g} of {planned} ms"

        out = args.output or default_output(path)
        plastic = plastic_projections(f)
        if plastic:  # the weight histogram over time: its own figure, time in seconds over the whole run
            wout = os.path.splitext(out)[0] + "_weights.png"
            draw_weight_evolution(wout, f, plastic, title, args.dpi)
            written.append(wout)
        if spikes or samples or weights:
            # Time panels share one x axis; the weight histograms get rows of small panels of their own below.
            raster_in = raster_height(raster_rows(spikes, sizes, args.max_neurons))
            heights = ([raster_in, 1.6] if spikes else []) + [1.3] * len(samples)
            wrows = math.ceil(len(weights) / 4)
            fig = plt.figure(figsize=(12, sum(heights) + 2.4 * wrows + 1.0), dpi=args.dpi, constrained_layout=True)
            grid = fig.add_gridspec(len(heights) + wrows, 1, height_ratios=heights + [2.4] * wrows)
            time_axes = []
            for i in range(len(heights)):
                time_axes.append(fig.add_subplot(grid[i], sharex=time_axes[0] if time_axes else None))
            if spikes:
                draw_raster(time_axes[0], spikes, sizes, args.max_neurons, (stop - start) / 1000.0, raster_in)
                draw_rates(time_axes[1], spikes, sizes, start, stop, args.bin_ms or round_bin(stop - start, dt))
            for ax, panel in zip(time_axes[2 if spikes else 0:], samples):
                draw_traces(ax, *panel)
            if time_axes:
                for ax in time_axes[:-1]:
                    ax.tick_params(labelbottom=False)
                time_axes[-1].set_xlabel("time (ms)")
                time_axes[0].set_xlim(start, stop)
            if weights:
                wgrid = grid[len(heights):].subgridspec(wrows, 4)
                for k, w in enumerate(weights):
                    draw_weights(fig.add_subplot(wgrid[k // 4, k % 4]), *w, sizes)
            fig.suptitle(title, fontsize="medium")
            fig.savefig(out)
            plt.close(fig)
            written.append(out)
        if has_force:  # FORCE training: target vs output, rasters before and after
            fout = os.path.splitext(out)[0] + "_force.png" if written else out
            draw_force(fout, f, title, args.max_neurons, args.dpi)
            written.append(fout)
    return written


SCALING_PARTS = ["neuron state", "synapses", "learning state", "delay buffers", "communication buffers",
                 "HDF5 buffers (recorder)"]


def draw_scaling(directory, output, dpi):
    """Per-rank memory by structure, bytes per synapse and time per step against the number of ranks,
    from the JSON files of `plexus scale-test --json` in `directory` (e.g. cluster/scaling_sweep.sh)."""
    import glob
    import json
    points = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            points.append(json.load(f))
    if not points:
        raise PlotError(f"{directory} holds no scale-test JSON files")
    points.sort(key=lambda p: p["ranks"])
    ranks = np.array([p["ranks"] for p in points], dtype=float)
    mib = 2.0 ** 20

    def worst(p, key):  # the largest rank's value (a dry run has one)
        return max(p["per_rank"].get(key, [0.0]))

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    bottom = np.zeros(len(points))
    for part in SCALING_PARTS:
        v = np.array([worst(p, part) for p in points]) / mib
        if v.any():
            ax.bar(np.arange(len(points)), v, bottom=bottom, label=part)
            bottom += v
    rss = np.array([worst(p, "peak RSS") for p in points]) / mib
    ax.plot(np.arange(len(points)), rss, "k.-", label="peak RSS")
    ax.set_xticks(np.arange(len(points)))
    ax.set_xticklabels([str(int(r)) for r in ranks], rotation=45)
    ax.set_xlabel("ranks")
    ax.set_ylabel("MiB per rank (largest rank)")
    ax.legend(fontsize=7)
    dry = any(p.get("dry_run") for p in points)
    ax.set_title("memory per rank" + (" (dry run: rank 0 of R)" if dry else ""))
    ax = axes[1]
    ax.semilogx(ranks, [worst(p, "bytes per synapse") for p in points], "o-")
    ax.set_xlabel("ranks")
    ax.set_ylabel("bytes per synapse")
    ax.set_title("synapse store incl. row offsets")
    ax.grid(True, alpha=0.3)
    ax = axes[2]
    ax.loglog(ranks, [worst(p, "bytes received per step") for p in points], "o-", label="bytes received / step")
    ax.loglog(ranks, [worst(p, "spikes received per step") * 4 for p in points], "s--", label="4 B x spikes / step")
    ax.set_xlabel("ranks")
    ax.set_ylabel("bytes per step per rank")
    ax.set_title("spike exchange traffic")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    neurons = sorted({p["neurons"] for p in points})
    fig.suptitle(f"{points[0]['model']}: {neurons[0]}" + (f" to {neurons[-1]}" if len(neurons) > 1 else "") +
                 " neurons")
    fig.tight_layout()
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
    print(output)


def draw_sweep(table, output, dpi):
    """The measures of a parameter sweep (the CSV of cluster/collect_sweep.py) against its first swept
    parameter, one line per value of the others; unfinished tasks are left out (and counted)."""
    import csv
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "status" not in rows[0]:
        raise PlotError(f"{table} is not a sweep table (cluster/collect_sweep.py writes one)")
    columns = list(rows[0])
    first_measure = next((i for i, k in enumerate(columns[2:], 2)
                          if k.startswith(("rate_hz:", "wall_time_s", "iterations", "final_", "best_", "test_"))),
                         len(columns))
    params, measures = columns[2:first_measure], columns[first_measure:]
    done = [r for r in rows if r["status"] == "done"]
    measures = [m for m in measures if m != "wall_time_s" and any(r.get(m) for r in done)][:6] or ["wall_time_s"]
    if not params or not done:
        raise PlotError(f"{table}: no swept parameter or no finished task")

    def number(v):
        try:
            return float(v)
        except ValueError:
            return v
    varied = [k for k in params if len({r[k] for r in rows}) > 1]  # an override common to all is no axis
    params = varied or params
    # Along x the parameter with the most values (a seed only when nothing else varies); the rest are lines.
    params.sort(key=lambda k: (-len({r[k] for r in rows}), "seed" in k))
    x_key, others = params[0], params[1:]
    groups = {}
    for r in done:
        groups.setdefault(tuple(r[k] for k in others), []).append(r)
    n = len(measures)
    cols = min(n, 3)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(5.2 * cols, 3.8 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax, m in zip(axes.flat, measures):
        for key, members in sorted(groups.items()):
            members = sorted(members, key=lambda r: number(r[x_key]))
            xs = [number(r[x_key]) for r in members]
            ys = [float(r[m]) if r.get(m) else np.nan for r in members]
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, key)) or None
            ax.plot(xs, ys, "o-", label=label)
        ax.set_xlabel(x_key)
        ax.set_ylabel(m)
        ax.grid(True, alpha=0.3)
        if others and len(groups) <= 8:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    missing = len(rows) - len(done)
    fig.suptitle(f"sweep of {len(rows)} parameter sets ({os.path.basename(os.path.dirname(os.path.abspath(table)))})"
                 + (f"; {missing} task(s) not finished, left out" if missing else ""))
    fig.tight_layout()
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
    print(output)


def options(file, output=None, start=None, stop=None, populations=None, max_neurons=500, bin_ms=None, dpi=120,
            name=None):
    """The command line's options as a namespace, for plot()."""
    return argparse.Namespace(file=file, output=output, start=start, stop=stop, populations=populations,
                              max_neurons=max_neurons, bin_ms=bin_ms, dpi=dpi, name=name)


def main():
    parser = argparse.ArgumentParser(
        prog="plexus-plot",
        description="Draw a PNG from a Plexus result file: spike raster, population rates, sampled traces and "
                    "weight histograms of a run; learning curve, example trials before and after training and "
                    "weight distributions of an e-prop training run; target vs output and rasters before and "
                    "after training for FORCE (OUT.png, or OUT_force.png beside other figures); the figures of "
                    "tempotron and equilibrium training; or, for a directory of scale-test JSON files, the scaling figure.")
    parser.add_argument("file", help="result file (NAME.h5, or NAME.h5.partial of an unfinished run), or a "
                                     "directory of `plexus scale-test --json` files (scaling figure), or a sweep's table "
                                     "(SWEEP.csv of cluster/collect_sweep.py)")
    parser.add_argument("-o", "--output", metavar="OUT.png",
                        help="PNG to write (default: FILE with .h5 replaced by .png)")
    parser.add_argument("--start", type=float, metavar="MS", help="start of the time window (default 0)")
    parser.add_argument("--stop", type=float, metavar="MS", help="end of the time window (default: end of the run)")
    parser.add_argument("--populations", metavar="A,B", help="populations to draw (default: all recorded)")
    parser.add_argument("--max-neurons", type=int, default=500, metavar="N",
                        help="raster rows per population, an evenly spaced subset (default 500)")
    parser.add_argument("--bin-ms", type=float, metavar="B", help="rate bin width (default: about 1/200 of the window)")
    parser.add_argument("--dpi", type=int, default=120, metavar="D", help="PNG resolution (default 120)")
    args = parser.parse_args()
    args.name = args.file
    if args.max_neurons < 1:
        parser.error("--max-neurons must be at least 1")
    if args.bin_ms is not None and args.bin_ms <= 0:
        parser.error("--bin-ms must be positive")
    if args.dpi < 10:
        parser.error("--dpi must be at least 10")
    if args.start is not None and args.stop is not None and args.stop <= args.start:
        parser.error("--stop must be after --start")
    if args.file.endswith(".csv"):
        try:
            draw_sweep(args.file, args.output or args.file[:-4] + ".png", args.dpi)
        except (PlotError, OSError) as e:
            print(f"plexus-plot: error: {e}", file=sys.stderr)
            sys.exit(2)
        return
    if os.path.isdir(args.file):
        try:
            draw_scaling(args.file, args.output or os.path.join(args.file, "scaling.png"), args.dpi)
        except PlotError as e:
            print(f"plexus-plot: error: {e}", file=sys.stderr)
            sys.exit(2)
        return
    try:
        for w in plot(args):
            print(w)
    except PlotError as e:
        print(f"plexus-plot: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (OSError, KeyError, RuntimeError) as e:
        if raised_by_h5py(e):  # a damaged file, one lacking what its figure needs, or one being written as we read it
            print(f"plexus-plot: error: {args.file}: damaged or incomplete result file ({one_line(e)})"
                  f"{still_written(args.file)}", file=sys.stderr)
            sys.exit(2)
        if isinstance(e, OSError):  # e.g. the PNG cannot be written: the system's message names the path
            print(f"plexus-plot: error: {one_line(e)}", file=sys.stderr)
            sys.exit(2)
        raise

