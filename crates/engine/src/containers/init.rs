//! `--init`: a small init of berth's own (`berth-init`: reaps zombies,
//! forwards signals, exits as its child does) runs as the container's PID
//! 1, with the container's command as its child. As podman does with
//! catatonit at /run/podman-init, the binary is bound read-only from the
//! host at /run/berth-init and the process becomes `/run/berth-init --
//! CMD...`.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Where the init is bound in the container.
pub const INIT_DEST: &str = "/run/berth-init";

/// The init binary must be there when the container is made (podman's
/// check and words).
pub(super) fn check(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::new(format!("container-init binary {} is not a regular file", path.display()))),
        Err(e) => Err(Error::new(format!(
            "container-init binary not found on the host: stat {}: {}",
            path.display(),
            sys_error_text(&e)
        ))),
    }
}

/// Go's words for an errno (`no such file or directory`).
fn sys_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let bare = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = bare.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Make `config` (a container's config.json) run its process under the
/// init at `path`.
pub(super) fn apply(config: &mut Value, path: &Path) {
    let args = config.pointer("/process/args").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut with_init = vec![json!(INIT_DEST), json!("--")];
    with_init.extend(args);
    config["process"]["args"] = Value::Array(with_init);
    let mount =
        json!({"destination": INIT_DEST, "type": "bind", "source": path, "options": ["bind", "ro", "nosuid", "nodev"]});
    match config["mounts"].as_array_mut() {
        Some(m) => m.push(mount),
        None => config["mounts"] = json!([mount]),
    }
    // podman marks it so.
    if !config["annotations"].is_object() {
        config["annotations"] = json!({});
    }
    config["annotations"]["io.podman.annotations.init"] = json!("TRUE");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_runs_under_the_init() {
        let mut config = json!({"process": {"args": ["sleep", "1"]}, "mounts": []});
        apply(&mut config, Path::new("/usr/bin/berth-init"));
        assert_eq!(config["process"]["args"], json!(["/run/berth-init", "--", "sleep", "1"]));
        assert_eq!(config["mounts"][0]["source"], "/usr/bin/berth-init");
        assert_eq!(config["mounts"][0]["options"][1], "ro");
        let e = check(Path::new("/nonexistent/init")).unwrap_err();
        assert_eq!(
            e.msg,
            "container-init binary not found on the host: stat /nonexistent/init: no such file or directory"
        );
    }
}
