"""Run the tutorial notebooks in a real browser: JupyterLab in Debian's Chromium, driven by Playwright.

For each notebook: open it in JupyterLab, make sure its kernel is "Rust (omeflow)" (picking it in the
kernel dialog when JupyterLab asks), run every code cell through the UI one by one (select it,
Shift+Enter), wait for its execution count and the kernel's idle, then judge the page and the
saved notebook:
- in the page, every output line matching rules.BAD (the kernel's error outputs start with
  `Error:`, panics say `panicked at`), an `<img>` that did not load (naturalWidth 0), fewer pictures
  or tables than the notebook's metadata (`omeflow.checks`) expects, an expected text missing;
- the notebook saved from the UI (read back through Jupyter's REST API) by rules.check, the judge
  of run_notebooks.py.
Prints the time from opening to kernel idle and each cell's time, writes them to OUT/timings.json
and a full-page screenshot per notebook (and one on failure) to OUT/.

Without --url it starts JupyterLab itself (--lab-python, on 127.0.0.1 with a random token) on a
copy of the notebooks in OUT/served/, so the checkout is never touched. With --url it drives a
JupyterLab that is already running (its URL with the token); --notebook-dir says where the
notebooks are under that server's root. --offline runs the whole check in a network namespace of
its own (`unshare -n`, only loopback up): the notebooks must run with no network.

With --live it also runs a notebook of its own whose compute lasts a few seconds: the live progress
bar must move in the page and end at 100% beside the summary, which the saved notebook keeps.

Usage: browser_check.py [--out DIR] [--url URL] [--notebook-dir DIR] [--lab-python PATH] [--offline]
                        [--self-test] [--live] [NOTEBOOK ...]
Default notebooks: notebooks/*.ipynb (with --url: every notebook in --notebook-dir). Exits non-zero
when any notebook failed.
"""
import argparse
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat

from rules import BAD, check

ROOT = Path(__file__).resolve().parents[2]
KERNEL_NAME = "omeflow-rust"
KERNEL_DISPLAY = "Rust (omeflow)"
CHROMIUM = "/usr/bin/chromium"


class Lab:
    """A JupyterLab server: its base URL, its token, and the REST calls the check needs."""

    def __init__(self, base, token, proc=None):
        self.base, self.token, self.proc = base.rstrip("/") + "/", token, proc

    def url(self, path, **query):
        query["token"] = self.token
        return self.base + path.lstrip("/") + "?" + urllib.parse.urlencode(query)

    def api(self, path, method="GET", **query):
        data = b"" if method == "POST" else None
        req = urllib.request.Request(self.url("api/" + path, **query), data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def notebook(self, path):
        return nbformat.from_dict(self.api("contents/" + urllib.parse.quote(path), content=1)["content"])

    def end_sessions(self, path):
        """Shuts down the kernels of earlier sessions on this notebook, so counting starts at [1]."""
        for session in self.api("sessions"):
            if session.get("path") == path:
                self.api("sessions/" + session["id"], method="DELETE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(python, served, out):
    token = secrets.token_hex(16)
    port = free_port()
    settings = out / "lab-settings"
    # No news or update toasts over the notebook (and no request for them when offline).
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(out / "lab-workspaces"),
               JUPYTER_RUNTIME_DIR=str(out / "lab-runtime"))
    # As run_notebooks.py: the names the running cells give must be enough (no rust-analyzer).
    env.setdefault("EVCXR_ANALYSIS_FALLBACK", "0")
    cmd = [python, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
           "--LabApp.news_url=", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(out / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}/", token, proc)
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}: see {out / 'lab.log'}")
        try:
            lab.api("status")
            return lab
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"JupyterLab did not answer in 180 s: see {out / 'lab.log'}")
            time.sleep(0.3)


def stop_lab(lab):
    if lab.proc is None or lab.proc.poll() is not None:
        return
    lab.proc.terminate()
    try:
        lab.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        lab.proc.kill()
        lab.proc.wait()


# The state of one cell in the page: prompt, outputs (mime type and text), pictures, tables.
CELL_STATE_JS = """(i) => {
  const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell.jp-Notebook-cell')[i];
  if (!cell) return null;
  const prompt = cell.querySelector('.jp-InputPrompt');
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
    mime: o.getAttribute('data-mime-type') || '', text: o.innerText, html: o.innerHTML}));
  const imgs = [...cell.querySelectorAll('.jp-OutputArea img')].map(img => ({
    complete: img.complete, width: img.naturalWidth, src: (img.getAttribute('src') || '').slice(0, 60)}));
  return {prompt: prompt ? prompt.innerText.trim() : '', outputs, imgs,
          tables: cell.querySelectorAll('.jp-OutputArea table').length};
}"""

KERNEL_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return {name: '', status: ''};
  const name = panel.querySelector('.jp-KernelName, .jp-Toolbar-kernelName');
  const ind = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const bar = document.querySelector('#jp-main-statusbar');
  return {name: name ? name.innerText.trim() : '', status: ind ? ind.getAttribute('data-status') : '',
          bar: bar ? bar.innerText : '', dialog: !!document.querySelector('.jp-Dialog')};
}"""


def kernel_ready(page):
    state = page.evaluate(KERNEL_STATE_JS)
    return state["name"] == KERNEL_DISPLAY and state["status"] == "idle" and f"{KERNEL_DISPLAY} | Idle" in state["bar"]


def pick_kernel(page):
    """Answers JupyterLab's kernel dialog with "Rust (omeflow)" when it asks."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return False
    select = dialog.locator("select")
    if select.count():
        option = select.locator("option", has_text=KERNEL_DISPLAY)
        select.select_option(value=option.first.get_attribute("value"))
    dialog.locator("button.jp-mod-accept").click()
    return True


def wait_kernel(page, timeout):
    """Waits for "Rust (omeflow) | Idle"; opens and answers the kernel dialog if another kernel is on."""
    deadline = time.monotonic() + timeout
    asked = False
    while time.monotonic() < deadline:
        if pick_kernel(page):
            asked = True
        state = page.evaluate(KERNEL_STATE_JS)
        if kernel_ready(page):
            return asked
        if state["name"] and state["name"] not in (KERNEL_DISPLAY, "No Kernel") and not state["dialog"] and not asked:
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName").first.click()
            asked = True
        time.sleep(0.05)
    raise TimeoutError(f"the kernel was not '{KERNEL_DISPLAY} | Idle' after {timeout} s: {page.evaluate(KERNEL_STATE_JS)}")


def judge_cell(k, state, checks):
    """Problems the page shows in code cell k (same rules as rules.check, on the rendered text)."""
    problems = []
    must_fail = {int(i) for i in checks.get("errors", {})}
    if k not in must_fail:
        for out in state["outputs"]:
            for line in out["text"].splitlines():
                if any(p.search(line) for p in BAD):
                    problems.append(f"cell {k}: {out['mime']}: {line[:300]}")
    for img in state["imgs"]:
        if not img["complete"] or img["width"] == 0:
            problems.append(f"cell {k}: a picture did not load (naturalWidth 0): {img['src']}")
    want = checks.get("pictures", {}).get(str(k), 0)
    loaded = sum(1 for img in state["imgs"] if img["width"] > 0)
    if loaded < want:
        problems.append(f"cell {k}: expected {want} picture(s) on the page, {loaded} loaded")
    want = checks.get("tables", {}).get(str(k), 0)
    if state["tables"] < want:
        problems.append(f"cell {k}: expected {want} table(s) on the page, found {state['tables']}")
    shown = "\n".join(o["text"] + o["html"] for o in state["outputs"])
    for e in checks.get("expect", {}).get(str(k), []):
        if e not in shown:
            problems.append(f"cell {k}: expected {e!r} on the page")
    return problems


def screenshot(page, path):
    """The whole notebook in one picture: the window is made as tall as the notebook first."""
    height = page.evaluate("""() => {
      const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
              || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
      return nb ? nb.scrollHeight : 0; }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height + 200), 16000)})
    page.evaluate("""() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
                             .forEach(e => { e.scrollTop = 0; })""")
    time.sleep(0.5)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def kernel_stacks(lab, out, name):
    """The threads of the kernels this script's JupyterLab runs, and their sockets, in OUT.

    The page that stayed "Unknown" in CI had a kernel that answered on control (its shutdown took
    0.3 s) but never again on shell or iopub: every nudge of jupyter_server after the reload went
    unanswered for 60 s (lab.log). What the kernel's threads were waiting on is the next clue.
    Needs gdb; nothing is written without it or with --url."""
    if lab.proc is None or not shutil.which("gdb"):
        return None
    kids = subprocess.run(["pgrep", "-P", str(lab.proc.pid)], capture_output=True, text=True).stdout.split()
    path = out / f"{name}-kernel-stacks.txt"
    try:
        write_kernel_stacks(kids, path)
    except (OSError, subprocess.SubprocessError) as e:
        return f"not written: {type(e).__name__}: {e}"
    return str(path)


def write_kernel_stacks(kids, path):
    with open(path, "w") as f:
        for pid in kids:
            f.write(f"== kernel process {pid}\n")
            f.flush()
            subprocess.run(["gdb", "-p", pid, "-batch", "-ex", "thread apply all bt"], stdout=f,
                           stderr=subprocess.STDOUT, timeout=120)
        f.write("== ss -tnpi\n")
        f.flush()
        subprocess.run(["ss", "-tnpi"], stdout=f, stderr=subprocess.STDOUT)


def restart_kernels(lab, path):
    """Restarts the kernels of the sessions on `path` (Kernel > Restart, through the REST API).
    Returns what was done, for the timings record."""
    done = []
    try:
        for session in lab.api("sessions"):
            if session.get("path") == path and session.get("kernel"):
                kid = session["kernel"]["id"]
                lab.api(f"kernels/{kid}/restart", method="POST")
                done.append(kid)
    except OSError as e:
        return f"restart failed: {type(e).__name__}: {e}"
    return f"restarted {done}"


def run_notebook(context, lab, path, out, cell_timeout, start_timeout):
    """Opens, runs and judges one notebook (path under the server's root). Returns its record."""
    name = Path(path).stem
    record = {"notebook": path, "open_to_kernel_idle_s": None, "cells": [], "total_s": None, "problems": [],
              "screenshot": None}
    model = lab.notebook(path)
    checks = model.metadata.get("omeflow", {}).get("checks", {})
    kinds = [c.cell_type for c in model.cells]
    had_outputs = any(c.get("outputs") for c in model.cells if c.cell_type == "code")
    lab.end_sessions(path)
    page = context.new_page()
    page.set_default_timeout(60_000)
    start = time.monotonic()
    try:
        # `reset` starts from an empty workspace: only this notebook is open.
        page.goto(lab.url("lab/tree/" + urllib.parse.quote(path), reset=""))
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell.jp-Notebook-cell", timeout=start_timeout * 1000)
        try:
            record["kernel_dialog"] = wait_kernel(page, min(60, start_timeout))
        except TimeoutError as first:
            # Seen in CI, twice, never reproduced here: a page whose kernel status stays
            # "Unknown" although the server started and connected the kernel; after a reload,
            # jupyter_server's nudges went unanswered ("Nudge: attempt 120" in lab.log): the
            # kernel answered on control but no longer on shell or iopub. Its threads are kept
            # (kernel_stacks) for the cause; then, as a reader would, the kernel is restarted
            # (a new process) and the page reloaded. Only once, and said in the output.
            print(f"  {name}: {first}; restarting the kernel and reloading the page once", flush=True)
            record["kernel_reload"] = str(first)
            record["kernel_stacks"] = kernel_stacks(lab, out, name)
            record["kernel_restart"] = restart_kernels(lab, path)
            page.reload()
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell.jp-Notebook-cell",
                                   timeout=start_timeout * 1000)
            record["kernel_dialog"] = wait_kernel(page, start_timeout)
        record["open_to_kernel_idle_s"] = round(time.monotonic() - start, 2)
        print(f"  {name}: open -> kernel idle {record['open_to_kernel_idle_s']:.2f} s", flush=True)
        cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell.jp-Notebook-cell")
        page.wait_for_function(f"() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                               f".jp-Notebook .jp-Cell.jp-Notebook-cell').length === {len(kinds)}")
        if had_outputs:
            # Outputs saved earlier would pass for this run's: clear them as a reader would.
            page.locator(".lm-MenuBar-itemLabel", has_text="Edit").click()
            page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").click()
        if path == LIVE_NAME:
            page.evaluate(LIVE_WATCH_JS)
        k = 0
        for i, kind in enumerate(kinds):
            if kind != "code":
                continue
            cell = cells.nth(i)
            cell.scroll_into_view_if_needed()
            cell.locator(".jp-InputPrompt").click()
            t0 = time.monotonic()
            # Shift+Enter runs the cell and selects the next; on the last cell it would add one.
            page.keyboard.press("Control+Enter" if i == len(kinds) - 1 else "Shift+Enter")
            try:
                page.wait_for_function(
                    """([i, n]) => {
                      const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell.jp-Notebook-cell')[i];
                      const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                      return cell && cell.querySelector('.jp-InputPrompt').innerText.trim() === `[${n}]:`
                        && ind && ind.getAttribute('data-status') === 'idle';
                    }""", arg=[i, k + 1], timeout=cell_timeout * 1000, polling=20)
                seconds = time.monotonic() - t0
                # Pictures are data: URLs; give them the moment they need to decode.
                page.wait_for_function(
                    """(i) => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell.jp-Notebook-cell')[i]
                                .querySelectorAll('.jp-OutputArea img')].every(img => img.complete)""",
                    arg=i, timeout=10_000)
            except Exception as e:  # a cell that never finished
                seconds = time.monotonic() - t0
                record["problems"].append(f"cell {k}: not finished after {seconds:.0f} s "
                                          f"({page.evaluate(CELL_STATE_JS, i)['prompt']}): {type(e).__name__}")
                record["cells"].append({"cell": k, "seconds": round(seconds, 3)})
                break
            state = page.evaluate(CELL_STATE_JS, i)
            problems = judge_cell(k, state, checks)
            record["problems"] += problems
            record["cells"].append({"cell": k, "seconds": round(seconds, 3), "outputs": len(state["outputs"]),
                                    "pictures": len(state["imgs"]), "tables": state["tables"]})
            flag = ("  caught (self-test)" if path == SELF_TEST_NAME else "  FAIL") if problems else ""
            print(f"  {name}: cell {k:2d} {seconds:6.2f} s{flag}", flush=True)
            k += 1
        if path == LIVE_NAME:
            problems, seen = live_problems(page, 0)
            record["problems"] += problems
            record["live_bar_values"] = seen
            print(f"  {name}: the bar went through {len(set(seen))} values", flush=True)
        record["total_s"] = round(time.monotonic() - start, 2)
        record["cells_s"] = round(sum(c["seconds"] for c in record["cells"]), 2)
        # Save from the UI and judge the saved notebook as run_notebooks.py judges its own.
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
        saved = lab.notebook(path)
        nbformat.write(saved, out / Path(path).name)
        record["problems"] += [f"saved notebook: {p}" for p in check(saved)]
        shot = out / f"{name}.png"
        screenshot(page, shot)
        record["screenshot"] = str(shot)
    except Exception as e:
        record["problems"].append(f"{type(e).__name__}: {str(e)[:500]}")
    finally:
        if record["problems"]:
            shot = out / f"{name}-failure.png"
            try:
                screenshot(page, shot)
                record["failure_screenshot"] = str(shot)
            except Exception:
                pass
        page.close()
        try:
            lab.end_sessions(path)
        except OSError:
            pass
    return record


# --live: a notebook whose one cell runs a compute of a few seconds. While it runs, the page is
# sampled every 50 ms for the live progress bar (`.omeflow-progress progress`); the bar must move
# (two values or more) and end at 100% beside the summary, which the saved notebook holds.
LIVE_NAME = "browser_live_progress.ipynb"
LIVE_CELL = """let tasks: Vec<_> = (0..48u64)
    .map(|i| delayed(format!("task {i}"), move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        Ok::<_, String>(i)
    }))
    .collect();
let done = Compute::new().threads(2).run(tasks)?;
done.len()"""
LIVE_WATCH_JS = """() => {
  window.__omeflowBars = [];
  window.__omeflowWatch = setInterval(() => {
    for (const bar of document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .omeflow-progress progress')) {
      const v = bar.getAttribute('value');
      const seen = window.__omeflowBars;
      if (seen.length === 0 || seen[seen.length - 1] !== v) seen.push(v);
    }
  }, 50);
}"""


def write_live(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(LIVE_CELL)]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY, "language": "rust"}
    nb.metadata["omeflow"] = {"checks": {"expect": {"0": ["compute: 48 tasks in", "48"]}}}
    nbformat.write(nb, path)


def live_problems(page, i):
    """What the page showed of the live bar of cell i: problems, and the values it went through."""
    seen = page.evaluate("() => { clearInterval(window.__omeflowWatch); return window.__omeflowBars; }")
    state = page.evaluate(CELL_STATE_JS, i)
    html = " ".join(o["html"] for o in state["outputs"])
    text = " ".join(o["text"] for o in state["outputs"])
    problems = []
    if len(set(seen)) < 2:
        problems.append(f"live: the bar did not move (values seen: {seen})")
    if not seen or seen[-1] != "48" or 'value="48" max="48"' not in html:
        problems.append(f"live: the bar did not end at 100% (values seen: {seen})")
    if "compute: 48 tasks in" not in text:
        problems.append(f"live: the summary did not replace the bar: {text[:300]!r}")
    return problems, seen


# --self-test: a notebook that must fail in the page, once for each way the judge knows. Each
# code cell is paired with the problem browser_check.py must report for it.
SELF_TEST_NAME = "browser_self_test.ipynb"
SELF_TEST = [
    ('let number: i32 = "nope".parse::<i32>()?;', "cell 0: application/vnd.jupyter.stderr: Error: invalid digit"),
    ('panic!("deliberate {}", 7);', "cell 1: application/vnd.jupyter.stderr: Error: The cell panicked at line 1"),
    ('let oops: u8 = "not a number";', "cell 2: application/vnd.jupyter.stderr: [E0308] Error: mismatched types"),
    ('println!("EVCXR_BEGIN_CONTENT text/html\\n<img src=\\"data:image/png;base64,AAAA\\">\\nEVCXR_END_CONTENT");',
     "cell 3: a picture did not load"),
    ('println!("no table here");', "cell 4: expected 1 table(s) on the page, found 0"),
    ('println!("fine");', None),
]


def write_self_test(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code, _ in SELF_TEST]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY, "language": "rust"}
    nb.metadata["omeflow"] = {"checks": {"tables": {"4": 1}, "expect": {"5": ["fine"]}}}
    nbformat.write(nb, path)


def self_test_problems(record):
    """What the self-test notebook's run failed to catch (an empty list when the judge works)."""
    page = [p for p in record["problems"] if not p.startswith("saved notebook:")]
    missed = [want for _, want in SELF_TEST if want and not any(p.startswith(want) for p in page)]
    wrong = [p for p in page if p.startswith("cell 5")]
    return [f"self-test: not caught: {m}" for m in missed] + [f"self-test: a good cell failed: {w}" for w in wrong]


def in_own_netns(argv):
    """Runs this script again inside `unshare -n` (root) or `unshare -rn`, with loopback up."""
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    inner = "ip link set lo up && exec " + shlex.join([sys.executable, str(Path(__file__).resolve()), *argv, "--in-netns"])
    return subprocess.call(unshare + ["sh", "-c", inner])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/*.ipynb; with --url, "
                    "names under --notebook-dir, default every notebook there)")
    ap.add_argument("--out", type=Path, help="timings, screenshots, served copy (default target/browser-check,"
                    " or target/browser-check/offline with --offline)")
    ap.add_argument("--url", help="a running JupyterLab, e.g. http://127.0.0.1:8888/lab?token=... (not started here)")
    ap.add_argument("--notebook-dir", default="", help="with --url: the notebooks' folder under the server's root")
    ap.add_argument("--lab-python", default=sys.executable, help="the python that runs jupyterlab when started here")
    ap.add_argument("--offline", action="store_true", help="run everything in a network namespace of its own")
    ap.add_argument("--cell-timeout", type=float, default=600)
    ap.add_argument("--start-timeout", type=float, default=300, help="seconds from opening to kernel idle")
    ap.add_argument("--headed", action="store_true", help="show the browser window")
    ap.add_argument("--self-test", action="store_true", help="first run a notebook that must fail in known ways"
                    " (a ? error, a panic, a compile error, a broken picture, a missing table) and fail unless"
                    " each is caught")
    ap.add_argument("--live", action="store_true", help="also run a notebook whose compute must show a live"
                    " progress bar that moves and ends replaced by its summary")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.offline and not args.in_netns:
        if args.url:
            ap.error("--offline starts JupyterLab in its own network namespace: it cannot reach --url")
        sys.exit(in_own_netns(sys.argv[1:]))
    offline = args.offline and args.in_netns
    if offline:
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
        names = [line.split(":")[1].strip() for line in links.splitlines()]
        if names != ["lo"]:
            sys.exit(f"--offline: expected only the loopback in this network namespace, found {names}")
    out = (args.out or ROOT / "target" / "browser-check" / ("offline" if offline else "")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Screenshots of an earlier run (a failure's above all) would pass for this run's.
    for old in out.glob("*.png"):
        old.unlink()

    from playwright.sync_api import sync_playwright

    lab = None
    try:
        if args.url:
            u = urllib.parse.urlsplit(args.url)
            token = urllib.parse.parse_qs(u.query).get("token", [""])[0]
            base_path = u.path.split("/lab")[0] if "/lab" in u.path else u.path
            lab = Lab(f"{u.scheme}://{u.netloc}{base_path}", token)
            folder = args.notebook_dir.strip("/")
            names = args.notebooks or sorted(
                c["name"] for c in lab.api("contents/" + urllib.parse.quote(folder))["content"]
                if c["name"].endswith(".ipynb"))
            paths = [f"{folder}/{Path(n).name}".lstrip("/") for n in names]
            if args.self_test or args.live:
                ap.error("--self-test and --live write their notebooks into the served folder: only without --url")
        else:
            sources = [Path(p).resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
            served = out / "served"
            shutil.rmtree(served, ignore_errors=True)
            served.mkdir(parents=True)
            for src in sources:
                shutil.copy(src, served / src.name)
            paths = [src.name for src in sources]
            if args.self_test:
                write_self_test(served / SELF_TEST_NAME)
                paths.insert(0, SELF_TEST_NAME)
            if args.live:
                write_live(served / LIVE_NAME)
                paths.append(LIVE_NAME)
            t0 = time.monotonic()
            lab = start_lab(args.lab_python, served, out)
            print(f"JupyterLab up in {time.monotonic() - t0:.1f} s ({'offline: own network namespace' if offline else 'online'})",
                  flush=True)
        records = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=not args.headed,
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for path in paths:
                print(f"{path}:", flush=True)
                records.append(run_notebook(context, lab, path, out, args.cell_timeout, args.start_timeout))
            browser.close()
    finally:
        if lab is not None:
            stop_lab(lab)
    failed = 0
    for r in records:
        if r["notebook"] == SELF_TEST_NAME:
            # The self-test passes when the page judge caught every planted problem.
            r["expected_problems"], r["problems"] = r["problems"], self_test_problems(r)
        status = "FAIL" if r["problems"] else "ok  "
        failed += bool(r["problems"])
        idle = r["open_to_kernel_idle_s"]
        print(f"{status} {r['notebook']}: kernel idle {idle if idle is not None else '-'} s, "
              f"{len(r['cells'])} cells {r.get('cells_s', '-')} s, total {r['total_s'] if r['total_s'] is not None else '-'} s")
        for p in r["problems"]:
            print(f"  {p}")
    summary = {"mode": "offline" if offline else ("url" if args.url else "online"), "chromium": CHROMIUM,
               "notebooks": records}
    (out / "timings.json").write_text(json.dumps(summary, indent=1))
    print(f"{len(records) - failed} passed, {failed} failed; timings and screenshots in {out}")
    sys.exit(1 if failed or not records else 0)


if __name__ == "__main__":
    main()
