//! What a reader runs is in the repository or made by omeflow: no notebook, README command,
//! Binder file or library source names the test-only data beside the checkout.

use std::path::Path;

fn scan(dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            scan(&p, found);
        } else {
            scan_file(&p, found);
        }
    }
}

#[test]
fn nothing_a_reader_runs_names_the_test_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["notebooks", "binder", "src"] {
        scan(&root.join(dir), &mut found);
    }
    scan_file(&root.join("README.md"), &mut found);
    assert!(found.is_empty(), "names ../shared:\n{}", found.join("\n"));
}

fn scan_file(p: &Path, found: &mut Vec<String>) {
    if let Ok(text) = std::fs::read_to_string(p) {
        for (n, line) in text.lines().enumerate() {
            if line.contains("../shared") || line.contains("/shared/data") {
                found.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
            }
        }
    }
}
