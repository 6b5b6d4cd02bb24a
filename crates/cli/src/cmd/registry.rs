//! `pull`, `push`, `login` and `logout`: flags, registries.conf lookup and
//! podman's wording around the engine's pull/push and the `registry`
//! crate's credentials.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use image::manifest::PlatformSpec;
use image::reference::registries::RegistriesConf;
use image::reference::Reference;
use registry::{AuthFile, Credentials, PullOptions, PushOptions};

use super::out;
use crate::error::{CliError, Context as _, Result};
use crate::progress::{Mode, Reporter};
use engine::{Engine, Image};

/// Options every command that talks to a registry shares.
#[derive(clap::Args)]
pub struct RemoteArgs {
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long = "tls-verify", num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Path of the authentication file
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Use `USERNAME[:PASSWORD]` for accessing the registry
    #[arg(long, value_name = "USERNAME:PASSWORD")]
    creds: Option<String>,
}

impl RemoteArgs {
    fn auth_file(&self) -> Option<AuthFile> {
        self.authfile.as_ref().map(AuthFile::at)
    }

    fn credentials(&self) -> Result<Option<Credentials>> {
        let Some(c) = &self.creds else { return Ok(None) };
        match c.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Some(Credentials::new(u, p))),
            _ => Err(CliError::new("--creds: want USERNAME:PASSWORD")),
        }
    }
}

#[derive(clap::Args)]
pub struct PullArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Specify the platform for selecting the image (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Use ARCH instead of the architecture of the machine for choosing images
    #[arg(long)]
    arch: Option<String>,
    /// Use OS instead of the running OS for choosing images
    #[arg(long)]
    os: Option<String>,
    /// Use VARIANT instead of the running architecture variant for choosing images
    #[arg(long)]
    variant: Option<String>,
    /// Suppress output information when pulling images
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "IMAGE")]
    image: String,
}

impl PullArgs {
    /// `None` means the host's platform; `--platform` and the single flags
    /// are alternatives, as in podman.
    fn platform(&self) -> Result<Option<PlatformSpec>> {
        if let Some(p) = &self.platform {
            if self.arch.is_some() || self.os.is_some() || self.variant.is_some() {
                return Err(CliError::new("--platform option can not be specified with --arch or --os"));
            }
            return PlatformSpec::parse(p).map(Some).ctx(|| format!("--platform {p:?}"));
        }
        if self.arch.is_none() && self.os.is_none() && self.variant.is_none() {
            return Ok(None);
        }
        let host = PlatformSpec::host();
        let os = self.os.as_deref().unwrap_or(&host.os);
        let arch = self.arch.as_deref().unwrap_or(&host.architecture);
        Ok(Some(PlatformSpec::new(os, arch, self.variant.as_deref())))
    }
}

/// podman's registries.conf lookup: `$REGISTRIES_CONFIG_PATH`, else the
/// system files when there are any, else Docker Hub for short names.
fn registries_conf() -> Result<RegistriesConf> {
    if let Some(p) = std::env::var_os("REGISTRIES_CONFIG_PATH").filter(|p| !p.is_empty()) {
        return Ok(RegistriesConf::load(std::path::Path::new(&p))?);
    }
    let system = std::path::Path::new(image::reference::registries::SYSTEM_CONF);
    let dropins = std::path::Path::new(image::reference::registries::SYSTEM_CONF_DIR);
    if system.exists() || dropins.exists() {
        return Ok(RegistriesConf::load_system()?);
    }
    Ok(RegistriesConf::parse("unqualified-search-registries = [\"docker.io\"]\n")?)
}

pub fn pull(engine: &Engine, a: &PullArgs) -> Result<u8> {
    let img = pull_image(engine, &a.image, &a.remote, a.platform()?, a.quiet)?;
    out(&format!("{}\n", img.id.hex()))?;
    Ok(0)
}

/// Pull `image` (a short name is tried in each search registry until one
/// has it), as `pull` and as `run`/`create` do for a missing image.
pub fn pull_image(
    engine: &Engine,
    image: &str,
    remote: &RemoteArgs,
    platform: Option<PlatformSpec>,
    quiet: bool,
) -> Result<Image> {
    // Everything that can be refused without the network is refused first.
    let credentials = remote.credentials()?;
    let conf = registries_conf()?;
    let candidates = conf.expand_short_name(image).map_err(|e| CliError::new(e.to_string()))?;
    let opts = PullOptions {
        platform,
        tls_verify: remote.tls_verify,
        registries_conf: Some(conf),
        credentials,
        auth_file: remote.auth_file(),
        ..PullOptions::default()
    };
    let reporter = Reporter::new(Mode::detect(quiet), &engine.blobs, None);
    let mut errors = Vec::new();
    for r in &candidates {
        reporter.line(&format!("Trying to pull {r}..."));
        match engine.pull(r, &opts, &|e| reporter.event(e)) {
            Ok(img) => return Ok(img),
            Err(e) if candidates.len() == 1 => return Err(CliError::new(format!("pulling {r}: {e}"))),
            Err(e) => errors.push(format!("{r}: {e}")),
        }
    }
    Err(CliError::new(format!("pulling {image}: {}", errors.join("; "))))
}

#[derive(clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Suppress output information when pushing images
    #[arg(short, long)]
    quiet: bool,
    /// Local image to push
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Where to push it (default: IMAGE); a `docker://` prefix is accepted
    #[arg(value_name = "DESTINATION")]
    destination: Option<String>,
}

pub fn push(engine: &Engine, a: &PushArgs) -> Result<u8> {
    let credentials = a.remote.credentials()?;
    let img = engine.get(&a.image)?;
    let dest = match &a.destination {
        Some(d) => {
            let d = d.strip_prefix("docker://").unwrap_or(d);
            Reference::parse(d).ctx(|| format!("destination {d:?}"))?
        }
        None => img
            .name_used(&a.image)
            .ok_or_else(|| CliError::new(format!("{}: an image ID needs a destination to push to", a.image)))?,
    };
    let what = engine.push_target(&img)?;
    // The registry crate pushes what a name resolves to; a digest
    // reference resolves to itself and works for unnamed images too.
    let local = Reference::from_parts(dest.name().clone(), None, Some(what.clone()))?;
    let opts = PushOptions {
        tls_verify: a.remote.tls_verify,
        registries_conf: Some(registries_conf()?),
        credentials,
        auth_file: a.remote.auth_file(),
        ..PushOptions::default()
    };
    let reporter = Reporter::new(Mode::detect(a.quiet), &engine.blobs, Some(engine.config_digests(&what)?));
    reporter.line("Getting image source signatures");
    registry::push(&engine.blobs, &local, &dest, &opts, &|e| reporter.event(e))
        .map_err(|e| CliError::new(format!("pushing {dest}: {e}")))?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Username for registry
    #[arg(short, long)]
    username: Option<String>,
    /// Password for registry
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    #[arg(value_name = "REGISTRY")]
    registry: String,
}

pub fn login(a: &LoginArgs) -> Result<u8> {
    if a.remote.creds.is_some() {
        return Err(CliError::new("--creds is not accepted by login: use --username and --password"));
    }
    let registry = registry_host(&a.registry);
    if a.password_stdin && a.username.is_none() {
        return Err(CliError::new("must provide --username with --password-stdin"));
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None => prompt("Username: ")?,
    };
    let password = match (&a.password, a.password_stdin) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).ctx(|| "reading password from stdin".into())?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            // Without a way to turn echo off (no termios here) a typed
            // password would show on screen: refuse instead.
            if std::io::stdin().is_terminal() {
                return Err(CliError::new("password required: use --password or --password-stdin"));
            }
            prompt("Password: ")?
        }
    };
    if username.is_empty() || password.is_empty() {
        return Err(CliError::new("username and password must not be empty"));
    }
    registry::login(
        registry,
        &Credentials::new(&username, &password),
        a.remote.tls_verify,
        a.remote.auth_file().as_ref(),
    )
    .map_err(|e| CliError::new(format!("logging into {registry:?}: {e}")))?;
    out("Login Succeeded!\n")?;
    Ok(0)
}

/// One line from stdin after a prompt on stderr.
fn prompt(what: &str) -> Result<String> {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(what.as_bytes()).and_then(|()| e.flush());
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ctx(|| "reading from stdin".into())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// podman accepts `docker://host` and `https://host/` for a registry.
fn registry_host(input: &str) -> &str {
    let s = input.strip_prefix("docker://").unwrap_or(input);
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    s.trim_end_matches('/')
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// Path of the authentication file
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Remove the cached credentials for all registries in the auth file
    #[arg(short, long, conflicts_with = "registry")]
    all: bool,
    #[arg(value_name = "REGISTRY", required_unless_present = "all")]
    registry: Option<String>,
}

pub fn logout(a: &LogoutArgs) -> Result<u8> {
    let file = a.authfile.as_ref().map(AuthFile::at).unwrap_or_else(AuthFile::default_location);
    if a.all {
        for key in auth_keys(&file)? {
            registry::logout(&key, Some(&file)).ctx(|| "removing login credentials".into())?;
        }
        out("Removed login credentials for all registries\n")?;
        return Ok(0);
    }
    let Some(input) = &a.registry else { return Err(CliError::new("no registry given")) };
    let registry = registry_host(input);
    let removed = registry::logout(registry, Some(&file)).ctx(|| format!("logging out of {registry:?}"))?;
    if !removed {
        return Err(CliError::new(format!("not logged into {registry}")));
    }
    out(&format!("Removed login credentials for {registry}\n"))?;
    Ok(0)
}

/// The registries an auth file holds credentials for.
fn auth_keys(file: &AuthFile) -> Result<Vec<String>> {
    let text = match std::fs::read(file.path()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::new(format!("reading {}: {e}", file.path().display()))),
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&text).ctx(|| format!("auth file {}", file.path().display()))?;
    Ok(doc.get("auths").and_then(|a| a.as_object()).map(|m| m.keys().cloned().collect()).unwrap_or_default())
}
