"""What a reader sees from the omeflow kernel beyond a notebook run: an interrupt, and completion.

Talks to the installed omeflow-rust kernel with jupyter_client, as JupyterLab does:
- a cell interrupted while it sleeps fails with one message that names the lost variables and
  says that functions survive; the next cells can call an earlier function and define new values;
- two kernels started together (two notebooks open) both run their cells;
- a cell whose `?` returns an `Err` fails with Jupyter's error (ename "Error", the message as
  evalue, a traceback reading `Error: <message>`), and rules.py's generic rule fails a notebook
  holding that output (no per-cell expected text needed);
- `complete_request` for `conn.` and `Pix` returns omeflow's names once rust-analyzer is warm
  (it loads in the background: the first requests may answer nothing, and no cell waits for it).

Usage: kernel_checks.py. Prints one line per check and exits non-zero when any failed.
"""
import os
import sys
import time

import nbformat
from jupyter_client.manager import KernelManager

import rules

os.environ["EVCXR_ANALYSIS_FALLBACK"] = "0"


def run(kc, code, timeout=300, errors=None):
    """Executes code; returns (reply status, [(kind, text)]); error contents go to `errors`."""
    msg_id = kc.execute(code)
    outputs = []
    errors = [] if errors is None else errors
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            break
        if kind == "stream":
            outputs.append((content["name"], content["text"]))
        elif kind in ("execute_result", "display_data"):
            outputs.append(("result", content["data"].get("text/plain", "")))
        elif kind == "error":
            outputs.append(("error", content["evalue"]))
            errors.append(content)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["status"], outputs


def complete(kc, code):
    msg_id = kc.complete(code, len(code))
    while True:
        reply = kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"].get("matches", [])


def main():
    failures = []

    def check(name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
        if not ok:
            failures.append(name)

    km = KernelManager(kernel_name="omeflow-rust")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    # A second kernel at the same time, as with two notebooks open: each builds in its own folder.
    km2 = KernelManager(kernel_name="omeflow-rust")
    km2.start_kernel()
    kc2 = km2.client()
    kc2.start_channels()
    try:
        kc.wait_for_ready(timeout=1800)
        kc2.wait_for_ready(timeout=1800)
        ids = [kc.execute(f"let who = {n}u8;\nwho * 2") for n in (1, 2)]
        ids2 = [kc2.execute(f"let who = {n}u8;\nwho * 3") for n in (3, 4)]
        got = []
        for client, msg_ids in ((kc, ids), (kc2, ids2)):
            for msg_id in msg_ids:
                while True:
                    reply = client.get_shell_msg(timeout=300)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        got.append(reply["content"]["status"])
                        break
        status, outputs = run(kc2, "who")
        check("two kernels at once run their cells", got == ["ok"] * 4 and ("result", "4") in outputs,
              repr((got, outputs)))
        kc2.stop_channels()
        km2.shutdown_kernel(now=True)
        errors = []
        code = 'let number: i32 = "nope".parse::<i32>()?;'
        status, outputs = run(kc, code, errors=errors)
        check("a ? error fails the cell with Jupyter's error",
              status == "error" and len(errors) == 1 and errors[0]["ename"] == "Error"
              and errors[0]["evalue"] == "invalid digit found in string", repr((status, errors)))
        shown = rules.traceback_text(errors[0]) if errors else ""
        check("what JupyterLab shows of a ? error reads 'Error: <message>'",
              shown == "Error: invalid digit found in string", repr(shown))
        cell = nbformat.v4.new_code_cell(code, execution_count=1,
                                          outputs=[nbformat.v4.new_output("error", **e) for e in errors])
        problems = rules.check(nbformat.v4.new_notebook(cells=[cell]))
        check("the generic rule fails a notebook with a ? error", any("invalid digit" in p for p in problems),
              repr(problems))
        status, _ = run(kc, 'fn double(x: u32) -> u32 { x * 2 }\nlet kept = 21u32;\nlet conn = connect(SAMPLE, "", "")?;')
        check("define a function and values", status == "ok")

        msg_id = kc.execute("std::thread::sleep(std::time::Duration::from_secs(120));")
        time.sleep(3)
        km.interrupt_kernel()
        errors = []
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                errors.append(msg["content"]["evalue"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        text = " ".join(errors)
        check("an interrupt says what was lost in one message",
              len(errors) == 1 and "every variable is gone (conn, kept, who)" in text
              and "Functions, types and `use` items" in text, repr(errors))

        status, outputs = run(kc, "let again = double(4);\nagain")
        check("functions survive an interrupt", status == "ok" and ("result", "8") in outputs, repr(outputs))

        status, outputs = run(kc, 'let conn = connect(SAMPLE, "", "")?;\nconn.host().to_string()')
        check("the next cells define values again", status == "ok", repr(outputs))

        # rust-analyzer loads in its own thread; the first requests may find it cold.
        deadline = time.time() + 600
        conn_names, pix = [], []
        while time.time() < deadline and not ("image(id)" in conn_names and "Pixels" in pix):
            conn_names = complete(kc, "conn.")
            pix = complete(kc, "Pix")
            time.sleep(2)
        check("completion of conn. lists Connection's methods", "image(id)" in conn_names, repr(conn_names[:20]))
        check("completion of Pix finds Pixels", "Pixels" in pix, repr(pix[:20]))
        status, outputs = run(kc, "again + 1")
        check("cells still run after completion", status == "ok" and ("result", "9") in outputs, repr(outputs))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        if km2.is_alive():
            km2.shutdown_kernel(now=True)
    print(f"{'all kernel checks passed' if not failures else f'{len(failures)} kernel check(s) failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
