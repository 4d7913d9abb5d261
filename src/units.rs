//! How sizes read in tables and messages.

/// `1.23 MiB`, as dask's array repr writes sizes.
///
/// ```
/// assert_eq!(omeflow::units::bytes(34_560), "33.75 kiB");
/// ```
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}
