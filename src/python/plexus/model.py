"""Models: the same TOML schema as the model files, checked by the same C++ code, with the same located
errors (raised as plexus.ModelError, whose ``key`` is the dotted key path)."""

import atexit
import os
import shutil
import tempfile
import tomllib

import numpy as np
import tomli_w

from ._runtime import _core, _session
from .errors import UsageError


def _plain(value):
    """NumPy scalars and arrays as the Python values TOML can hold."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def toml_value(value):
    """One value in TOML syntax, as `--set key=value` takes it (tables inline)."""
    value = _plain(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{tomli_w.dumps({k: 0}).split(' = ')[0]} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):].strip()


class Model:
    """A model: its TOML text, where relative file names are resolved, and overrides (like --set).

    Build one with `Model.from_toml(path)` or `Model.from_dict(d)`; change it with `set()` and the
    NumPy setters; `to_toml()` gives the resolved configuration.
    """

    def __init__(self, text, name, base_dir, overrides=(), data_dir=None):
        self.text = text
        self.name = name
        self.base_dir = os.path.abspath(base_dir)
        self.overrides = list(overrides)
        self._data_dir = data_dir
        self._own_data_dir = None
        self._resolved = None
        self.check()

    @classmethod
    def from_toml(cls, path, data_dir=None):
        """A model file; errors name its path and line, as the command line's do."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"cannot read model file '{path}': {e.strerror}") from None
        return cls(text, path, os.path.dirname(os.path.abspath(path)), data_dir=data_dir)

    @classmethod
    def from_dict(cls, d, name="<dict>", base_dir=".", data_dir=None):
        """A model from nested dicts in the model file's schema (NumPy values allowed)."""
        if not isinstance(d, dict):
            raise UsageError(f"Model.from_dict takes a dict, not {type(d).__name__}")
        try:
            text = tomli_w.dumps(_plain(d))
        except TypeError as e:
            raise UsageError(f"Model.from_dict: {e}") from None
        return cls(text, name, base_dir, data_dir=data_dir)

    def copy(self):
        """An independent copy (its NumPy inputs' files are shared)."""
        m = Model.__new__(Model)
        m.__dict__.update(self.__dict__)
        m.overrides = list(self.overrides)
        return m

    def check(self):
        """Checks the model as `plexus run` would before building; returns the resolved TOML."""
        self._resolved = _core().check(self.text, self.name, self.base_dir, self.overrides)
        return self._resolved

    def set(self, key, value):
        """Overrides one key (a dotted path), as `--set key=value` does; checked at once. Returns the
        model, so calls chain."""
        return self.update({key: value})

    def update(self, values):
        """Overrides several keys ({dotted path: value}) at once, checked together."""
        added = []
        for key, value in values.items():
            if not isinstance(key, str) or not key:
                raise UsageError("Model.set: the key is a dotted path such as 'train.iterations'")
            added.append(f"{key}={toml_value(value)}")
        before = self.overrides
        self.overrides = before + added
        try:
            self.check()
        except Exception:
            self.overrides = before
            raise
        return self

    def to_toml(self):
        """The resolved configuration (file plus overrides), keys sorted."""
        return self._resolved

    def to_dict(self):
        return tomllib.loads(self._resolved)

    def get(self, key, default=None):
        """The resolved value of a dotted key."""
        node = self.to_dict()
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def network_name(self):
        return self.get("model.name") or os.path.splitext(os.path.basename(self.name))[0]

    # --- NumPy inputs: written to HDF5 files in the layouts the model files accept -------------------
    def data_dir(self):
        """Where NumPy inputs are written: `data_dir` if given (keep it for `plexus resume` in a later
        process), else a temporary directory removed at exit."""
        if self._data_dir is not None:
            os.makedirs(self._data_dir, exist_ok=True)
            return os.path.abspath(self._data_dir)
        if self._own_data_dir is None:
            self._own_data_dir = tempfile.mkdtemp(prefix="plexus-inputs-")
            atexit.register(shutil.rmtree, self._own_data_dir, True)
        return self._own_data_dir

    def _write(self, filename, datasets):
        import h5py
        path = os.path.join(self.data_dir(), filename)
        session = _session()
        # Every rank holds the same arrays; a shared data_dir is written by rank 0 alone, a temporary
        # one (possibly node-local) by every rank.
        if self._data_dir is None or session.rank == 0:
            with h5py.File(path + ".tmp", "w") as f:
                for name, values in datasets.items():
                    f.create_dataset(name, data=values)
            os.replace(path + ".tmp", path)
        if self._data_dir is not None:
            session.barrier()
        return path

    def set_connections(self, projection, source, target, weight=None, delay_ms=None):
        """The synapses of projection `projection` from arrays (population-local ids; weight and delay
        per synapse, or None to keep the model's `weight` / `delay_ms`)."""
        source = np.asarray(source)
        target = np.asarray(target)
        if source.ndim != 1 or source.shape != target.shape:
            raise UsageError(f"set_connections('{projection}'): source and target must be 1-D arrays of one length")
        if source.size and (source.min() < 0 or target.min() < 0):
            raise UsageError(f"set_connections('{projection}'): ids must be non-negative")
        data = {"source": source.astype(np.uint64), "target": target.astype(np.uint64)}
        for key, values in (("weight", weight), ("delay_ms", delay_ms)):
            if values is None:
                continue
            values = np.broadcast_to(np.asarray(values, dtype=np.float64), source.shape)
            if not np.all(np.isfinite(values)):
                raise UsageError(f"set_connections('{projection}'): {key} holds non-finite values")
            data[key] = values
        path = self._write(f"connections_{projection}.h5", data)
        changes = {f"projections.{projection}.rule": "from_file", f"projections.{projection}.file": path}
        for key in ("weight", "delay_ms"):
            if key in data:
                changes[f"projections.{projection}.{key}"] = "from_file"
        return self.update(changes)

    def set_spike_trains(self, population, times_ms, node_ids):
        """The spike trains of spike_source population `population`: (time in ms, population-local id)
        pairs."""
        times_ms = np.asarray(times_ms, dtype=np.float64)
        node_ids = np.asarray(node_ids)
        if times_ms.ndim != 1 or times_ms.shape != node_ids.shape:
            raise UsageError(f"set_spike_trains('{population}'): times and ids must be 1-D arrays of one length")
        if times_ms.size and (node_ids.min() < 0 or not np.all(times_ms >= 0)):
            raise UsageError(f"set_spike_trains('{population}'): ids and times must be non-negative")
        order = np.argsort(times_ms, kind="stable")
        path = self._write(f"spikes_{population}.h5", {
            f"spikes/{population}/timestamps": times_ms[order],
            f"spikes/{population}/node_ids": node_ids[order].astype(np.uint64)})
        self.set(f"populations.{population}.params.file", path)
        return self

    def set_task_trials(self, times_ms, units, labels=None, targets=None, target_sample_ms=None,
                        duration_ms=None, channels=None, validation=None, test=None, **task):
        """The task's trials from arrays: `times_ms[k]` and `units[k]` are trial k's spike times (ms)
        and input channels, and `labels[k]` its class (classification) or `targets[k]` its target
        signal, samples x outputs (regression, one sample every `target_sample_ms`, default dt). The
        trials are written in the Plexus layout of `[task] kind = "from_file"`; `validation` and
        `test` are (first, end) ranges of them, or None (validation) / the last fifth (test). Other
        keyword arguments are [task] keys (`window_start_ms`, `shuffle`, `same_step`, ...)."""
        if len(times_ms) != len(units):
            raise UsageError(f"set_task_trials: {len(times_ms)} trials of times but {len(units)} of units")
        if (labels is None) == (targets is None):
            raise UsageError("set_task_trials: give labels (classification) or targets (regression), one of them")
        n = len(times_ms)
        if n == 0:
            raise UsageError("set_task_trials: no trials")
        times = [np.asarray(t, dtype=np.float64).ravel() for t in times_ms]
        ids = [np.asarray(u).ravel() for u in units]
        for k, (t, u) in enumerate(zip(times, ids)):
            if t.shape != u.shape:
                raise UsageError(f"set_task_trials: trial {k} has {t.size} times but {u.size} units")
        offsets = np.zeros(n + 1, dtype=np.uint64)
        offsets[1:] = np.cumsum([t.size for t in times])
        data = {"spikes/times_ms": np.concatenate(times) if offsets[-1] else np.zeros(0),
                "spikes/units": (np.concatenate(ids) if offsets[-1] else np.zeros(0)).astype(np.int64),
                "spikes/offsets": offsets}
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (n,):
                raise UsageError(f"set_task_trials: {labels.size} labels for {n} trials")
            data["labels"] = labels.astype(np.int64)
            task.setdefault("classes", int(labels.max()) + 1)
        else:
            targets = np.asarray(targets, dtype=np.float64)
            if targets.ndim == 2:
                targets = targets[:, :, None]
            if targets.ndim != 3 or targets.shape[0] != n:
                raise UsageError(f"set_task_trials: targets must be trials x samples [x outputs], got {targets.shape}")
            data["targets"] = targets
        path = self._write("task_trials.h5", data)
        if test is None:
            test = (n - max(1, n // 5), n)
        changes = {"task": {**task, "kind": "from_file", "file": path, "layout": "plexus",
                            "test_range": [int(test[0]), int(test[1])]}}
        if validation is not None:
            changes["task"]["validation_range"] = [int(validation[0]), int(validation[1])]
        if duration_ms is None:
            duration_ms = self.get("task.duration_ms")
        if duration_ms is None:
            raise UsageError("set_task_trials: say duration_ms, the length of a trial")
        changes["task"]["duration_ms"] = float(duration_ms)
        if channels is None:
            channels = self.get("task.channels")
        if channels is None:
            channels = int(max((u.max() for u in ids if u.size), default=-1)) + 1
        changes["task"]["channels"] = int(channels)
        if target_sample_ms is not None:
            changes["task"]["target_sample_ms"] = float(target_sample_ms)
        # The old [task] goes (its keys may not fit the new kind): a small table first, then the keys.
        task = changes["task"]
        head = {"kind": task.pop("kind"), "file": task.pop("file")}
        return self.update({"task": head, **{f"task.{k}": v for k, v in task.items()}})

    def __repr__(self):
        extra = f", {len(self.overrides)} override(s)" if self.overrides else ""
        return f"<plexus.Model {self.network_name!r} from {self.name}{extra}>"
