"""Mallocs per call by call site, from `perf script -F comm,ip,sym` of a malloc uprobe recorded
with call chains (scripts/bench-allocations). A site is the first frame, leaf first, that is not
the allocator or the runtime's growth and copy helpers: the code that asked for the memory."""

import collections
import re
import shutil
import subprocess
import sys

# Frames that allocate on someone else's behalf.
PLUMBING = re.compile(
    r"^(malloc|__libc_malloc|swift_allocObject|swift_slowAlloc|swift_task_alloc|operator new|_Znwm)"
    r"|StackAllocator|_consumeAndCreateNew|_allocateUninitialized|_allocateBufferUninitialized"
    r"|_allocateStringStorage|__StringStorage|_uncheckedFromUTF8|_uninitializedCount|_copyToContiguousArray|_copyCollectionToContiguousArray|_createNewBuffer"
    r"|makeUniqueAndReserveCapacity|ensureUniqueNative|reserveCapacity|_StringGuts|_fromUTF8Repairing"
    r"|^sqlite3(Malloc|DbMalloc|MallocZero|DbMallocRaw|DbMallocZero|VdbeMemGrow)|^dbMallocRawFinish"
)


def samples(path):
    """(thread, frames leaf first) per sample."""
    thread, frames = None, []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line.strip():
            if thread is not None:
                yield thread, frames
            thread, frames = None, []
        elif line[0] in " \t":
            frames.append(line.strip().split(None, 1)[-1])  # drop the address
        else:
            if thread is not None:
                yield thread, frames
            thread, frames = line.split()[0], []
    if thread is not None:
        yield thread, frames


def main():
    path, calls = sys.argv[1], int(sys.argv[2])
    sites = collections.Counter()
    for thread, frames in samples(path):
        names = [f.split(" (")[0] for f in frames] or ["[no call chain]"]
        # A chain of allocator frames only: the caller has no frame pointers (SQLite, say).
        site = next((n for n in names if not PLUMBING.search(n)), "[a caller without frame pointers]")
        sites[(thread, re.sub(r"\+0x[0-9a-f]+$", "", site))] += 1
    top = sites.most_common(25)
    names = demangled([site for (_, site), _ in top])
    for ((thread, _), n), name in zip(top, names):
        print(f"{n / calls:6.2f}  {thread[:14]:14}  {name[:160]}")


def demangled(names):
    """Swift symbols made readable by the toolchain's demangler, when it is there."""
    if not shutil.which("swift"):
        return names
    out = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names),
                         capture_output=True, text=True)
    lines = out.stdout.splitlines()
    return lines if out.returncode == 0 and len(lines) == len(names) else names


if __name__ == "__main__":
    main()
