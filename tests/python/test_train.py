"""Training from Python: curves, the callback and its early stop, identical to the command line."""
import subprocess

import h5py
import numpy as np
import pytest

import plexus
from conftest import PLEXUS_BIN, model_path


def evidence(iterations):
    return plexus.Model.from_toml(model_path("eprop_evidence100.toml")).update(
        {"train.iterations": iterations, "train.batch_size": 8, "train.validation_every": 2,
         "train.validation_trials": 16, "train.test_trials": 16})


def test_callback_sees_each_iteration_and_stops_early(workdir):
    seen = []

    def on_iteration(iteration, values):
        seen.append((iteration, values))
        return iteration < 3  # stop after the third of ten

    r = plexus.train(evidence(10), quiet=True, on_iteration=on_iteration)
    assert [i for i, _ in seen] == [1, 2, 3]
    assert set(seen[0][1]) >= {"loss", "accuracy", "rate_hz", "grad_norm", "seconds"}
    assert "validation_accuracy" in seen[1][1] and "validation_accuracy" not in seen[0][1]
    curves = r.training
    assert len(curves["loss"]) == 3
    assert np.allclose(curves["loss"], [v["loss"] for _, v in seen])
    assert r.training_attributes["iterations"] == 3
    s, t, w0 = r.weights("rec_rec", "initial")
    _, _, w1 = r.weights("rec_rec", "trained")
    assert len(w0) == 100 * 99 and not np.array_equal(w0, w1)  # no autapses; trained, and the weights moved


def test_callback_returning_none_goes_on_and_matches_the_command_line(workdir):
    r = plexus.train(evidence(3), quiet=True, on_iteration=lambda i, v: None, output="py.h5")
    assert len(r.training["loss"]) == 3
    subprocess.run([PLEXUS_BIN, "train", model_path("eprop_evidence100.toml"), "-q", "-o", "cli.h5",
                    "--set", "train.iterations=3", "--set", "train.batch_size=8", "--set", "train.validation_every=2",
                    "--set", "train.validation_trials=16", "--set", "train.test_trials=16"],
                   check=True, capture_output=True)
    with h5py.File("cli.h5", "r") as f:
        assert np.array_equal(f["training/loss"][()], r.training["loss"])
        for p in ("in_rec", "rec_rec", "rec_out"):
            assert np.array_equal(f[f"weights/{p}/values"][()][-1], r.weights(p)[2])


def test_an_exception_in_the_callback_reaches_the_caller(workdir):
    def boom(iteration, values):
        raise ValueError("stop here")

    try:
        plexus.train(evidence(3), quiet=True, on_iteration=boom)
    except ValueError as e:
        assert "stop here" in str(e)
    else:
        raise AssertionError("the callback's exception was lost")


def word_trials(n, rng, channels=20):
    """Two classes: channels 0-9 fire early and 10-19 late, or the other way round."""
    times, units, labels = [], [], []
    for k in range(n):
        label = k % 2
        t, u = [], []
        for c in range(channels):
            early = (c < channels // 2) != bool(label)
            lo = 5.0 if early else 45.0
            for s in np.unique(np.floor(rng.uniform(lo, lo + 30.0, 4))):
                t.append(s + 0.5)
                u.append(c)
        times.append(np.array(t))
        units.append(np.array(u))
        labels.append(label)
    return times, units, np.array(labels)


def small_network(classes_or_outputs, task):
    return plexus.Model.from_dict({
        "model": {"name": "numpy_trials"}, "run": {"dt_ms": 1.0}, "network": {"seed": 3}, "task": task,
        "train": {"rule": "eprop", "iterations": 30, "batch_size": 8, "learning_rate": 0.01,
                  "validation_trials": 0, "test_trials": 40},
        "populations": {"input": {"model": "task_input", "size": 20},
                        "rec": {"model": "lif", "size": 40, "params": {"tau_m_ms": 50.0, "v_th": 0.6}},
                        "out": {"model": "readout", "size": classes_or_outputs, "params": {"tau_out_ms": 20.0}}},
        "projections": {
            "in_rec": {"source": "input", "target": "rec", "rule": "all_to_all", "delay_ms": 0.0,
                       "weight": {"dist": "normal", "mean": 0.0, "std": 0.3}},
            "rec_rec": {"source": "rec", "target": "rec", "rule": "all_to_all", "delay_ms": 1.0,
                        "weight": {"dist": "normal", "mean": 0.0, "std": 0.1}},
            "rec_out": {"source": "rec", "target": "out", "rule": "all_to_all", "delay_ms": 0.0,
                        "weight": {"dist": "normal", "mean": 0.0, "std": 0.1}}}})


def test_task_trials_from_numpy_classification(workdir):
    """Held (seed 3 of the network, the trials' seed 5): test accuracy 1.0 on the 40 held-out trials
    after 30 iterations; chance is 0.5."""
    times, units, labels = word_trials(200, np.random.default_rng(5))
    m = small_network(2, {"kind": "evidence"}).set_task_trials(times, units, labels=labels, duration_ms=90.0,
                                                              test=(160, 200), window_start_ms=60.0)
    assert m.get("task.kind") == "from_file" and m.get("task.classes") == 2 and m.get("task.channels") == 20
    r = plexus.train(m, quiet=True)
    acc = float(r.file["test"].attrs["accuracy"])
    assert acc >= 0.9, acc


def test_task_trials_from_numpy_regression(workdir):
    """A target per trial: 0 for 40 ms, then +1 or -1 by class, the loss taken from 40 ms on. Held (network
    seed 3, trials' seed 6): training loss 0.492 over the first 5 iterations, 0.056 over the last 5 of 30;
    test loss 0.029 on the last 24 trials."""
    times, units, labels = word_trials(120, np.random.default_rng(6))
    step = np.where(np.arange(90) < 40, 0.0, 1.0)
    targets = np.array([step if label else -step for label in labels])  # trials x samples (1 output)
    m = small_network(1, {}).set_task_trials(times, units, targets=targets, duration_ms=90.0, window_start_ms=40.0)
    r = plexus.train(m, quiet=True)
    loss = r.training["loss"]
    assert loss[-5:].mean() < 0.25 * loss[:5].mean(), loss
    assert float(r.file["test"].attrs["loss"]) < 0.1


def test_task_trials_bad_arrays(workdir):
    times, units, labels = word_trials(10, np.random.default_rng(1))
    m = small_network(2, {})
    with pytest.raises(plexus.UsageError):
        m.set_task_trials(times, units[:5], labels=labels, duration_ms=90.0)
    with pytest.raises(plexus.UsageError):
        m.set_task_trials(times, units, duration_ms=90.0)
    units[2] = units[2] + 100  # beyond the 20 channels
    bad = m.copy().set_task_trials(times, units, labels=labels, duration_ms=90.0, channels=20)
    with pytest.raises(plexus.ModelError) as e:
        plexus.train(bad, quiet=True)
    assert "beyond the input channels" in str(e.value) and e.value.key == "task.file"
