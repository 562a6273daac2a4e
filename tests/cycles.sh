#!/bin/sh
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
#
# tests/cycles.sh: run by make check.  No file of fcgi/ may call into a
# file that calls back into it, directly or through others.  Reads the
# symbol tables of the objects in libtollgate.a with nm: object A depends
# on object B (A != B) when A has an undefined symbol (U, or weak w/v)
# that B defines (T, D, B, R, C, and weak W/V, small-data G/S, ifunc i).
# Data counts as well as code: a file that uses the routes table of
# route.c depends on route.c, and route.c on every handler named in it.
# Every strongly connected component of more than one file is printed
# with one concrete cycle and the symbols that make each of its edges.
#
# Usage: tests/cycles.sh [--dot]
#   --dot  print the whole file graph in graphviz format (edges inside a
#          cycle in red) and exit 0; for the docs, not used by make check.
# Environment: top_builddir (default: $PWD), top_srcdir (default: the
# parent of this script's directory), NM (default: nm).
# Exit status: 0 without cycles ("cycles: ok"), 1 with cycles, 99 when
# the library cannot be read (automake's hard error).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$PWD}
NM=${NM:-nm}

mode='check'
case ${1:-} in
'') ;;
--dot) mode='dot' ;;
-h|--help)
	sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0 ;;
*)
	echo "usage: $0 [--dot]" >&2
	exit 2 ;;
esac

lib=$top_builddir/libtollgate.a
if [ ! -f "$lib" ]; then
	echo "cycles: $lib not found (build first: ./dev build)" >&2
	exit 99
fi
command -v python3 >/dev/null 2>&1 || {
	echo "cycles: python3 not found" >&2
	exit 99
}

tmp=$(mktemp "${TMPDIR:-/tmp}/cycles.XXXXXX") || exit 99
trap 'rm -f "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

# POSIX format, one line per symbol: "libtollgate.a[acct.o]: name T value size".
if ! (cd "$top_builddir" && "$NM" -P -A libtollgate.a) >"$tmp"; then
	echo "cycles: $NM failed on $lib" >&2
	exit 99
fi

prog=$(cat <<'EOF'
import os, sys

mode, srcdir, nmout = sys.argv[1], sys.argv[2], sys.argv[3]
DEF = set("TDBRCWVGSi")
USE = set("Uwv")

def source(member):
    # Automake names an object of libtollgate.a fcgi/NAME.o, or
    # fcgi/libtollgate_a-NAME.o when the library has its own flags; ar
    # keeps only the base name.
    base = member[:-2] if member.endswith(".o") else member
    if base.startswith("libtollgate_a-"):
        base = base[len("libtollgate_a-"):]
    if not os.path.exists(os.path.join(srcdir, "fcgi", base + ".c")):
        print("cycles: warning: no fcgi/%s.c for object %s" % (base, member),
              file=sys.stderr)
    return base + ".c"

defs = {}      # symbol -> set of files defining it
uses = {}      # file -> set of symbols it leaves undefined
files = set()
with open(nmout) as f:
    for line in f:
        head, sep, rest = line.partition("]: ")
        if not sep or "[" not in head:
            continue
        member = head[head.rindex("[") + 1:]
        fields = rest.split()
        if len(fields) < 2:
            continue
        sym, kind = fields[0], fields[1]
        name = source(member)
        files.add(name)
        uses.setdefault(name, set())
        if kind in DEF:
            defs.setdefault(sym, set()).add(name)
        elif kind in USE:
            uses[name].add(sym)

if not files:
    print("cycles: no objects in libtollgate.a", file=sys.stderr)
    sys.exit(99)

# edges[a][b] = symbols of b that a uses
edges = {f: {} for f in files}
for a in files:
    for sym in uses[a]:
        for b in defs.get(sym, ()):
            if b != a:
                edges[a].setdefault(b, set()).add(sym)

# Tarjan's strongly connected components, iteratively.
index, low, onstack, stack, sccs = {}, {}, set(), [], []
counter = 0
for root in sorted(files):
    if root in index:
        continue
    work = [(root, iter(sorted(edges[root])))]
    index[root] = low[root] = counter; counter += 1
    stack.append(root); onstack.add(root)
    while work:
        v, it = work[-1]
        w = next(it, None)
        if w is not None:
            if w not in index:
                index[w] = low[w] = counter; counter += 1
                stack.append(w); onstack.add(w)
                work.append((w, iter(sorted(edges[w]))))
            elif w in onstack:
                low[v] = min(low[v], index[w])
            continue
        work.pop()
        if work:
            u = work[-1][0]
            low[u] = min(low[u], low[v])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); onstack.discard(w); comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

cyclic = sorted((c for c in sccs if len(c) > 1), key=lambda c: (-len(c), c))
comp_of = {f: i for i, c in enumerate(cyclic) for f in c}

def symlist(a, b, most=3):
    s = sorted(edges[a][b])
    text = ", ".join(s[:most])
    if len(s) > most:
        text += ", +%d more" % (len(s) - most)
    return text

def shortest_cycle(comp):
    # Breadth-first search inside the component from its first file back
    # to itself: the shortest cycle through that file.
    start, members = comp[0], set(comp)
    prev, queue = {}, [start]
    for v in queue:
        for w in sorted(edges[v]):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return None

if mode == "dot":
    print("digraph tollgate {")
    print("\trankdir=LR;")
    print('\tnode [shape=box, fontname="monospace"];')
    for f in sorted(files):
        attr = ', color=red' if f in comp_of else ''
        print('\t"%s" [label="%s"%s];' % (f, f, attr))
    for a in sorted(files):
        for b in sorted(edges[a]):
            red = a in comp_of and comp_of.get(b) == comp_of[a]
            print('\t"%s" -> "%s" [tooltip="%s"%s];'
                  % (a, b, ", ".join(sorted(edges[a][b])),
                     ", color=red" if red else ""))
    print("}")
    sys.exit(0)

if not cyclic:
    print("cycles: ok")
    sys.exit(0)

print("cycles: %d call cycle%s between files of fcgi/:"
      % (len(cyclic), "" if len(cyclic) == 1 else "s"))
for comp in cyclic:
    print("cycles: component of %d files: %s" % (len(comp), " ".join(comp)))
    path = shortest_cycle(comp)
    # path is [start, ..., start] in call order.
    text = path[0]
    for a, b in zip(path, path[1:]):
        text += " -> %s (%s)" % (b, symlist(a, b))
    print("cycles:   cycle: " + text)
sys.exit(1)
EOF
)

python3 -c "$prog" "$mode" "$top_srcdir" "$tmp"
