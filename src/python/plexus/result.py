"""Results: what a run wrote, as NumPy arrays. `plexus.run`/`train` return one held in memory (the file's
image, read once when the run has ended: later access does not touch the disk, and the file may be moved
or removed); `plexus.read(path)` opens any result file."""

import io
import os

import h5py
import numpy as np

from .errors import UsageError


def _text(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return [_text(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Result:
    """A Plexus result: spikes (SONATA layout), samples, weights, training curves and metadata."""

    def __init__(self, source, path=None, exit_code=0):
        self.path = path
        self.exit_code = exit_code  # 0: finished, or stopped at a checkpoint (then `finished` is False)
        if isinstance(source, (bytes, bytearray)):
            self._file = h5py.File(io.BytesIO(source), "r")
        else:
            self._file = h5py.File(source, "r", locking=False)

    # --- what the run was --------------------------------------------------------------------------
    @property
    def file(self):
        """The underlying h5py.File (read-only), for anything not covered here."""
        return self._file

    @property
    def metadata(self):
        """/metadata: its attributes (model, ranks, threads, seed, dt_ms, versions, wall time, ...) and
        its scalar datasets (config: the resolved TOML, overrides, memory figures)."""
        g = self._file.get("metadata")
        if g is None:
            return {}
        out = {k: _text(v) for k, v in g.attrs.items()}
        for k, d in g.items():
            if isinstance(d, h5py.Dataset) and d.size == 1:
                v = d[()]
                out[k] = _text(v.reshape(-1)[0] if isinstance(v, np.ndarray) else v)
        return out

    @property
    def finished(self):
        """False for the .partial file of a run that stopped at a checkpoint."""
        return "wall_time_s" in self.metadata

    @property
    def populations(self):
        """Population name -> number of neurons, in the network's order."""
        g = self._file.get("network/populations")
        if g is None:
            return {}
        pops = sorted(g.items(), key=lambda kv: int(kv[1].attrs.get("first_gid", 0)))
        return {name: int(sub.attrs.get("size", 0)) for name, sub in pops}

    # --- data --------------------------------------------------------------------------------------
    def spikes(self, population):
        """(timestamps in ms, population-local node ids), sorted by time."""
        g = self._file.get(f"spikes/{population}")
        if g is None:
            have = ", ".join(self._file.get("spikes", {})) or "none"
            raise KeyError(f"no spikes of population '{population}' (recorded: {have})")
        return np.asarray(g["timestamps"][()]), np.asarray(g["node_ids"][()])

    def samples(self, population, variable):
        """(times in ms, node ids, values[time, neuron]) of a sampled state variable."""
        g = self._file.get(f"samples/{population}")
        if g is None or variable not in g:
            have = ", ".join(f"{p}/{v}" for p, pg in self._file.get("samples", {}).items() for v in pg
                             if v not in ("times_ms", "node_ids"))
            raise KeyError(f"no samples of {population}/{variable} (recorded: {have or 'none'})")
        return np.asarray(g["times_ms"][()]), np.asarray(g["node_ids"][()]), np.asarray(g[variable][()])

    def weights(self, projection, which="trained"):
        """(source, target, weight) of a projection's recorded synapses (population-local ids). Training
        records "initial" and "trained" weights of its plastic projections; a run records snapshots
        ([record.weights.<projection>]): "initial" is the first, "trained" (or "last") the last, and an
        integer picks one (weight_snapshots() gives them all)."""
        times, source, target, values = self.weight_snapshots(projection)
        if which == "initial":
            row = 0
        elif which in ("trained", "last"):
            row = -1
        elif isinstance(which, (int, np.integer)):
            row = int(which)
        else:
            raise UsageError("weights(): which is 'initial', 'trained', 'last' or a snapshot's index")
        return source, target, values[row]

    def weight_snapshots(self, projection):
        """(times in ms or None, source, target, values[snapshot, synapse]) of a projection."""
        g = self._file.get(f"weights/{projection}")
        if g is None:
            have = ", ".join(self._file.get("weights", {})) or "none"
            raise KeyError(f"no weights of projection '{projection}' recorded (recorded: {have}); record them "
                           f"with [record.weights.{projection}]")
        times = np.asarray(g["times_ms"][()]) if "times_ms" in g else None
        return (times, np.asarray(g["source_ids"][()]), np.asarray(g["target_ids"][()]),
                np.atleast_2d(np.asarray(g["values"][()])))

    @property
    def training(self):
        """The learning curves: /training's datasets (loss, accuracy, ...) and /validation's as
        'validation_<name>', as arrays; empty for a run without training."""
        out = {}
        for group, prefix in (("training", ""), ("validation", "validation_")):
            g = self._file.get(group)
            if g is None:
                continue
            for k, d in g.items():
                if isinstance(d, h5py.Dataset) and d.ndim == 1:
                    out[prefix + k] = np.asarray(d[()])
        return out

    @property
    def training_attributes(self):
        """/training's attributes (rule, iterations, test accuracy, ...)."""
        g = self._file.get("training")
        return {k: _text(v) for k, v in g.attrs.items()} if g is not None else {}

    def rates(self, population, start_ms=0.0, stop_ms=None):
        """Mean firing rate (Hz) of a population over [start, stop) (default: the whole run)."""
        t, _ = self.spikes(population)
        stop = float(self.metadata.get("duration_ms", 0.0)) if stop_ms is None else stop_ms
        if stop <= start_ms:
            raise UsageError("rates(): the window is empty")
        n = self.populations.get(population, 0) or 1
        return float(np.count_nonzero((t >= start_ms) & (t < stop))) / n / ((stop - start_ms) / 1000.0)

    def plot(self, output=None, **options):
        """The same figures as plexus-plot (see plexus.plot)."""
        from . import plot
        return plot(self, output=output, **options)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        m = self.metadata
        state = "" if self.finished else ", unfinished"
        return f"<plexus.Result {m.get('model', '?')!r} ({m.get('experiment', '?')}{state}) from {self.path or 'memory'}>"


def read(path):
    """Opens any Plexus result file (NAME.h5, or the NAME.h5.partial of a stopped run)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    if not h5py.is_hdf5(path):
        raise UsageError(f"not an HDF5 file: {path}")
    return Result(path, path=path)


def load(path, exit_code=0, keep_path=True):
    """The result file's whole image in memory (keep_path: the file stays, and the Result names it)."""
    with open(path, "rb") as f:
        return Result(f.read(), path=path if keep_path else None, exit_code=exit_code)
