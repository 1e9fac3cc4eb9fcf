//! The committed TypeScript bindings (ui/src/bindings) are what the Rust types export now.
//! `make bindings` rewrites them (WAYMARK_UPDATE_BINDINGS=1).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every `.ts` file under `dir`, keyed by its path relative to `dir` (ts-rs puts some types in
/// folders, `serde_json/JsonValue.ts`).
fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    collect(dir, dir, &mut files);
    files
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, files);
        } else if p.extension().is_some_and(|x| x == "ts") {
            let name = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .to_string();
            files.insert(name, std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

#[test]
fn committed_bindings_match_the_rust_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let committed_dir: PathBuf = root.join(waymark_api::bindings::BINDINGS_DIR);
    let fresh = tempfile::tempdir().expect("temp dir");
    waymark_api::bindings::export_all(fresh.path()).expect("export bindings");
    let fresh_files = read_dir(fresh.path());
    assert!(
        fresh_files.contains_key("ApiError.ts"),
        "{:?}",
        fresh_files.keys()
    );
    if std::env::var_os("WAYMARK_UPDATE_BINDINGS").is_some() {
        std::fs::create_dir_all(&committed_dir).expect("bindings dir");
        for name in read_dir(&committed_dir).keys() {
            if !fresh_files.contains_key(name) {
                std::fs::remove_file(committed_dir.join(name)).expect("remove stale binding");
            }
        }
        for (name, text) in &fresh_files {
            let path = committed_dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("bindings subdir");
            }
            std::fs::write(path, text).expect("write binding");
        }
        return;
    }
    let committed = read_dir(&committed_dir);
    let stale: Vec<&String> = fresh_files
        .iter()
        .filter(|(name, text)| committed.get(*name) != Some(text))
        .map(|(name, _)| name)
        .chain(committed.keys().filter(|n| !fresh_files.contains_key(*n)))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/bindings is stale ({} file(s): {stale:?}); run `make bindings` and commit the result",
        stale.len()
    );
}
