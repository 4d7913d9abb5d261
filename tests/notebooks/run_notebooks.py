"""Execute notebooks in the omeflow Rust kernel the way a reader runs them, and check them.

Every executed notebook is judged by rules.py (browser_check.py judges the same way): any error
output, any `panicked at`, any `Error:` line fails it, and the checks in its metadata
(`omeflow.checks`) must hold.

Usage: run_notebooks.py [--warmup] [--out DIR] [NOTEBOOK ...]
Default notebooks: tests/notebooks/*.ipynb and notebooks/*.ipynb. Prints one line per notebook
and a closing `N passed, M failed` line; exits non-zero when any failed.
"""
import argparse
import os
import re
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from rules import check, outputs_text

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "omeflow-rust"


def failing_cells_text(nb, problems, limit=4000):
    """The whole stderr and error output of each code cell a problem names ("cell N: ..."), so a
    failure the 300 characters of a problem cut short (a kernel child's exit, its last stderr
    line "While processing instruction ...") is in the log of a run whose files are gone."""
    cells = [c for c in nb.cells if c.get("cell_type") == "code"]
    named = sorted({int(m.group(1)) for p in problems for m in [re.match(r"cell (\d+):", p)] if m})
    report = []
    for i in named:
        if i >= len(cells):
            continue
        text = "\n".join(t for kind, t in outputs_text(cells[i]) if kind in ("stderr", "error"))
        if text.strip():
            report.append(f"cell {i} stderr and errors:\n" + textwrap.indent(text[-limit:], "    | "))
    return report


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
    problems = check(nb)
    return problems, seconds, failing_cells_text(nb, problems)


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
            problems, seconds, details = run(path, args.out)
        except Exception as e:  # a kernel that died or never started
            problems, seconds, details = [f"{type(e).__name__}: {e}"], 0.0, []
        if problems:
            failed += 1
            print(f"FAIL {path.relative_to(ROOT)} ({seconds:.1f} s)")
            for p in problems:
                print(f"  {p}")
            for d in details:
                print(f"  {d}")
        else:
            passed += 1
            print(f"ok   {path.relative_to(ROOT)} ({seconds:.1f} s)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
