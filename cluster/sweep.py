#!/usr/bin/env python3
"""Parameter sweeps for Slurm job arrays (cluster/submit_sweep.sh, cluster/sweep.sbatch).

A sweep file (TOML) lists parameter sets, as a product of lists, explicit rows, or both (the product's
sets first, then the rows):

    [product]                       # every combination, the last key varying fastest
    "train.learning_rate" = [0.002, 0.005]
    "network.seed" = [1, 2, 3]

    [[rows]]                        # one set per row
    "train.learning_rate" = 0.01
    "network.seed" = 1

Keys are the model's keys as `--set` takes them; values are TOML values. Task i of the array runs set
i (0-based, SLURM_ARRAY_TASK_ID).

    sweep.py count SWEEP.toml          the number of sets
    sweep.py sets SWEEP.toml I         set I as plexus arguments, one per line (--set, key=value, ...)
    sweep.py show SWEEP.toml           the sets as a table
    sweep.py kind MODEL.toml           "train" if the model has a [train] table, else "run"
Exit code 2 with a message for a bad file."""
import itertools
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        sys.exit("sweep.py: needs Python 3.11 (tomllib) or the tomli package")


def fail(msg):
    print(f"sweep.py: {msg}", file=sys.stderr)
    sys.exit(2)


def literal(v, where):
    """A TOML value as --set writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(literal(x, where) for x in v) + "]"
    fail(f"{where}: values must be numbers, strings, booleans or arrays of them")


def load(path):
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        fail(f"cannot read '{path}': {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        fail(f"{path}: {e}")
    unknown = set(doc) - {"product", "rows"}
    if unknown:
        fail(f"{path}: unknown table(s) {sorted(unknown)} (a sweep has [product] and [[rows]])")
    sets = []
    product = doc.get("product", {})
    if not isinstance(product, dict):
        fail(f"{path}: [product] must be a table of key = [values]")
    for k, v in product.items():
        if not isinstance(v, list) or not v:
            fail(f"{path}: product key '{k}' needs a non-empty array of values")
    if product:
        keys = list(product)
        for combo in itertools.product(*(product[k] for k in keys)):
            sets.append(dict(zip(keys, combo)))
    rows = doc.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        fail(f"{path}: rows must be written [[rows]], each a table of key = value")
    for i, r in enumerate(rows):
        if not r:
            fail(f"{path}: row {i + 1} is empty")
        sets.append(dict(r))
    if not sets:
        fail(f"{path}: no parameter sets (give [product] or [[rows]])")
    for i, s in enumerate(sets):
        for k, v in s.items():
            literal(v, f"{path}: set {i}, key '{k}'")
            if not k or any(c.isspace() for c in k):
                fail(f"{path}: set {i}: '{k}' is not a model key")
    return sets


def main(argv):
    if len(argv) < 3 or argv[1] not in ("count", "sets", "show", "kind"):
        fail("usage: sweep.py count|show SWEEP.toml, sweep.py sets SWEEP.toml I, or sweep.py kind MODEL.toml")
    if argv[1] == "kind":
        try:
            with open(argv[2], "rb") as f:
                print("train" if "train" in tomllib.load(f) else "run")
        except (OSError, tomllib.TOMLDecodeError) as e:
            fail(f"cannot read the model '{argv[2]}': {e}")
        return
    sets = load(argv[2])
    if argv[1] == "count":
        print(len(sets))
    elif argv[1] == "sets":
        if len(argv) < 4 or not argv[3].isdigit() or int(argv[3]) >= len(sets):
            fail(f"set index must be 0..{len(sets) - 1}, not {argv[3] if len(argv) > 3 else 'missing'}")
        for k, v in sets[int(argv[3])].items():
            print("--set")
            print(f"{k}={literal(v, k)}")
    else:
        keys = []
        for s in sets:
            keys += [k for k in s if k not in keys]
        print("\t".join(["task"] + keys))
        for i, s in enumerate(sets):
            print("\t".join([str(i)] + [literal(s[k], k) if k in s else "" for k in keys]))


if __name__ == "__main__":
    main(sys.argv)
