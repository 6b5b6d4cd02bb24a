//! RUN `--mount=...`, BuildKit's syntax: what a step's mount flag asks for.
//! The builder turns each into a mount of the step's container:
//!
//! - `type=bind` (the default): a path of the build context, or of an
//!   earlier stage or an image (`from=`), read-only unless `rw` (writes are
//!   then thrown away with the step, never written back);
//! - `type=cache`: a directory kept under the store between builds, by
//!   `id` (the target without);
//! - `type=tmpfs`: a fresh tmpfs;
//! - `type=secret`: a `--secret` of the build as a file (`/run/secrets/ID`
//!   by default) or an environment variable (`env=`); never in the layer.

/// What kind of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
}

/// One `--mount` flag, parsed (variables already expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub kind: Kind,
    /// Where in the container (absolute); a secret's defaults to
    /// `/run/secrets/ID`, and is absent for an `env=` secret alone.
    pub target: Option<String>,
    /// A bind's or cache's path in what `from` names (the context's root
    /// without).
    pub source: Option<String>,
    /// A bind's or cache's stage or image.
    pub from: Option<String>,
    /// A cache's or secret's id.
    pub id: Option<String>,
    /// Read-only: binds are by default, the others are not.
    pub readonly: bool,
    /// A new cache directory's mode, a secret file's mode (octal).
    pub mode: Option<u32>,
    /// The owner of a new cache directory or a secret file.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// A tmpfs's size (`size=64m`).
    pub size: Option<String>,
    /// A secret the build was not given is an error (else the mount is
    /// left out, BuildKit's rule).
    pub required: bool,
    /// A secret's environment variable.
    pub env: Option<String>,
}

impl MountSpec {
    /// Parse `spec` (`type=cache,target=/x,...`); errors are one phrase.
    pub fn parse(spec: &str) -> Result<MountSpec, String> {
        let mut m = MountSpec {
            kind: Kind::Bind,
            target: None,
            source: None,
            from: None,
            id: None,
            readonly: true,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            required: false,
            env: None,
        };
        let mut readonly = None;
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            let (k, v) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            let flag = |v: &Option<String>| match v.as_deref() {
                None | Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(other) => Err(format!("{k}={other}: not true or false")),
            };
            let value = |v: Option<String>| v.ok_or_else(|| format!("{k} needs a value"));
            let id_number = |v: Option<String>| -> Result<u32, String> {
                let v = v.ok_or_else(|| format!("{k} needs a value"))?;
                v.parse().map_err(|_| format!("{k}={v}: not a number"))
            };
            match k.as_str() {
                "type" => {
                    m.kind = match value(v)?.as_str() {
                        "bind" => Kind::Bind,
                        "cache" => Kind::Cache,
                        "tmpfs" => Kind::Tmpfs,
                        "secret" => Kind::Secret,
                        other => {
                            return Err(format!("type={other}: not supported (bind, cache, tmpfs and secret are)"))
                        }
                    }
                }
                "target" | "dst" | "destination" => m.target = Some(value(v)?),
                "source" | "src" => m.source = Some(value(v)?),
                "from" => m.from = Some(value(v)?),
                "id" => m.id = Some(value(v)?),
                "ro" | "readonly" => readonly = Some(flag(&v)?),
                "rw" | "readwrite" => readonly = Some(!flag(&v)?),
                "mode" => {
                    let v = value(v)?;
                    let mode = u32::from_str_radix(&v, 8).ok().filter(|m| *m <= 0o7777);
                    m.mode = Some(mode.ok_or_else(|| format!("mode={v}: not an octal mode"))?);
                }
                "uid" => m.uid = Some(id_number(v)?),
                "gid" => m.gid = Some(id_number(v)?),
                "size" => m.size = Some(value(v)?),
                "required" => m.required = flag(&v)?,
                "env" => m.env = Some(value(v)?),
                // One build at a time writes a cache here, so every
                // sharing mode behaves as `shared`.
                "sharing" => {}
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        m.readonly = readonly.unwrap_or(m.kind == Kind::Bind);
        if m.kind == Kind::Secret {
            let id = m.id.clone().or_else(|| {
                // BuildKit: the id defaults to the target's file name.
                m.target.as_deref().and_then(|t| t.rsplit('/').next()).filter(|n| !n.is_empty()).map(String::from)
            });
            let id = id.ok_or("a secret needs an id")?;
            if m.target.is_none() && m.env.is_none() {
                m.target = Some(format!("/run/secrets/{id}"));
            }
            m.id = Some(id);
        } else if m.target.is_none() {
            return Err("a target is required".into());
        }
        if let Some(t) = &m.target {
            if !t.starts_with('/') {
                return Err(format!("target {t} is not an absolute path"));
            }
        }
        let misplaced = match m.kind {
            Kind::Bind => m.id.is_some() || m.size.is_some() || m.env.is_some(),
            Kind::Cache => m.size.is_some() || m.env.is_some(),
            Kind::Tmpfs => m.source.is_some() || m.from.is_some() || m.id.is_some() || m.env.is_some(),
            Kind::Secret => m.source.is_some() || m.from.is_some() || m.size.is_some(),
        };
        if misplaced {
            return Err(format!("an option that a {:?} mount does not take: {spec}", m.kind).to_lowercase());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_read_only_unless_rw() {
        let m = MountSpec::parse("target=/src").unwrap();
        assert_eq!((m.kind, m.readonly, m.source.as_deref()), (Kind::Bind, true, None));
        let m = MountSpec::parse("type=bind,source=a/b,target=/x,from=build,rw").unwrap();
        assert_eq!((m.readonly, m.source.as_deref(), m.from.as_deref()), (false, Some("a/b"), Some("build")));
        let m = MountSpec::parse("type=bind,target=/x,readwrite=false").unwrap();
        assert!(m.readonly);
    }

    #[test]
    fn caches_and_tmpfs_are_writable() {
        let m = MountSpec::parse("type=cache,target=/c,id=x,mode=0700,uid=5,gid=6,sharing=locked").unwrap();
        assert_eq!(
            (m.readonly, m.mode, m.uid, m.gid, m.id.as_deref()),
            (false, Some(0o700), Some(5), Some(6), Some("x"))
        );
        let m = MountSpec::parse("type=tmpfs,dst=/t,size=1m").unwrap();
        assert_eq!((m.kind, m.readonly, m.size.as_deref()), (Kind::Tmpfs, false, Some("1m")));
    }

    #[test]
    fn secrets_default_their_target_and_id() {
        let m = MountSpec::parse("type=secret,id=token").unwrap();
        assert_eq!((m.target.as_deref(), m.required), (Some("/run/secrets/token"), false));
        let m = MountSpec::parse("type=secret,target=/etc/key,required").unwrap();
        assert_eq!((m.id.as_deref(), m.required), (Some("key"), true));
        let m = MountSpec::parse("type=secret,id=t,env=TOKEN").unwrap();
        assert_eq!((m.target, m.env.as_deref()), (None, Some("TOKEN")));
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, says) in [
            ("type=ssh,target=/x", "type=ssh"),
            ("type=cache", "target is required"),
            ("target=x", "not an absolute path"),
            ("type=cache,target=/c,mode=9", "not an octal mode"),
            ("type=cache,target=/c,uid=me", "not a number"),
            ("type=secret", "needs an id"),
            ("type=tmpfs,target=/t,from=x", "does not take"),
            ("target=/x,bogus=1", "unknown option"),
            ("target=/x,ro=maybe", "not true or false"),
        ] {
            let e = MountSpec::parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }
}
