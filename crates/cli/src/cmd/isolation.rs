//! `create`/`run` flags for privileges, devices, groups and namespaces,
//! plus `--env-host` and `--replace`: parsed here into the engine's
//! `Isolation` (whose module holds podman's rules and messages).

use engine::containers::isolation::{self, Isolation, NsKind};
use engine::{Engine, ErrorKind};

use crate::error::{CliError, Result};

#[derive(clap::Args)]
pub struct IsolationArgs {
    /// Give extended privileges to container
    #[arg(long)]
    privileged: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "OPTION")]
    security_opt: Vec<String>,
    /// Add a host device to the container
    #[arg(long, value_name = "HOST[:CONTAINER][:PERMISSIONS]")]
    device: Vec<String>,
    /// Add additional groups to the primary container process. 'keep-groups' allows container processes to use supplementary groups.
    #[arg(long = "group-add", value_name = "GROUP")]
    group_add: Vec<String>,
    /// Use all current host environment variables in container
    #[arg(long = "env-host")]
    env_host: bool,
    /// When running containers in read-only mode mount a read-write tmpfs on /run, /tmp and /var/tmp
    #[arg(long = "read-only-tmpfs", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    read_only_tmpfs: bool,
    /// IPC namespace to use
    #[arg(long, value_name = "MODE")]
    ipc: Option<String>,
    /// PID namespace to use
    #[arg(long, value_name = "MODE")]
    pid: Option<String>,
    /// UTS namespace to use
    #[arg(long, value_name = "MODE")]
    uts: Option<String>,
    /// cgroup namespace to use
    #[arg(long, value_name = "MODE")]
    cgroupns: Option<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net", value_name = "MODE")]
    network: Vec<String>,
    /// Specify a static IPv4 address for the container
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
    /// Specify a static IPv6 address for the container
    #[arg(long, value_name = "IP")]
    ip6: Option<String>,
    /// Container MAC address (e.g. 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "MAC")]
    mac_address: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", value_name = "ALIAS")]
    network_alias: Vec<String>,
    /// Publish a container's port, or a range of ports, to the host
    #[arg(short = 'p', long, value_name = "PORT")]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports on the host interface
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Set custom DNS servers
    #[arg(long, value_name = "IP")]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    dns_search: Vec<String>,
    /// Set custom DNS options
    #[arg(long = "dns-option", value_name = "OPTION")]
    dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Do not create /etc/hosts within the container, instead use the version from the image
    #[arg(long = "no-hosts")]
    no_hosts: bool,
    /// User namespace to use
    #[arg(long, value_name = "MODE")]
    userns: Option<String>,
    /// If a container with the same name exists, replace it
    #[arg(long)]
    pub replace: bool,
}

impl IsolationArgs {
    pub fn to_engine(&self) -> Result<Isolation> {
        let ns = |kind: NsKind, v: &Option<String>| -> Result<isolation::NsMode> {
            Ok(isolation::parse_ns(kind, v.as_deref().unwrap_or(""))?)
        };
        if let Some(u) = &self.userns {
            isolation::check_userns(u)?;
        }
        let (networks_mode, mut networks) = engine::containers::networking::parse_networks(&self.network)?;
        self.apply_network_flags(&mut networks)?;
        // Flags that only a network gives meaning to join the default one
        // when no --network says otherwise (podman's default is a bridge).
        let networks_mode =
            if !networks.is_empty() { engine::containers::isolation::NsMode::Private } else { networks_mode };
        let names = self.name_options(&networks_mode)?;
        let iso = Isolation {
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            devices: self.device.iter().map(|d| isolation::parse_device(d)).collect::<Result<_, _>>()?,
            group_add: self.group_add.clone(),
            ipc: ns(NsKind::Ipc, &self.ipc)?,
            pid: ns(NsKind::Pid, &self.pid)?,
            uts: ns(NsKind::Uts, &self.uts)?,
            cgroupns: ns(NsKind::Cgroup, &self.cgroupns)?,
            network: networks_mode,
            networks,
            ports: self
                .publish
                .iter()
                .map(|p| engine::containers::ports::parse_publish(p))
                .collect::<Result<_, _>>()?,
            publish_all: self.publish_all,
            names,
            no_read_only_tmpfs: !self.read_only_tmpfs,
            host_env: if self.env_host {
                std::env::vars_os().map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())).collect()
            } else {
                Vec::new()
            },
        };
        isolation::SecurityOpts::parse(&iso.security_opt)?;
        Ok(iso)
    }
}

impl IsolationArgs {
    /// `--dns*`, `--add-host`, `--no-hosts`, with podman's refusals.
    fn name_options(&self, mode: &isolation::NsMode) -> Result<engine::containers::networking::NameOptions> {
        use engine::containers::networking::NameOptions;
        if self.no_hosts && !self.add_host.is_empty() {
            return Err(CliError::new("--no-hosts and --add-host cannot be set together"));
        }
        let dns_given = !self.dns.is_empty() || !self.dns_search.is_empty() || !self.dns_option.is_empty();
        // (Asked for: berth.conf's `netns = "none"` leaves room for them,
        // as podman's containers.conf does.)
        if dns_given && *mode == isolation::NsMode::None && self.network.iter().any(|n| n == "none") {
            return Err(CliError::new("conflicting options: dns and the network mode: none"));
        }
        let extra_hosts = self.add_host.iter().map(|h| NameOptions::parse_add_host(h)).collect::<Result<_, _>>()?;
        Ok(NameOptions {
            servers: self.dns.iter().map(|d| NameOptions::parse_server(d)).collect::<Result<_, _>>()?,
            search: self.dns_search.clone(),
            options: self.dns_option.clone(),
            extra_hosts,
            no_hosts: self.no_hosts,
        })
    }

    /// `--ip`, `--ip6`, `--mac-address`, `--network-alias`: for the one
    /// network given (podman refuses them with several), the default
    /// network if none is.
    fn apply_network_flags(&self, networks: &mut Vec<engine::containers::networking::Attachment>) -> Result<()> {
        let addressing =
            self.ip.is_some() || self.ip6.is_some() || self.mac_address.is_some() || !self.network_alias.is_empty();
        // Published ports, too, need a network (the default one).
        if networks.is_empty() && self.network.is_empty() && (!self.publish.is_empty() || self.publish_all) {
            networks.push(engine::containers::networking::Attachment {
                network: engine::networks::default_network_name()?.into(),
                ..Default::default()
            });
        }
        let any = addressing;
        if !any {
            return Ok(());
        }
        if networks.is_empty() {
            if !self.network.is_empty() {
                // none, host, container:...: nothing to give an address on.
                let flag = if self.network_alias.is_empty() { "--ip/--mac-address" } else { "--network-alias" };
                return Err(CliError::new(format!(
                    "{flag} can only be set for a container on a bridge network: invalid argument"
                )));
            }
            networks.push(engine::containers::networking::Attachment {
                network: engine::networks::default_network_name()?.into(),
                ..Default::default()
            });
        }
        if networks.len() > 1 {
            return Err(CliError::new(
                "--ip, --ip6, --mac-address and --network-alias apply to one network: give them as --network NAME:ip=...,mac=...,alias=...: invalid argument",
            ));
        }
        let a = &mut networks[0];
        for ip in [&self.ip, &self.ip6].into_iter().flatten() {
            a.ips.push(ip.parse().map_err(|_| CliError::new(format!("{ip:?} is not an ip address")))?);
        }
        if let Some(mac) = &self.mac_address {
            a.mac = Some(engine::containers::networking::parse_mac(mac)?);
        }
        for alias in &self.network_alias {
            a.aliases.push(engine::containers::networking::check_alias(alias)?);
        }
        Ok(())
    }
}

/// `--replace`: remove the container that has this name, running or not
/// (podman's rm -f, with the container's stop timeout), printing its name
/// as podman does.
pub fn replace(engine: &Engine, name: Option<&str>) -> Result<()> {
    let Some(name) = name else {
        return Err(CliError::new("cannot replace container without --name being set"));
    };
    let c = match engine.container(name) {
        Ok(c) if c.name == name => c,
        Ok(_) => return Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let timeout = c.stop_timeout();
    match engine.remove_container(&c, true, timeout, false) {
        // podman reports the removal as `rm` does.
        Ok(()) => super::out(&format!("{name}\n")),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
