"""docs/python.md's tutorial runs: its python blocks, in order, as one script, in a scratch directory
that sees the repository's models."""
import os
import re

from conftest import SOURCE_DIR, run_python


def test_tutorial_runs(workdir):
    text = open(os.path.join(SOURCE_DIR, "docs", "python.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    (workdir / "tutorial.py").write_text("\n".join(blocks))
    os.symlink(os.path.join(SOURCE_DIR, "models"), workdir / "models")
    r = run_python(workdir / "tutorial.py", cwd=workdir)
    for png in ("network.png", "rates.png", "training.png"):
        assert os.path.getsize(workdir / "tutorial" / png) > 10000, png
    # The sweep's rates rise with the drive, and the training ran and moved the weights.
    sweep = re.search(r"\{120\.0: ([\d.]+),.*280\.0: ([\d.]+)\}", r.stdout)
    assert sweep and float(sweep.group(2)) > float(sweep.group(1)), r.stdout
    assert re.search(r"trained \d+ iterations", r.stdout), r.stdout
