//! `pull`, `push`, `login` and `logout`: flags, progress output and
//! prompts around the engine's pull, push and credentials.

use std::io::Read as _;
use std::path::PathBuf;

use engine::login::{AuthFile, Credentials};
use engine::remote::RemoteOptions;
use image::manifest::PlatformSpec;
use image::reference::Reference;

use super::out;
use crate::error::{CliError, Context as _, Result};
use crate::progress::{Mode, Reporter};
use engine::{Engine, Image};

/// Options every command that talks to a registry shares.
#[derive(clap::Args)]
pub struct RemoteArgs {
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long = "tls-verify", default_value_t = true)]
    tls_verify: bool,
    /// Path of the authentication file
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Use `USERNAME[:PASSWORD]` for accessing the registry
    #[arg(long, value_name = "USERNAME:PASSWORD")]
    creds: Option<String>,
}

impl RemoteArgs {
    /// What the engine needs to reach registries; `--creds` is checked here.
    pub(crate) fn options(&self) -> Result<RemoteOptions> {
        let credentials = match &self.creds {
            None => None,
            Some(c) => match c.split_once(':') {
                Some((u, p)) if !u.is_empty() => Some(Credentials::new(u, p)),
                _ => return Err(CliError::new("--creds: want USERNAME:PASSWORD")),
            },
        };
        Ok(RemoteOptions {
            tls_verify: self.tls_verify,
            credentials,
            auth_file: self.authfile.as_ref().map(AuthFile::at),
        })
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
    /// The images to pull, by name (a short name is tried in each search registry) or digest
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
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

/// Each image in turn, its ID printed once it is in; the first failure ends it (as podman).
pub fn pull(engine: &Engine, a: &PullArgs) -> Result<u8> {
    let platform = a.platform()?;
    for image in &a.images {
        let img = pull_image(engine, image, &a.remote, platform.clone(), a.quiet)?;
        out(&format!("{}\n", img.id.hex()))?;
    }
    Ok(0)
}

/// Pull `image` as `pull` and as `run`/`create` do for a missing image,
/// with podman's progress output on stderr.
pub fn pull_image(
    engine: &Engine,
    image: &str,
    remote: &RemoteArgs,
    platform: Option<PlatformSpec>,
    quiet: bool,
) -> Result<Image> {
    let opts = remote.options()?;
    let reporter = Reporter::new(Mode::detect(quiet), engine, None);
    Ok(engine.pull_named(image, &opts, platform, &|l| reporter.line(l), &|e| reporter.event(e))?)
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
    let opts = a.remote.options()?;
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
    let configs = engine.config_digests(&engine.push_target(&img)?)?;
    let reporter = Reporter::new(Mode::detect(a.quiet), engine, Some(configs));
    reporter.line("Getting image source signatures");
    engine.push(&img, &dest, &opts, &|e| reporter.event(e))?;
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
    /// Return the current login user for the registry
    #[arg(long = "get-login")]
    get_login: bool,
    /// Registry to log in to (`host[:port]`); the first unqualified-search registry of registries.conf when omitted
    #[arg(value_name = "REGISTRY")]
    registry: Option<String>,
}

/// podman's `login`: flags, then saved credentials (checked before anything
/// is asked), then prompts on the terminal for what is missing. Prompts go
/// to stdout, as podman's do.
pub fn login(a: &LoginArgs) -> Result<u8> {
    if a.remote.creds.is_some() {
        return Err(CliError::new("--creds is not accepted by login: use --username and --password"));
    }
    let registry = registry_or_default(a.registry.as_deref())?;
    let registry = registry_host(&registry);
    let file = engine::login::auth_file(a.remote.authfile.as_deref());
    let saved = engine::login::saved(registry, &file)?;
    if a.get_login {
        return match saved {
            Some(c) if !c.username.is_empty() => {
                out(&format!("{}\n", c.username))?;
                Ok(0)
            }
            _ => Err(CliError::new(format!("not logged into {registry}"))),
        };
    }
    if a.password_stdin && a.username.is_none() {
        return Err(CliError::new("Must provide --username with --password-stdin"));
    }
    let mut password = a.password.clone();
    if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).ctx(|| "reading password from stdin".into())?;
        password = Some(s.lines().collect());
    }
    // Neither given: the saved credentials, if they still work, are enough.
    if let (None, None, Some(c)) = (&a.username, &password, &saved) {
        if !c.username.is_empty() && !c.password.is_empty() {
            out(&format!("Authenticating with existing credentials for {registry}\n"))?;
            if engine::login::check(registry, c, a.remote.tls_verify).is_ok() {
                out(&format!("Existing credentials are valid. Already logged in to {registry}\n"))?;
                return Ok(0);
            }
            out("Existing credentials are invalid, please enter valid username and password\n")?;
        }
    }
    let asked = |e: CliError| CliError::new(format!("getting username and password: {e}"));
    let username = match &a.username {
        Some(u) => u.clone(),
        None => {
            let offered = saved.as_ref().map(|c| c.username.as_str()).filter(|u| !u.is_empty());
            let prompt = match offered {
                Some(u) => format!("Username ({u}): "),
                None => "Username: ".to_string(),
            };
            let typed =
                terminal::read_line(&prompt).map_err(|e| asked(CliError::new(format!("reading username: {e}"))))?;
            match (typed.trim(), offered) {
                ("", Some(u)) => u.to_string(),
                (t, _) => t.to_string(),
            }
        }
    };
    let password = match password {
        Some(p) => p,
        None => {
            terminal::read_password("Password: ").map_err(|e| asked(CliError::new(format!("reading password: {e}"))))?
        }
    };
    let creds = Credentials::new(&username, &password);
    engine::login::login(registry, &creds, a.remote.tls_verify, &file)
        .map_err(|e| CliError::new(format!("logging into {registry:?}: {e}")))?;
    out("Login Succeeded!\n")?;
    Ok(0)
}

/// Prompts on the terminal.
mod terminal {
    use std::io::{self, BufRead as _, Write as _};
    use std::os::fd::AsFd as _;

    use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex};

    /// Print `prompt` on stdout and read one line from stdin (without its
    /// newline). End of input is an error ("EOF", as Go says it).
    pub fn read_line(prompt: &str) -> io::Result<String> {
        show(prompt)?;
        let mut line = String::new();
        if io::stdin().lock().read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF"));
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }

    fn show(prompt: &str) -> io::Result<()> {
        let mut o = io::stdout().lock();
        o.write_all(prompt.as_bytes())?;
        o.flush()
    }

    /// Print `prompt` and read a password from the terminal on stdin without
    /// echoing it, then end the prompt's line. Not a terminal: an error
    /// (podman's, "inappropriate ioctl for device"), never an echoed read.
    ///
    /// Non-canonical mode with signals off, reading byte by byte: the
    /// terminal is put back however the read ends, ctrl-c included (which
    /// is then delivered to us as SIGINT, as if typed at the shell). Hand
    /// written for these twenty lines rather than a crate: rustix already
    /// has the termios calls, and `rpassword` leaves echo off on ctrl-c.
    pub fn read_password(prompt: &str) -> io::Result<String> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        let saved = match termios::tcgetattr(fd) {
            Ok(t) => t,
            Err(e) => {
                show(prompt)?;
                return Err(match e {
                    rustix::io::Errno::NOTTY => io::Error::other("inappropriate ioctl for device"),
                    e => e.into(),
                });
            }
        };
        // Quiet before the prompt shows: what is typed after it is never echoed.
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
        quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
        quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
        termios::tcsetattr(fd, OptionalActions::Now, &quiet)?;
        if let Err(e) = show(prompt) {
            termios::tcsetattr(fd, OptionalActions::Now, &saved)?;
            return Err(e);
        }
        let read = read_secret(&mut stdin.lock());
        termios::tcsetattr(fd, OptionalActions::Now, &saved)?;
        show("\n")?;
        match read? {
            Some(p) => Ok(p),
            None => {
                // As ctrl-c at the shell: SIGINT ends us, even if we were
                // started with it ignored or blocked (a background job's).
                let _ = engine::containers::reset_signals();
                let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::INT);
                // Another of our threads (the registry client's) may take
                // it: wait for it to end us rather than racing it to an
                // ordinary exit.
                std::thread::sleep(std::time::Duration::from_secs(5));
                Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"))
            }
        }
    }

    /// The bytes typed up to Enter, with backspace and ctrl-u editing;
    /// `None` on ctrl-c. Ctrl-d on an empty line is end of input.
    fn read_secret(r: &mut impl io::Read) -> io::Result<Option<String>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if r.read(&mut byte)? == 0 {
                if buf.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF"));
                }
                break;
            }
            match byte[0] {
                b'\r' | b'\n' => break,
                0x03 => return Ok(None),
                0x04 if buf.is_empty() => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF")),
                0x7f | 0x08 => {
                    // One character, however many bytes its UTF-8 takes.
                    while let Some(b) = buf.pop() {
                        if b & 0xc0 != 0x80 {
                            break;
                        }
                    }
                }
                0x15 => buf.clear(),
                b => buf.push(b),
            }
        }
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "password is not UTF-8"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn editing_keys() {
            let read = |s: &[u8]| read_secret(&mut &s[..]).map_err(|e| e.to_string());
            assert_eq!(read(b"secret\r").unwrap().as_deref(), Some("secret"));
            assert_eq!(read(b"sex\x7fcret\n").unwrap().as_deref(), Some("secret"));
            assert_eq!(read("p\u{e9}\x7fa\n".as_bytes()).unwrap().as_deref(), Some("pa"));
            assert_eq!(read(b"junk\x15pw\n").unwrap().as_deref(), Some("pw"));
            assert_eq!(read(b"pw\x03").unwrap(), None);
            assert_eq!(read(b"\x04").unwrap_err(), "EOF");
            assert_eq!(read(b"").unwrap_err(), "EOF");
        }
    }
}

/// The registry a login/logout without one means: as podman, the first
/// unqualified-search registry of registries.conf.
fn registry_or_default(given: Option<&str>) -> Result<String> {
    if let Some(r) = given {
        return Ok(r.to_string());
    }
    let conf = engine::remote::registries_conf()?;
    conf.unqualified_search_registries()
        .first()
        .cloned()
        .ok_or_else(|| CliError::new("no registries found in registries.conf, a registry must be provided"))
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
    /// Registry to log out of (`host[:port]`); the first unqualified-search registry of registries.conf when omitted
    #[arg(value_name = "REGISTRY")]
    registry: Option<String>,
}

pub fn logout(a: &LogoutArgs) -> Result<u8> {
    let file = engine::login::auth_file(a.authfile.as_deref());
    if a.all {
        for key in engine::login::logged_in(&file)? {
            engine::login::logout(&key, &file).ctx(|| "removing login credentials".into())?;
        }
        out("Removed login credentials for all registries\n")?;
        return Ok(0);
    }
    let input = registry_or_default(a.registry.as_deref())?;
    let registry = registry_host(&input);
    let removed = engine::login::logout(registry, &file).ctx(|| format!("logging out of {registry:?}"))?;
    if !removed {
        return Err(CliError::new(format!("not logged into {registry}")));
    }
    out(&format!("Removed login credentials for {registry}\n"))?;
    Ok(0)
}
