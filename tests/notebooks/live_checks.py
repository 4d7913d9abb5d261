"""Live output in the omeflow kernel: a progress bar that updates in place while a cell runs.

Talks to the installed omeflow-rust kernel with jupyter_client, as JupyterLab does, and runs a
notebook headless with nbclient, as CI and `jupyter nbconvert --execute` do:
- a cell running a `compute` of a few seconds sends one `display_data` with a display id, then
  several `update_display_data` under the same id (at most 4 a second), the last one the summary;
- the same cell with live output switched off (`EVCXR_LIVE_DISPLAY=0` in the kernel's
  environment) prints today's progress lines and sends no display message;
- the notebook saved by nbclient keeps the final state of the live output: one output, the
  summary beside the full bar, where the bar was.

Usage: live_checks.py. Prints one line per check and exits non-zero when any failed.
"""
import os
import sys
from datetime import datetime

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

os.environ["EVCXR_ANALYSIS_FALLBACK"] = "0"

# About 2.4 s on 2 threads: 48 tasks of 100 ms; the browser check runs the same cell.
from browser_check import LIVE_CELL as CELL  # noqa: E402



# A compute over planes of about 2.4 s: its objects-per-plane plot grows while it runs.
PLOT_CELL = """let tasks: Vec<_> = (0..48usize)
    .map(|z| delayed(plane_name(0, 0, z), move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut s = Segmentation::new(Array2::<i32>::zeros((8, 8)), "").at(0, 0, z);
        s.count = z % 7;
        Ok::<_, String>(s)
    }))
    .collect();
let planes = Compute::new().threads(2).run(tasks)?;
planes.len()"""


def messages(kc, code, timeout=600):
    """Executes code; returns every iopub message of it (type, content, time) and the status."""
    msg_id = kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            break
        out.append((kind, content, msg["header"]["date"]))
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return out, reply["content"]["status"]


def start(env_extra=None):
    km = KernelManager(kernel_name="omeflow-rust")
    env = dict(os.environ)
    env.update(env_extra or {})
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=1800)
    return km, kc


def main():
    failures = []

    def check(name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
        if not ok:
            failures.append(name)

    km, kc = start()
    try:
        msgs, status = messages(kc, CELL)
        shown = [c for k, c, _ in msgs if k == "display_data" and c.get("transient", {}).get("display_id")]
        ids = {c["transient"]["display_id"] for c in shown}
        updates = [(c, t) for k, c, t in msgs if k == "update_display_data"]
        check("the compute cell succeeds", status == "ok", status)
        check("one live output is shown", len(shown) == 1, [k for k, _, _ in msgs])
        same = all(c.get("transient", {}).get("display_id") in ids for c, _ in updates)
        check("it is updated several times under its display id", len(updates) >= 2 and same,
              f"{len(updates)} updates, ids {ids}")
        last = updates[-1][0]["data"].get("text/plain", "") if updates else ""
        check("the last update is the summary", "compute: 48 tasks in" in last, last)
        bar = shown[0]["data"].get("text/html", "") if shown else ""
        check("the first is a bar", "<progress" in bar and "/48 tasks" in bar, bar[:200])
        lines = "".join(c.get("text", "") for k, c, _ in msgs if k == "stream")
        check("no progress lines are printed beside the bar", "/48 tasks" not in lines, lines)
        if len(updates) >= 2:
            times = [t if isinstance(t, datetime) else datetime.fromisoformat(t) for _, t in updates]
            span = (times[-1] - times[0]).total_seconds()
            per_s = (len(updates) - 1) / span if span > 0 else float("inf")
            check(f"updates come at most 4 a second ({per_s:.1f}/s over {span:.1f} s)", per_s <= 4.5,
                  per_s)
        msgs, status = messages(kc, PLOT_CELL)
        plots = {c["transient"]["display_id"] for k, c, _ in msgs
                 if k in ("display_data", "update_display_data") and "<svg" in c["data"].get("text/html", "")}
        drawn = [k for k, c, _ in msgs if k in ("display_data", "update_display_data")
                 and c.get("transient", {}).get("display_id") in plots]
        check("a compute over planes shows its objects-per-plane plot growing",
              status == "ok" and len(plots) == 1 and len(drawn) >= 2, [k for k, _, _ in msgs])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    km, kc = start({"EVCXR_LIVE_DISPLAY": "0"})
    try:
        msgs, status = messages(kc, CELL)
        kinds = {k for k, _, _ in msgs}
        lines = "".join(c.get("text", "") for k, c, _ in msgs if k == "stream")
        check("switched off: progress lines as before", status == "ok" and "/48 tasks" in lines
              and "compute: 48 tasks in" in lines, lines)
        check("switched off: no display messages", not kinds & {"display_data", "update_display_data"},
              kinds)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nb.metadata["kernelspec"] = {"name": "omeflow-rust", "display_name": "Rust (omeflow)", "language": "rust"}
    NotebookClient(nb, timeout=600, kernel_name="omeflow-rust").execute()
    outs = nb.cells[0].outputs
    live = [o for o in outs if o.get("output_type") == "display_data"]
    text = live[0].get("data", {}).get("text/plain", "") if live else ""
    html = live[0].get("data", {}).get("text/html", "") if live else ""
    check("the saved notebook keeps the summary where the bar was, the bar full",
          len(live) == 1 and "compute: 48 tasks in" in text and 'value="48" max="48"' in html,
          [o.get("output_type") for o in outs])

    if failures:
        print(f"{len(failures)} live output check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
