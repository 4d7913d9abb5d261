#!/usr/bin/env bash
# Before/after benchmark of two omeflow trees, interleaved so that drift hits both.
#
#   bash bench/compare_builds.sh BEFORE_DIR AFTER_DIR [ROUNDS=3]
#
# Each DIR is an omeflow checkout (a sibling of the shared test data folder, e.g. ../bench-before: the
# classify bench reads $DIR/../shared/data/ilastik/pixel-class-133.ilp, a path compiled in).
# Both are built first (`cargo build --release`, then `cargo bench --no-run --bench plane --bench
# compute --bench classify`; cargo skips what is up to date); the bench executables are located
# from cargo's JSON messages ("executable"), so the bench sources may live anywhere in the tree.
#
# Per round, every item runs once for BEFORE and once for AFTER, back to back (A B A B ...):
#   segment  `omeflow segment FIXTURE --level 0 --json` on small.zarr (3952 planes 128x135) and
#            large.zarr (16 planes 2048x2169), SEG_REPS times each per round; plus the same with
#            --table-out/--labels-out into a fresh temp dir when both CLIs accept them.
#   compute  the `compute` bench (harness=false main, run as `EXE --bench --json`).
#   plane    the `plane` bench (`EXE --bench`).
#   classify the `classify` bench (`EXE --bench --z CLS_Z --threads CLS_THREADS`, and
#            `--predict-only`) and `omeflow classify` on the bench's stack written as OME-Zarr
#            (t CLS_CLI_T x c 2 x z CLS_Z x 218 x 212 uint16) with --out into a temp dir.
# Then a table: median of BEFORE, median of AFTER, ratio AFTER/BEFORE, and every raw value.
#
# Environment (all optional):
#   FIXTURES=${TMPDIR:-/tmp}/omeflow-bench-fixtures   segment fixtures (made with BEFORE's bench/make_fixtures.py
#                                   when missing) and the classify image (made here when missing)
#   OUT=${TMPDIR:-/tmp}/omeflow-bench-ab/<date>  logs, raw results (results.tsv) and the table (table.txt)
#   TMP_ROOT=/dev/shm  where the +outs / classify --out outputs go (tmpfs: no disk noise)
#   SEG_REPS=3  CLS_Z=48  CLS_THREADS=1,2  CLS_CLI_T=2  ORDER=abab|alternate (alternate: BA in
#   even rounds)  PYTHON=python3 (needs numpy, numcodecs, zarr 3 for the fixtures)
#   SKIP=...    space-separated items to leave out: segment segment-out compute plane
#               classify-bench classify-predict classify-cli
#   NO_BUILD=1  trust the existing builds (still asks cargo for the executables' paths)
#   SEED_TARGET=0  build a DIR without target/ cold (default: copy BEFORE's target/release first)
set -uo pipefail

usage() { sed -n '2,4p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
BEFORE=$(cd "$1" && pwd) || usage
AFTER=$(cd "$2" && pwd) || usage
ROUNDS=${3:-3}
FIXTURES=${FIXTURES:-${TMPDIR:-/tmp}/omeflow-bench-fixtures}
OUT=${OUT:-${TMPDIR:-/tmp}/omeflow-bench-ab/$(date +%Y%m%d-%H%M%S)}
SEG_REPS=${SEG_REPS:-3}
CLS_Z=${CLS_Z:-48}
CLS_THREADS=${CLS_THREADS:-1,2}
CLS_CLI_T=${CLS_CLI_T:-2}
ORDER=${ORDER:-abab}
PYTHON=${PYTHON:-python3}
SKIP=" ${SKIP:-} "
mkdir -p "$OUT/logs"
# Where --table-out/--labels-out/--out write: tmpfs by default, so that disk writeback and the
# slow deletion of thousands of chunk files add no noise; TMP_ROOT=/some/disk/dir to include the disk.
TMP_ROOT=${TMP_ROOT:-$([ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "$OUT")}
TMP_ROOT=$(mktemp -d "$TMP_ROOT/bench-ab.XXXXXX")
TMP_ON_DISK=1; [ "$(stat -f -c %T "$TMP_ROOT")" = tmpfs ] && TMP_ON_DISK=0
trap 'rm -rf "$TMP_ROOT"' EXIT
RESULTS=$OUT/results.tsv
: >"$RESULTS"
T_START=$(date +%s)
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
skipped() { [[ "$SKIP" == *" $1 "* ]]; }

# ---------------------------------------------------------------- parsing helper (python)
PARSE=$OUT/parse.py
cat >"$PARSE" <<'PY'
"""parse.py KIND BUILD ROUND STDOUT [TIMEFILE]: append `bench<TAB>metric<TAB>unit<TAB>better
<TAB>build<TAB>round<TAB>value` rows for one run's output to stdout."""
import json, re, sys

kind, build, rnd, path = sys.argv[1:5]
timef = sys.argv[5] if len(sys.argv) > 5 else None
text = open(path, errors="replace").read()
rows = []

def row(bench, metric, unit, better, value):
    rows.append((bench, metric, unit, better, build, rnd, repr(float(value))))

def json_objects(s):
    """Every top-level JSON value in s (pretty-printed or one per line)."""
    dec, i, out = json.JSONDecoder(), 0, []
    while i < len(s):
        j = min([k for k in (s.find("{", i), s.find("[", i)) if k >= 0], default=-1)
        if j < 0:
            break
        try:
            v, end = dec.raw_decode(s, j)
            out.append(v)
            i = end
        except ValueError:
            i = j + 1
    return out

def time_rows(bench):
    if not timef:
        return
    try:
        wall, rss = open(timef).read().split()[-2:]
        row(bench, "wall", "s", "lower", float(wall))
        row(bench, "peak RSS", "MB", "lower", int(rss) / 1024)
    except Exception as e:
        print(f"warning: {bench}: no /usr/bin/time figures ({e})", file=sys.stderr)

if kind.startswith("segment"):
    bench = kind  # e.g. segment small, segment small +outs
    objs = [o for o in json_objects(text) if isinstance(o, dict) and "seconds" in o]
    if objs:
        o = objs[-1]
        row(bench, "seconds (json)", "s", "lower", o["seconds"])
        row(bench, "planes/s (json)", "1/s", "higher", o.get("planes_per_second", 0))
        row(bench, "objects (check)", "", "equal", o.get("total_objects", -1))
        if o.get("failed"):
            row(bench, "failed planes (check)", "", "equal", o["failed"])
    time_rows(bench)
elif kind == "compute":
    objs = [o for o in json_objects(text) if isinstance(o, list)]
    if objs:
        for r in objs[-1]:
            n = r["tasks"]
            for k, name in (("compute_s_per_task", "compute"), ("submit_gather_s_per_task", "submit+gather")):
                if k in r:
                    row("compute", f"{name} {n:,} tasks", "us/task", "lower", r[k] * 1e6)
    else:  # the text table: tasks, compute us/task, submit+gather us/task
        for m in re.finditer(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s*$", text, re.M):
            n = int(m.group(1))
            row("compute", f"compute {n:,} tasks", "us/task", "lower", float(m.group(2)))
            row("compute", f"submit+gather {n:,} tasks", "us/task", "lower", float(m.group(3)))
    time_rows("compute")
elif kind == "plane":
    size = "?"
    for line in text.splitlines():
        m = re.match(r"\s*plane (\d+) x (\d+)", line)
        if m:
            size = f"{m.group(1)}x{m.group(2)}"
            continue
        m = re.match(r"\s*(.+?)\s+([\d.]+) ms(?:\s+\((\d+) objects\))?", line)
        if m:
            row(f"plane {size}", m.group(1).strip(), "ms", "lower", float(m.group(2)))
elif kind == "classify-bench":
    for o in json_objects(text):
        if isinstance(o, dict) and "threads" in o and "seconds" in o:
            b = f"classify bench z{o.get('shape', ['?'])[0]} {o['threads']}t"
            row(b, "seconds", "s", "lower", o["seconds"])
            row(b, "voxels/s", "1/s", "higher", o["voxels_per_second"])
            if "mean_class2" in o:
                row(b, "mean class 2 (check)", "", "equal", o["mean_class2"])
    time_rows("classify bench (process)")
elif kind == "classify-predict":
    for o in json_objects(text):
        if isinstance(o, dict) and o.get("predict_only"):
            row("classify predict-only 1M", "seconds", "s", "lower", o["seconds"])
            row("classify predict-only 1M", "samples/s", "1/s", "higher", o["samples_per_second"])
elif kind == "classify-cli":
    objs = [o for o in json_objects(text) if isinstance(o, dict) and "seconds" in o]
    b = "classify CLI"
    if objs:
        o = objs[-1]
        shape = o.get("shape")
        if shape:
            b = f"classify CLI t{shape[0]} z{shape[1]}"
        row(b, "seconds (json)", "s", "lower", o["seconds"])
        row(b, "voxels/s (json)", "1/s", "higher", o["voxels_per_second"])
        mp = o.get("mean_probability") or []
        if len(mp) > 1:
            row(b, "mean class 2 (check)", "", "equal", mp[1])
    time_rows(b)
for r in rows:
    print("\t".join(map(str, r)))
if not rows:
    print(f"warning: {kind} {build} round {rnd}: nothing parsed from {path}", file=sys.stderr)
PY

# ---------------------------------------------------------------- build and locate
declare -A BIN EXE_PLANE EXE_COMPUTE EXE_CLASSIFY ILP_OK HAS_OUTS HAS_CLS_OUT
T_BUILD0=$(date +%s)
for D in "$BEFORE" "$AFTER"; do
    [ -n "${EXE_PLANE[$D]+x}" ] && continue   # BEFORE == AFTER
    tag=before; [ "$D" = "$BEFORE" ] || tag=after
    if [ -z "${NO_BUILD:-}" ]; then
        if [ "$D" != "$BEFORE" ] && [ ! -e "$D/target" ] && [ -d "$BEFORE/target/release" ] && [ "${SEED_TARGET:-1}" = 1 ]; then
            # A fresh clone: start from BEFORE's compiled dependencies (cargo rebuilds whatever
            # differs, and always omeflow itself, whose path differs); SEED_TARGET=0 to build cold.
            say "seeding $D/target/release from $BEFORE/target/release"
            mkdir -p "$D/target" && cp -a "$BEFORE/target/release" "$D/target/"
        fi
        say "building $D (cargo build --release)"
        (cd "$D" && cargo build --release) >"$OUT/logs/build-$tag.log" 2>&1 ||
            { echo "cargo build --release failed in $D; see $OUT/logs/build-$tag.log" >&2; tail -20 "$OUT/logs/build-$tag.log" >&2; exit 1; }
    fi
    say "building/locating bench executables in $D (cargo bench --no-run)"
    (cd "$D" && cargo bench --no-run --bench plane --bench compute --bench classify \
        --message-format=json) >"$OUT/logs/bench-build-$tag.json" 2>"$OUT/logs/bench-build-$tag.log" ||
        { echo "cargo bench --no-run failed in $D; see $OUT/logs/bench-build-$tag.log" >&2; tail -20 "$OUT/logs/bench-build-$tag.log" >&2; exit 1; }
    while IFS=$'\t' read -r name exe; do
        case $name in
            plane) EXE_PLANE[$D]=$exe ;;
            compute) EXE_COMPUTE[$D]=$exe ;;
            classify) EXE_CLASSIFY[$D]=$exe ;;
        esac
    done < <("$PYTHON" -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target") or {}
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in t.get("kind", []):
        print(t["name"] + "\t" + m["executable"])
' "$OUT/logs/bench-build-$tag.json")
    for n in plane compute classify; do
        case $n in plane) e=${EXE_PLANE[$D]:-} ;; compute) e=${EXE_COMPUTE[$D]:-} ;; classify) e=${EXE_CLASSIFY[$D]:-} ;; esac
        [ -x "$e" ] || { echo "no executable for bench '$n' in $D (see $OUT/logs/bench-build-$tag.json)" >&2; exit 1; }
        say "  $n: $e"
    done
    # The CLI: cargo bench rebuilt it last (profile bench = release settings) in target/release.
    BIN[$D]=$D/target/release/omeflow
    [ -x "${BIN[$D]}" ] || { echo "no ${BIN[$D]}" >&2; exit 1; }
    say "  omeflow: ${BIN[$D]} ($(cd "$D" && git log --oneline -1 2>/dev/null | cut -c1-60))"
    h=$("${BIN[$D]}" segment --help 2>&1)
    if grep -q -- '--table-out' <<<"$h" && grep -q -- '--labels-out' <<<"$h"; then HAS_OUTS[$D]=1; else HAS_OUTS[$D]=0; fi
    if "${BIN[$D]}" classify --help 2>&1 | grep -q -- '--out'; then HAS_CLS_OUT[$D]=1; else HAS_CLS_OUT[$D]=0; fi
    if [ -f "$D/../shared/data/ilastik/pixel-class-133.ilp" ]; then ILP_OK[$D]=1; else
        ILP_OK[$D]=0; say "  WARNING: $D/../shared/data/ilastik/pixel-class-133.ilp missing: classify bench skipped for $D"; fi
done
T_BUILD1=$(date +%s)

# ---------------------------------------------------------------- fixtures
ILP=""
for c in "$BEFORE/../shared/data/ilastik/pixel-class-133.ilp" "$AFTER/../shared/data/ilastik/pixel-class-133.ilp"; do
    [ -f "$c" ] && { ILP=$(cd "$(dirname "$c")" && pwd)/pixel-class-133.ilp; break; }
done
fixtures_ok() {
    [ -f "$FIXTURES/fixtures.json" ] && [ -d "$FIXTURES/small.zarr/0" ] && [ -d "$FIXTURES/large.zarr/0" ] &&
        "$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]))["images"]; sys.exit(0 if m["small"]["planes"]==3952 and m["large"]["planes"]==16 else 1)' "$FIXTURES/fixtures.json" 2>/dev/null
}
if ! fixtures_ok; then
    MF=""
    for D in "$BEFORE" "$AFTER"; do for M in "$D/bench/make_fixtures.py" "$D/bench/python/make_fixtures.py"; do [ -f "$M" ] && { MF=$M; break 2; }; done; done
    [ -n "$MF" ] || { echo "no bench/make_fixtures.py in either tree and no fixtures in $FIXTURES" >&2; exit 1; }
    say "writing segment fixtures into $FIXTURES ($MF, defaults: 3952 small planes, 16 large)"
    "$PYTHON" "$MF" "$FIXTURES" >&2 || exit 1
fi
CLS_IMG=$FIXTURES/classify-t${CLS_CLI_T}-z${CLS_Z}.zarr
if ! skipped classify-cli && [ ! -f "$CLS_IMG/0/.zarray" ]; then
    say "writing the classify bench's stack as $CLS_IMG"
    "$PYTHON" - "$CLS_IMG" "$CLS_Z" "$CLS_CLI_T" <<'PY' >&2 || exit 1
import os, shutil, sys
import numcodecs, numpy as np, zarr
out, nz, nt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SHAPE, M64 = (237, 218, 212), (1 << 64) - 1
def splitmix64(x):  # benches/classify.rs / bench/classify_bench.py
    if isinstance(x, int):
        z = (x + 0x9E3779B97F4A7C15) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
_, ny, nx = SHAPE
z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
i = ((z * ny + y) * nx + x).astype(np.uint64)
c0 = 300 + (splitmix64(i) % np.uint64(256)).astype(np.int64)
c1 = 200 + (splitmix64(np.uint64(1 << 40) + i) % np.uint64(256)).astype(np.int64)
shell = np.zeros(c0.shape, bool)
for s in range(48):
    h = splitmix64(1_000_000 + s)
    cz, cy, cx, r = h % SHAPE[0], (h >> 16) % ny, (h >> 32) % nx, 6 + (h >> 48) % 10
    d2 = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2
    inside = d2 <= r * r
    c0[inside] += 2500 - (1500 * d2[inside]) // (r * r)
    shell |= np.abs(d2 - r * r) <= 2 * r
c1[shell] += 1800
c1[(x + 2 * y + 3 * z) % 47 < 2] += 600
data = np.stack([np.minimum(c0, 65535), np.minimum(c1, 65535)]).astype(np.uint16)
tmp = out + ".partial"
shutil.rmtree(tmp, ignore_errors=True)
root = zarr.open_group(tmp, mode="w", zarr_format=2)
arr = root.create_array("0", shape=(nt, 2, nz, ny, nx), chunks=(1, 1, 1, ny, nx), dtype="<u2",
    compressors=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
    chunk_key_encoding={"name": "v2", "separator": "/"}, fill_value=0, order="C")
root.attrs.update({"multiscales": [{"version": "0.4", "name": "classify-bench", "axes": [
    {"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
    {"name": "z", "type": "space", "unit": "micrometer"}, {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"}],
    "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * 5}]}]}],
    "omero": {"id": 1, "name": "classify-bench", "version": "0.4", "channels": [
        {"active": True, "coefficient": 1.0, "color": "00FF00", "family": "linear", "inverted": False,
         "label": "nuclei", "window": {"start": 0, "end": 4000, "min": 0, "max": 65535}},
        {"active": True, "coefficient": 1.0, "color": "FF00FF", "family": "linear", "inverted": False,
         "label": "membranes", "window": {"start": 0, "end": 4000, "min": 0, "max": 65535}}],
        "rdefs": {"defaultT": 0, "defaultZ": nz // 2, "model": "color"}}})
for t in range(nt):
    arr[t] = data
shutil.rmtree(out, ignore_errors=True)
os.rename(tmp, out)
print(f"{out}: t {nt} x c 2 x z {nz} x y {ny} x x {nx} uint16 (benches/classify.rs stack)")
PY
fi
# Warm the page cache so that the first run is not the only one reading from disk.
cat "$FIXTURES"/small.zarr/0/*/*/*/*/* "$FIXTURES"/large.zarr/0/*/*/*/*/* >/dev/null 2>&1
[ -d "$CLS_IMG" ] && find "$CLS_IMG" -type f -exec cat {} + >/dev/null 2>&1

OUTS=0; [ "${HAS_OUTS[$BEFORE]}" = 1 ] && [ "${HAS_OUTS[$AFTER]}" = 1 ] && OUTS=1
[ $OUTS = 1 ] || say "NOTE: --table-out/--labels-out not accepted by both CLIs: 'segment +outs' skipped"
CLS_OUT=0; [ "${HAS_CLS_OUT[$BEFORE]}" = 1 ] && [ "${HAS_CLS_OUT[$AFTER]}" = 1 ] && CLS_OUT=1

# ---------------------------------------------------------------- running
# run KIND LABEL DIR ROUND CMD...: run CMD in DIR under /usr/bin/time, parse its output.
run() {
    local kind=$1 label=$2 dir=$3 rnd=$4; shift 4
    local b=$PASS
    local n=$((++RUN_N))
    local log="$OUT/logs/r${rnd}-$(printf %03d $n)-$b-${label// /_}"
    (cd "$dir" && OMEFLOW_BENCH=1 /usr/bin/time -f "%e %M" -o "$log.time" "$@") >"$log.out" 2>"$log.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        say "  FAILED ($rc): $b $label: $*"; tail -5 "$log.err" >&2
        printf '%s\tfailed runs\t\tlower\t%s\t%s\t1.0\n' "$label" "$b" "$rnd" >>"$RESULTS"
        return
    fi
    "$PYTHON" "$PARSE" "$kind" "$b" "$rnd" "$log.out" "$log.time" >>"$RESULTS"
    say "  $b $label: $(cut -d' ' -f1 "$log.time") s"
}
RUN_N=0
# each LABEL KIND -- args with @BIN@ @TMP@ @EXE_x@ placeholders: one run per build, in round order.
each() {
    local label=$1 kind=$2; shift 2
    local order=(before after)
    if [ "$ORDER" = alternate ] && [ $((R % 2)) = 0 ]; then order=(after before); fi
    for PASS in "${order[@]}"; do
        local D=$BEFORE; [ $PASS = after ] && D=$AFTER
        case $kind in classify-bench|classify-predict) [ "${ILP_OK[$D]}" = 1 ] || continue ;; esac
        local tmp; tmp=$(mktemp -d "$TMP_ROOT/run.XXXXXX")
        local args=() a
        for a in "$@"; do
            a=${a//@BIN@/${BIN[$D]}}; a=${a//@TMP@/$tmp}
            a=${a//@EXE_PLANE@/${EXE_PLANE[$D]}}; a=${a//@EXE_COMPUTE@/${EXE_COMPUTE[$D]}}
            a=${a//@EXE_CLASSIFY@/${EXE_CLASSIFY[$D]}}
            args+=("$a")
        done
        run "$kind" "$label" "$D" "$R" "${args[@]}"
        if [ "$TMP_ON_DISK" = 1 ]; then
            # Deleting ~12k label chunks costs seconds of disk work (ext4 with discard here):
            # left for the end; what the run wrote is flushed before the next run starts.
            [ -n "$(ls -A "$tmp")" ] && sync
        else
            rm -rf "$tmp"
        fi
    done
}

say "load before running: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/load.txt"
T_RUN0=$(date +%s)
for R in $(seq 1 "$ROUNDS"); do
    say "round $R of $ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "round $R: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"
    if ! skipped segment; then
        for rep in $(seq 1 "$SEG_REPS"); do
            for f in small large; do
                each "segment $f" "segment $f" @BIN@ segment "$FIXTURES/$f.zarr" --level 0 --json
            done
        done
    fi
    if [ $OUTS = 1 ] && ! skipped segment-out; then
        for rep in $(seq 1 "$SEG_REPS"); do
            for f in small large; do
                each "segment $f +outs" "segment $f +outs" @BIN@ segment "$FIXTURES/$f.zarr" --level 0 --json \
                    --table-out @TMP@/table.csv --labels-out @TMP@/labels.zarr
            done
        done
    fi
    skipped compute || each compute compute @EXE_COMPUTE@ --bench --json
    skipped plane || each plane plane @EXE_PLANE@ --bench
    skipped classify-bench || each "classify bench" classify-bench @EXE_CLASSIFY@ --bench --z "$CLS_Z" --threads "$CLS_THREADS"
    skipped classify-predict || each "classify predict" classify-predict @EXE_CLASSIFY@ --bench --predict-only
    if ! skipped classify-cli && [ -n "$ILP" ]; then
        if [ $CLS_OUT = 1 ]; then
            each "classify cli" classify-cli @BIN@ classify "$CLS_IMG" --project "$ILP" --json --out @TMP@/probs.zarr
        else
            each "classify cli" classify-cli @BIN@ classify "$CLS_IMG" --project "$ILP" --json
        fi
    fi
done
T_RUN1=$(date +%s)
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.txt"

# ---------------------------------------------------------------- table
"$PYTHON" - "$RESULTS" "$BEFORE" "$AFTER" <<'PY' | tee "$OUT/table.txt"
import statistics, sys
from collections import OrderedDict
res, before_dir, after_dir = sys.argv[1:4]
data = OrderedDict()
for line in open(res):
    p = line.rstrip("\n").split("\t")
    if len(p) != 7:
        continue
    bench, metric, unit, better, build, rnd, v = p
    d = data.setdefault((bench, metric), {"unit": unit, "better": better, "before": [], "after": []})
    d[build].append((int(rnd), float(v)))

def fmt(x):
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1e5:
        return f"{x:.4g}"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.3f}"
    return f"{x:.4g}"

print(f"before: {before_dir}\nafter:  {after_dir}")
print("ratio = after median / before median; 'lower'/'higher' says which way is better;")
print("(check) rows must be equal (same objects / probabilities), a ratio other than 1 there is a difference.\n")
hdr = f"{'benchmark':<34} {'metric':<30} {'unit':<8} {'better':<6} {'before med':>11} {'after med':>11} {'ratio':>7}  raw before | raw after"
print(hdr)
print("-" * len(hdr))
warn = []
last = None
for (bench, metric), d in data.items():
    b = [v for _, v in d["before"]]
    a = [v for _, v in d["after"]]
    bm = statistics.median(b) if b else float("nan")
    am = statistics.median(a) if a else float("nan")
    ratio = am / bm if b and a and bm else float("nan")
    name = bench if bench != last else ""
    last = bench
    raw = " ".join(fmt(v) for v in b) + " | " + " ".join(fmt(v) for v in a)
    print(f"{name:<34} {metric:<30} {d['unit']:<8} {d['better']:<6} {fmt(bm):>11} {fmt(am):>11} {ratio:>7.3f}  {raw}")
    if d["better"] == "equal" and len(set(b + a)) > 1:
        warn.append(f"{bench}: {metric} differs: {sorted(set(b + a))}")
if warn:
    print("\nCHECKS THAT DIFFER:")
    for w in warn:
        print("  " + w)
PY
T_END=$(date +%s)
TMP_FS=$(stat -f -c %T "$TMP_ROOT")
{
    echo
    echo "rounds: $ROUNDS; build/locate: $((T_BUILD1 - T_BUILD0)) s; benchmarks: $((T_RUN1 - T_RUN0)) s; total: $((T_END - T_START)) s"
    echo "outputs written to $TMP_FS ($TMP_ROOT, removed at exit)"
    cat "$OUT/load.txt"
    echo "raw rows: $RESULTS; logs: $OUT/logs"
} | tee -a "$OUT/table.txt"
