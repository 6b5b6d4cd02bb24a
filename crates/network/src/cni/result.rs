//! A CNI plugin chain's result: the interfaces it made and the addresses,
//! routes and DNS it gave them. Versions 0.3.x, 0.4.0 and 1.0.0 share this
//! shape (0.3.x addresses also say their `version`, which is ignored).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;

/// An ADD's result, as the last plugin of the chain printed it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CniResult {
    /// The version the result is written in.
    #[serde(default, rename = "cniVersion")]
    pub cni_version: String,
    /// The interfaces made or used, host side and container side.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// The addresses given, each naming its interface by index.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// The routes set up in the container.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// What the container's resolver should use (plugins often leave it
    /// empty: the runtime's own settings apply then).
    #[serde(default)]
    pub dns: Dns,
    /// The result as printed: what the cache keeps and a later CHECK or DEL
    /// is given, fields berth does not read included.
    #[serde(skip)]
    pub raw: Value,
}

/// An interface a plugin made or used: on the host when `sandbox` is empty,
/// else in the namespace `sandbox` names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub sandbox: String,
}

/// An address given to an interface.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IpConfig {
    /// The address with its subnet's prefix length ("10.88.0.5/16").
    pub address: IpNet,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// Index into [`CniResult::interfaces`] of the interface it is on.
    #[serde(default)]
    pub interface: Option<usize>,
}

/// A route in the container: to `dst`, through `gw` (else the interface's
/// default gateway).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    #[serde(default)]
    pub gw: Option<IpAddr>,
}

/// DNS settings for the container, as resolv.conf has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Dns {
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub search: Vec<String>,
    #[serde(default)]
    pub options: Vec<String>,
}

impl CniResult {
    /// Read a result; the error says what in it is not a result.
    pub(super) fn from_value(raw: Value) -> Result<CniResult, serde_json::Error> {
        let mut result: CniResult = serde_json::from_value(raw.clone())?;
        result.raw = raw;
        Ok(result)
    }

    /// The addresses of the container's interface `ifname` (the one of that
    /// name in a sandbox: the host side may have an interface of the same
    /// name).
    pub fn container_addresses(&self, ifname: &str) -> Vec<IpNet> {
        let Some(index) = self.container_interface(ifname) else { return Vec::new() };
        self.ips.iter().filter(|ip| ip.interface == Some(index)).map(|ip| ip.address).collect()
    }

    /// The MAC address of the container's interface `ifname`, when a plugin
    /// reported one.
    pub fn container_mac(&self, ifname: &str) -> Option<String> {
        let mac = &self.interfaces[self.container_interface(ifname)?].mac;
        (!mac.is_empty()).then(|| mac.clone())
    }

    fn container_interface(&self, ifname: &str) -> Option<usize> {
        self.interfaces.iter().position(|i| i.name == ifname && !i.sandbox.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_bridge_result_of_each_version() {
        for (version, extra) in [("1.0.0", json!({})), ("0.4.0", json!({})), ("0.3.1", json!({"version": "4"}))] {
            let mut ip = json!({"address": "10.199.0.2/24", "gateway": "10.199.0.1", "interface": 2});
            ip.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let raw = json!({
                "cniVersion": version,
                "interfaces": [
                    {"name": "cni0", "mac": "aa:aa:aa:aa:aa:aa"},
                    {"name": "eth0", "mac": "bb:bb:bb:bb:bb:bb"},
                    {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "sandbox": "/proc/1/fd/3"}
                ],
                "ips": [ip],
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.199.0.1"}],
                "dns": {}
            });
            let result = CniResult::from_value(raw.clone()).unwrap();
            assert_eq!(result.raw, raw);
            assert_eq!(result.container_addresses("eth0"), vec!["10.199.0.2/24".parse::<IpNet>().unwrap()]);
            assert_eq!(result.container_mac("eth0").as_deref(), Some("cc:cc:cc:cc:cc:cc"));
            assert_eq!(result.routes[0].gw, Some("10.199.0.1".parse().unwrap()));
            assert!(result.container_addresses("eth1").is_empty() && result.container_mac("cni0").is_none());
        }
    }

    #[test]
    fn an_empty_result_reads() {
        let result = CniResult::from_value(json!({"cniVersion": "1.0.0"})).unwrap();
        assert!(result.interfaces.is_empty() && result.ips.is_empty() && result.dns == Dns::default());
        assert!(CniResult::from_value(json!({"ips": [{"address": "nonsense"}]})).is_err());
    }
}
