"""Layout rules that the code must keep: only the comm module includes <mpi.h> or calls MPI; every
module has a page in docs/; library code has no absolute paths of a machine; the engine exposes no
private state to other classes (no `friend` in its public headers) and the run kinds above it (train/)
include no private engine header; things of one kind register themselves (no central list)."""
import os
import re

from common import Checker, parse_args

args = parse_args()
c = Checker()
src = os.path.join(args.source_dir, "src", "plexus")
# Home and work directories of development machines, which must not leak into the library.
machine_path = re.compile("/(" + "|".join(["root", "home", "work"]) + ")/")
modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
for module in modules:
    c.check(os.path.exists(os.path.join(args.source_dir, "docs", module + ".md")), f"docs/{module}.md exists")
    for root, _, files in os.walk(os.path.join(src, module)):
        for name in files:
            path = os.path.join(root, name)
            text = open(path).read()
            rel = os.path.relpath(path, src)
            if module != "comm":
                c.check("#include <mpi.h>" not in text, f"{rel} does not include <mpi.h>")
                c.check(not re.search(r"\bMPI_[A-Z][a-z_]+\s*\(", text), f"{rel} makes no MPI calls")
            c.check(not machine_path.search(text), f"{rel} has no absolute machine paths")
            if module == "sim" and name.endswith(".hpp") and not name.endswith("_impl.hpp"):
                c.check(not re.search(r"\bfriend\b", text), f"{rel} befriends no other class")
            if module == "train":
                c.check("simulation_impl.hpp" not in text, f"{rel} includes no private engine header")

# The Python interface (src/python) is a client of the library like the command line: no MPI of its own,
# no machine paths, and no list of run kinds (it reaches them through the registry).
for root, _, files in os.walk(os.path.join(args.source_dir, "src", "python")):
    for name in files:
        if not name.endswith((".cpp", ".hpp", ".py", ".txt")):
            continue
        path = os.path.join(root, name)
        rel = os.path.relpath(path, args.source_dir)
        text = open(path).read()
        c.check("#include <mpi.h>" not in text and not re.search(r"\bMPI_[A-Z][a-z_]+\s*\(", text),
                f"{rel} makes no MPI calls")
        c.check(not machine_path.search(text), f"{rel} has no absolute machine paths")
        if name == "module.cpp":
            for word in ["\"simulate\"", "\"gradient\"", "\"force\"", "\"tempotron\""]:
                c.check(word not in text, f"{rel} does not name the run kind {word}")

# Run kinds, rules, tasks and objectives are registered from their own files: the command line has no
# list of rules or experiments, and the task factory no chain of kinds.
main = open(os.path.join(args.source_dir, "apps", "plexus_main.cpp")).read()
for word in ["\"eprop\"", "\"force\"", "\"tempotron\"", "\"equilibrium\""]:
    c.check(word not in main, f"apps/plexus_main.cpp does not name the rule {word}")
task = open(os.path.join(src, "task", "task.cpp")).read()
c.check("\"evidence\"" not in task and "\"dms\"" not in task, "task/task.cpp has no list of task kinds")
c.check(os.path.exists(os.path.join(args.source_dir, "docs", "extending.md")), "docs/extending.md exists")
c.finish()
