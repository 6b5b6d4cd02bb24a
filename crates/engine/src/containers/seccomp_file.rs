//! `--security-opt seccomp=FILE`: a profile in the format podman and
//! docker read (moby's `types.Seccomp`: an OCI `linux.seccomp` object plus
//! `archMap` and per-rule `includes`/`excludes` conditions), turned into
//! the OCI object for config.json as containers/common's
//! `setupSeccomp` does: conditions resolved against the container's
//! capabilities and the host's architecture, then dropped.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{go_text, Error, Result};

/// A profile is small; refuse to read anything huge.
const MAX_PROFILE: u64 = 16 << 20;

/// The host's architecture as moby's profiles name it.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The seccomp architectures of the host's, as in `archMap`.
fn native_scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "",
    }
}

/// Read the profile at `path` for a container whose bounding capabilities are `caps`.
pub fn load(path: &Path, caps: &[&str]) -> Result<Value> {
    let bytes = sys::fs::read_regular(path, MAX_PROFILE)
        .map_err(|e| Error::new(format!("opening seccomp profile failed: open {}: {}", path.display(), go_text(&e))))?;
    let profile: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(format!("loading seccomp profile ({}) failed: decoding seccomp profile failed: {e}", path.display()))
    })?;
    convert(&profile, caps).map_err(|e| Error::new(format!("loading seccomp profile ({}) failed: {e}", path.display())))
}

/// Whether a rule's `includes` (all must hold) or `excludes` (none may)
/// condition object holds for this container.
fn holds(cond: &Value, caps: &[&str], includes: bool) -> bool {
    let list =
        |key: &str| -> Vec<&str> { cond[key].as_array().into_iter().flatten().filter_map(Value::as_str).collect() };
    let arch = host_arch();
    let (want_caps, want_arches) = (list("caps"), list("arches"));
    if includes {
        want_caps.iter().all(|c| caps.iter().any(|h| h == c)) && (want_arches.is_empty() || want_arches.contains(&arch))
    } else {
        // Excluded when any listed capability is held or the arch is listed.
        want_caps.iter().any(|c| caps.iter().any(|h| h == c)) || want_arches.contains(&arch)
    }
}

fn convert(profile: &Value, caps: &[&str]) -> std::result::Result<Value, String> {
    let obj = profile.as_object().ok_or("the profile is not a JSON object")?;
    let default_action = obj.get("defaultAction").and_then(Value::as_str).ok_or("no defaultAction")?;
    let mut out = Map::new();
    out.insert("defaultAction".into(), json!(default_action));
    for key in ["defaultErrnoRet", "flags", "listenerPath", "listenerMetadata"] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    // `architectures` as given, else the native one's entry of `archMap`.
    let mut arches: Vec<Value> = obj.get("architectures").and_then(Value::as_array).cloned().unwrap_or_default();
    if arches.is_empty() {
        for m in obj.get("archMap").and_then(Value::as_array).into_iter().flatten() {
            if m["architecture"] == native_scmp_arch() {
                arches.push(m["architecture"].clone());
                arches.extend(m["subArchitectures"].as_array().cloned().unwrap_or_default());
            }
        }
    }
    if !arches.is_empty() {
        out.insert("architectures".into(), json!(arches));
    }
    let mut syscalls = Vec::new();
    for rule in obj.get("syscalls").and_then(Value::as_array).into_iter().flatten() {
        let r = rule.as_object().ok_or("a syscall rule is not an object")?;
        if let Some(inc) = r.get("includes") {
            if !holds(inc, caps, true) {
                continue;
            }
        }
        if let Some(exc) = r.get("excludes") {
            if holds(exc, caps, false) {
                continue;
            }
        }
        let names: Vec<Value> = match (r.get("names").and_then(Value::as_array), r.get("name").and_then(Value::as_str))
        {
            (Some(n), _) if !n.is_empty() => n.clone(),
            (_, Some(n)) => vec![json!(n)],
            _ => return Err("a syscall rule names no syscall".into()),
        };
        let action = r.get("action").and_then(Value::as_str).ok_or("a syscall rule has no action")?;
        let mut s = Map::new();
        s.insert("names".into(), json!(names));
        s.insert("action".into(), json!(action));
        for key in ["errnoRet", "args"] {
            if let Some(v) = r.get(key).filter(|v| !v.is_null()) {
                s.insert(key.into(), v.clone());
            }
        }
        syscalls.push(Value::Object(s));
    }
    out.insert("syscalls".into(), json!(syscalls));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moby_format_is_resolved() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "x"},
                {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_CHOWN"]}},
            ],
        });
        let v = convert(&profile, &["CAP_CHOWN"]).unwrap();
        let names: Vec<&Value> = v["syscalls"].as_array().unwrap().iter().map(|s| &s["names"]).collect();
        assert_eq!(names, [&json!(["read", "write"])]);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(v["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
        }
        let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(v).unwrap();
        let v = convert(&profile, &["CAP_SYS_ADMIN"]).unwrap();
        assert_eq!(v["syscalls"].as_array().unwrap().len(), 3);
        assert!(convert(&json!({"syscalls": []}), &[]).is_err());
    }
}
