//! The parity data beside the checkout (`../shared/data`: real microscopy images and real ilastik
//! projects). CI has it; a clone without it skips the tests that need it, with one line saying so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// `../shared/data/<rel>` when it exists; otherwise `None`, after one line on stderr (written past
/// the test harness's capture, so `cargo test` shows it once per test binary).
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the parity data ../shared/data is absent here (CI has it); tests that \
             compare with real images and ilastik projects did not run"
        );
    });
    None
}
