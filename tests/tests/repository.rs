//! Checks on the repository as a whole.

use sbx_e2e::root;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// SPEC: reads that list or sweep go through keys and indexes, never a table scan. No code that
/// ships (the shared crates' sources and the functions) builds a DynamoDB Scan request.
#[test]
fn no_shipped_code_scans_a_table() {
    let mut files = Vec::new();
    for dir in ["crates", "functions"] {
        rust_files(&root().join(dir), &mut files);
    }
    let root = root();
    let shipped: Vec<_> = files
        .iter()
        .filter_map(|path| path.strip_prefix(&root).ok())
        .filter(|path| !path.components().any(|c| c.as_os_str() == "tests"))
        .collect();
    assert!(
        shipped
            .iter()
            .any(|path| path.ends_with("crates/store/src/dynamo.rs")),
        "the store's sources are among the files checked"
    );
    let offenders: Vec<_> = shipped
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(root.join(path)).unwrap_or_default();
            text.contains(".scan()") || text.contains("ScanInput") || text.contains("operation::scan")
        })
        .collect();
    assert!(offenders.is_empty(), "Scan used in {offenders:?}");
}
