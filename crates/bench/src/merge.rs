//! Merge: every `target/bench/*.json` into `target/bench.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{ensure, Context, Result};
use serde_json::{Map, Value};

use crate::agent::AGENT_KEYS;
use crate::targets::{print_targets, APP_KEYS, PEER_KEYS};
use crate::{workspace_root, KEYS};

pub(crate) fn merge() -> Result<ExitCode> {
    let root = workspace_root();
    let dir = root.join("target/bench");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {} (run `waymark-bench` first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    ensure!(!files.is_empty(), "no *.json in {}", dir.display());
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let obj: Map<String, Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON object", f.display()))?;
        for (k, v) in obj {
            ensure!(
                !v.is_object() && !v.is_array(),
                "{}: '{k}' is not a flat value",
                f.display()
            );
            if let Some(prev) = from.get(&k) {
                if merged.get(&k) != Some(&v) {
                    eprintln!(
                        "warning: '{k}' is in both {} and {}; keeping the latter",
                        prev.display(),
                        f.display()
                    );
                }
            }
            from.insert(k.clone(), f.clone());
            merged.insert(k, v);
        }
    }
    let out = root.join("target/bench.json");
    let obj: Map<String, Value> = merged.clone().into_iter().collect();
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&Value::Object(obj))? + "\n",
    )
    .with_context(|| format!("cannot write {}", out.display()))?;
    println!("merged {} file(s) into {}", files.len(), out.display());
    for (k, v) in &merged {
        println!("  {k:<28} {v}");
    }
    print_targets(&merged);
    let missing: Vec<&str> = KEYS
        .iter()
        .chain(AGENT_KEYS.iter())
        .chain(PEER_KEYS.iter())
        .chain(APP_KEYS.iter())
        .copied()
        .filter(|k| !merged.get(*k).is_some_and(Value::is_number))
        .collect();
    if !missing.is_empty() {
        eprintln!("missing figures: {}", missing.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
