"""Training from Python: curves, the callback and its early stop, identical to the command line."""
import subprocess

import h5py
import numpy as np

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
