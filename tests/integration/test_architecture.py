"""Layout rules that the code must keep: only the comm module includes <mpi.h> or calls MPI; every
module has a page in docs/; library code has no absolute paths of a machine."""
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
    for name in os.listdir(os.path.join(src, module)):
        path = os.path.join(src, module, name)
        text = open(path).read()
        rel = f"{module}/{name}"
        if module != "comm":
            c.check("#include <mpi.h>" not in text, f"{rel} does not include <mpi.h>")
            c.check(not re.search(r"\bMPI_[A-Z][a-z_]+\s*\(", text), f"{rel} makes no MPI calls")
        c.check(not machine_path.search(text), f"{rel} has no absolute machine paths")
c.finish()
