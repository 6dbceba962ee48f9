"""network.scale (model/scale.hpp): one --set resizes a model's ordinary populations, keeping the E/I
ratio and each cell's mean recurrent in-degree, and shrinking all-to-all weights from scaled
populations by 1/sqrt(F). `plexus inspect MODEL.toml` counts the in-degrees with the connection
generator itself; a built network and scale-test (which uses the same function) must agree with it."""
import json
import os
import re

from common import Checker, mpi_command, parse_args, run

args = parse_args()
c = Checker()
w = args.work_dir
cortex = os.path.join(args.source_dir, "models/cortex_ei800_evidence.toml")


def inspect(*sets):
    out = run([args.plexus, "inspect", cortex, *[x for s in sets for x in ("--set", s)]]).stdout
    sizes = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (\w+)\s+\w+\s+size\s+(\d+)", out, re.M)}
    proj = {m.group(1): (float(m.group(2)), m.group(3))
            for m in re.finditer(r"^  (\w+)\s+\w+ -> \w+.*in-degree ([\d.]+)\s+synapses \d+\s+weight (.*)$", out, re.M)}
    m = re.search(r"ordinary neurons (\d+); mean recurrent in-degree ([\d.]+).*; (\d+) synapses in all", out)
    total = int(re.search(r"\): (\d+) neurons", out).group(1))
    return dict(sizes=sizes, proj=proj, ordinary=int(m.group(1)), indegree=float(m.group(2)),
                synapses=int(m.group(3)), total=total)


base = inspect()
big = inspect("network.scale=100")
c.check(base["ordinary"] == 800 and abs(base["indegree"] - 160) < 0.02 * 160,
        f"800-cell cortex: mean recurrent in-degree {base['indegree']:.2f} (expected about 160)")
c.check(big["ordinary"] == 80000 and big["total"] == 80102,
        f"network.scale=100: {big['ordinary']} ordinary cells, {big['total']} neurons in all")
c.check(big["sizes"].get("E") == 64000 and big["sizes"].get("I") == 16000,
        f"E/I kept: {big['sizes'].get('E')} E / {big['sizes'].get('I')} I")
c.check(big["sizes"].get("input") == 100 and big["sizes"].get("out") == 2, "task inputs and readouts not scaled")
rel = abs(big["indegree"] - base["indegree"]) / base["indegree"]
c.check(rel < 0.02, f"mean recurrent in-degree held: {big['indegree']:.3f} vs {base['indegree']:.3f} ({100 * rel:.2f} %)")
for name in ("EE", "EI", "IE", "II"):
    a, b = base["proj"][name][0], big["proj"][name][0]
    c.check(abs(a - b) < 0.03 * a, f"{name}: in-degree {b:.2f} at 80 000 cells, {a:.2f} at 800")
c.check(big["proj"]["E_out"][0] == 64000, "the readout's in-degree grows with F (all-to-all)")
std = lambda d: float(re.search(r"std ([\d.e-]+)", d).group(1))
c.check(abs(std(big["proj"]["E_out"][1]) - std(base["proj"]["E_out"][1]) / 10) < 1e-12,
        f"all-to-all weights from scaled populations times 1/sqrt(F): {big['proj']['E_out'][1]}")
c.check(big["proj"]["in_E"][1] == base["proj"]["in_E"][1], "weights from unscaled inputs unchanged")

# What inspect counts is what is built (on 2 ranks) and what scale-test (same function) builds.
mid = inspect("network.scale=10")
r = run(mpi_command(args, 2, "run", cortex, "--set", "network.scale=10", "--set", "run.duration_ms=2", "-q",
                    "-o", os.path.join(w, "scaled.h5")))
built = run([args.plexus, "inspect", os.path.join(w, "scaled.h5")]).stdout
n = int(re.search(r"(\d+) synapses", built).group(1))
c.check(n == mid["synapses"], f"built network (scale 10, 2 ranks): {n} synapses, inspect counted {mid['synapses']}")
c.check(re.search(r"^  E\s+alif\s+size\s+6400\b", built, re.M) is not None, "the result file records E = 6400")
run([args.plexus, "scale-test", cortex, "--neurons", "8000", "--steps", "5", "--json", os.path.join(w, "st.json")])
st = json.load(open(os.path.join(w, "st.json")))
c.check(st["neurons"] == 8102 and st["synapses"] == mid["synapses"],
        f"scale-test --neurons 8000 builds the same network ({st['neurons']} neurons, {st['synapses']} synapses)")

# Bad values are user errors.
r = run([args.plexus, "inspect", cortex, "--set", "network.scale=0"], expect=2)
c.check("network.scale" in r.stderr, f"network.scale=0 refused: {r.stderr.strip()[:120]}")
r = run([args.plexus, "inspect", cortex, "--set", "network.scale=2", "--set", "network.scale_keep=q"], expect=2)
c.check("scale_keep" in r.stderr, "an unknown scale_keep refused")
c.finish()
