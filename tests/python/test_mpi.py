"""Under mpiexec every rank runs the script; 2 ranks give what 1 rank gives, to the bit."""
import numpy as np
import pytest

from conftest import SOURCE_DIR, have_mpiexec, run_python
import os


@pytest.mark.skipif(not have_mpiexec(), reason="no mpiexec")
def test_two_ranks_identical_to_one(workdir):
    script = os.path.join(os.path.dirname(__file__), "scripts", "distributed.py")
    models = os.path.join(SOURCE_DIR, "models")
    run_python(script, ranks=1, args=[str(workdir / "one.npz"), models])
    run_python(script, ranks=2, args=[str(workdir / "two.npz"), models])
    one, two = np.load(workdir / "one.npz"), np.load(workdir / "two.npz")
    assert int(one["size"]) == 1 and int(two["size"]) == 2 and int(two["ranks"]) == 2
    for k in ("E_t", "E_id", "I_t", "I_id", "loss", "rec"):
        assert np.array_equal(one[k], two[k]), k
    assert len(one["E_t"]) > 1000
    assert len(two["loss"]) == 2 and int(two["calls"]) == 2  # stopped by rank 0 on every rank
