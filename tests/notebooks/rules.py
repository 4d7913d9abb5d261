"""How an executed notebook is judged, shared by run_notebooks.py (headless, nbclient) and
browser_check.py (JupyterLab in Chromium), so both fail on the same things.

A notebook fails on any error output (the kernel sends one for a compile error, a panic and an
`Err` returned by `?`, as Python's kernel does for an exception), on any line matching BAD in its
text outputs, and on a check of its metadata (`omeflow.checks`) that does not hold:
- "expect": {"cell index": [substrings]}: texts a cell's output must hold;
- "absent": {"cell index": [substrings]}: texts it must not hold;
- "errors": {"cell index": [substrings]}: cells that must fail, with these words in the error;
- "pictures": {"cell index": n}: at least n PNG pictures in the cell's output;
- "tables": {"cell index": n}: at least n HTML tables in the cell's output;
- "threads_flat": [cell indices]: cells printing `threads: N`, where N must not grow.
Cell indices count code cells only, from 0.
"""
import re

# Lines that say a cell went wrong, in any text output and in what JupyterLab shows of an error
# (its traceback): a panic, the kernel's `Error: ` (a `?` error, a panic, an interrupt), a compile
# error (rustc's `error[E0308]:`, the kernel's `[E0308] Error:`).
BAD = [re.compile(p) for p in (r"panicked at", r"^Error:", r"^error(\[E\d+\])?:", r"^\[E\d+\] Error:",
                               r"thread '.*' panicked")]


def bad_lines(text):
    """The lines of text that match a BAD pattern."""
    return [line for line in text.splitlines() if any(p.search(line) for p in BAD)]


def traceback_text(out):
    """An error output as JupyterLab shows it: its traceback without colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.get("traceback", [])))


def outputs_text(cell):
    texts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            texts.append((out.get("name"), out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            data = out.get("data", {})
            texts.append(("result", data.get("text/plain", "") + data.get("text/html", "")))
        elif out.get("output_type") == "error":
            trace = traceback_text(out)
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
            # What the page shows of the error must read as one (browser_check.py judges the page
            # by BAD): a bare message would look like a line on stderr.
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and not bad_lines(traceback_text(out)):
                    problems.append(f"cell {i}: the error's traceback has no error line: {traceback_text(out)[:300]!r}")
            continue
        for name, text in outputs_text(cell):
            if name == "error":
                problems.append(f"cell {i}: error output: {text[:300]}")
                continue
            for line in bad_lines(text):
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
    # "tables": {"cell index": how many HTML tables that cell must show at least}.
    for idx, want in checks.get("tables", {}).items():
        got = sum(o.get("data", {}).get("text/html", "").count("<table") for o in cells[int(idx)].get("outputs", []))
        if got < want:
            problems.append(f"cell {idx}: expected {want} table(s), found {got}")
    return problems
