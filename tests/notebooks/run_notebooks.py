"""Execute notebooks in the omeflow Rust kernel the way a reader runs them, and check them.

evcxr reports a panic or an `Err` as a successful cell (the text only goes to stderr), so every
executed notebook is scanned: any error output, any `panicked at`, any `Error:` line fails it.
Each notebook may carry checks in its metadata (`omeflow.checks`): output substrings expected
from given cells, and `threads_flat`: cells that print `threads: N` must not grow.

Usage: run_notebooks.py [--warmup] [--out DIR] [NOTEBOOK ...]
Default notebooks: tests/notebooks/*.ipynb and notebooks/*.ipynb. Prints one line per notebook
and a closing `N passed, M failed` line; exits non-zero when any failed.
"""
import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "omeflow-rust"
BAD = [re.compile(p) for p in (r"panicked at", r"^Error:", r"^error(\[E\d+\])?:", r"thread '.*' panicked")]


def outputs_text(cell):
    texts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            texts.append((out.get("name"), out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            texts.append(("result", data.get("text/plain", "") + data.get("text/html", "")))
        elif out.get("output_type") == "error":
            trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.get("traceback", [])))
            texts.append(("error", out.get("ename", "") + ": " + out.get("evalue", "") + "\n" + trace))
    return texts


def check(nb):
    problems = []
    cells = [c for c in nb.cells if c.cell_type == "code"]
    checks = nb.metadata.get("omeflow", {}).get("checks", {})
    # "errors": {"cell index": [substrings]}: cells that must fail (an error reply, as Python's
    # kernel gives for an exception) with these words; any other cell must not fail.
    must_fail = {int(k): v for k, v in checks.get("errors", {}).items()}
    if cells and cells[0].get("execution_count") not in (None, 1):
        problems.append(f"the first cell is numbered [{cells[0].get('execution_count')}], not [1]")
    for i, cell in enumerate(cells):
        if i in must_fail:
            errors = " ".join(t for name, t in outputs_text(cell) if name == "error")
            if not errors:
                problems.append(f"cell {i}: expected an error, got {outputs_text(cell)!r:.300}")
            for e in must_fail[i]:
                if e not in errors:
                    problems.append(f"cell {i}: expected {e!r} in the error, got {errors[:300]!r}")
            continue
        for name, text in outputs_text(cell):
            if name == "error":
                problems.append(f"cell {i}: error output: {text[:300]}")
                continue
            for line in text.splitlines():
                if any(p.search(line) for p in BAD):
                    problems.append(f"cell {i}: {line[:300]}")
    for idx, absent in checks.get("absent", {}).items():
        text = "".join(t for _, t in outputs_text(cells[int(idx)]))
        for a in absent:
            if a in text:
                problems.append(f"cell {idx}: {a!r} should not be in the output {text[:300]!r}")
    for idx, expected in checks.get("expect", {}).items():
        text = "".join(t for _, t in outputs_text(cells[int(idx)]))
        for e in expected:
            if e not in text:
                problems.append(f"cell {idx}: expected {e!r} in output, got {text[:300]!r}")
    flat = checks.get("threads_flat", [])
    counts = []
    for idx in flat:
        text = "".join(t for _, t in outputs_text(cells[idx]))
        m = re.search(r"threads: (\d+)", text)
        if not m:
            problems.append(f"cell {idx}: no 'threads: N' line")
        else:
            counts.append(int(m.group(1)))
    if counts and max(counts) > counts[0]:
        problems.append(f"thread count grew from cell to cell: {counts}")
    # "pictures": {"cell index": how many PNG pictures that cell must show at least}.
    for idx, want in checks.get("pictures", {}).items():
        got = 0
        for o in cells[int(idx)].get("outputs", []):
            data = o.get("data", {})
            got += 1 if "image/png" in data else 0
            got += data.get("text/html", "").count("data:image/png")
        if got < want:
            problems.append(f"cell {idx}: expected {want} picture(s), found {got}")
    return problems


def run(path, out_dir, timeout=1800):
    nb = nbformat.read(path, as_version=4)
    # The kernel works in the output folder, so files a notebook saves stay out of the checkout.
    out_dir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, startup_timeout=1800,
                            allow_errors=True, resources={"metadata": {"path": str(out_dir)}})
    start = time.time()
    client.execute()
    seconds = time.time() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    return check(nb), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--warmup", action="store_true", help="run the warm-up notebook only")
    ap.add_argument("--out", type=Path, default=ROOT / "target" / "notebooks")
    ap.add_argument("--allow-fallback", action="store_true",
                    help="let the kernel ask rust-analyzer for a type it cannot name (off in tests:"
                         " the names the running cells give must be enough)")
    args = ap.parse_args()
    if not args.allow_fallback:
        # The kernel inherits this environment (jupyter_client merges it with the kernelspec's).
        os.environ["EVCXR_ANALYSIS_FALLBACK"] = "0"
    if args.warmup:
        paths = [ROOT / "kernel" / "warmup.ipynb"]
    else:
        paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "tests" / "notebooks").glob("*.ipynb")) + sorted(
            (ROOT / "notebooks").glob("*.ipynb"))
    passed = failed = 0
    for path in paths:
        try:
            problems, seconds = run(path, args.out)
        except Exception as e:  # a kernel that died or never started
            problems, seconds = [f"{type(e).__name__}: {e}"], 0.0
        if problems:
            failed += 1
            print(f"FAIL {path.relative_to(ROOT)} ({seconds:.1f} s)")
            for p in problems:
                print(f"  {p}")
        else:
            passed += 1
            print(f"ok   {path.relative_to(ROOT)} ({seconds:.1f} s)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
