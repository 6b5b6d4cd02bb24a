//! Container IDs (64 random hex digits, as docker and podman) and names
//! (`adjective_noun` when the user gives none).

use crate::error::{Error, Result};

pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::new(format!("generating a container ID: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `s` is a whole container ID as [`new_id`] makes them.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A docker-style random name (`brave_lovelace`).
pub fn random_name() -> String {
    let mut g = names::Generator::default();
    g.next().unwrap_or_else(|| "container".into()).replace('-', "_")
}

/// podman's rule for names given with `--name`.
pub fn validate(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) && name.len() <= 253 {
        Ok(())
    } else {
        Err(Error::new(format!("container name \"{name}\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let a = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_id().unwrap());
        assert!(is_full_id(&a));
        for not in [&a[1..], "../etc", &a.to_uppercase(), &format!("{}g", &a[1..])] {
            assert!(!is_full_id(not), "{not}");
        }
        let n = random_name();
        assert!(validate(&n).is_ok(), "{n}");
        assert!(n.contains('_'), "{n}");
        for bad in ["", "-x", "a/b", "a b", ".x"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
