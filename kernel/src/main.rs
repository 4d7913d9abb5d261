//! omeflow's Jupyter kernel: evcxr_jupyter 0.22.0 with the patches in `kernel/patches/`.
//! The same binary is also the process that runs cells: evcxr re-executes it, and
//! `evcxr_jupyter::main` calls `evcxr::runtime_hook` first, which turns that process into the
//! cell runner.
fn main() -> anyhow::Result<()> {
    evcxr_jupyter::main()
}
