//! Network interface calls rustix does not wrap: raising an interface's
//! flags (what brings a container's `lo` up) and listing the host's
//! addresses.
//!
//! One interface flag is two ioctls on any socket of the namespace the
//! interface lives in (SIOCGIFFLAGS, SIOCSIFFLAGS): netlink would do the same
//! through an rtnetlink message builder and its crates (netlink-packet-route,
//! netlink-sys and their dependencies) for nothing more.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd as _, BorrowedFd};

/// An `ifreq` naming interface `name`, the rest zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")));
    }
    // SAFETY: ifreq is plain data (a name and a union of integers, addresses
    // and a pointer); all zeroes is a valid value of each.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, b) in req.ifr_name.iter_mut().zip(bytes) {
        *slot = *b as libc::c_char;
    }
    Ok(req)
}

/// Set `IFF_UP` on interface `name` of the network namespace `socket` was
/// created in (an ioctl acts on its socket's namespace, not the caller's).
/// Already up is fine.
pub fn set_link_up(socket: BorrowedFd, name: &str) -> io::Result<()> {
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name and writes `ifru_flags` of the
    // ifreq it is given, which lives across the call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled `ifru_flags` (a c_short, any value valid).
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let up = libc::IFF_UP as libc::c_short;
    if flags & up != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: SIOCSIFFLAGS reads the name and flags of the ifreq given.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One address of one of the caller's network namespace's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub interface: String,
    pub addr: IpAddr,
}

/// Every IPv4 and IPv6 address of the interfaces of the caller's network
/// namespace, in the kernel's order (getifaddrs: IPv4 first).
pub fn interface_addresses() -> io::Result<Vec<InterfaceAddress>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list it allocated into `list`, freed below.
    if unsafe { libc::getifaddrs(&mut list) } == -1 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is an entry of the list getifaddrs made, still alive.
        let entry = unsafe { &*cur };
        cur = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points at a sockaddr whose family says
        // which sockaddr_* it is; each is read only as that type.
        let addr = unsafe {
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            }
        };
        // SAFETY: a non-null ifa_name is a NUL-terminated string of the list.
        let interface = unsafe { CStr::from_ptr(entry.ifa_name) }.to_string_lossy().into_owned();
        out.push(InterfaceAddress { interface, addr });
    }
    // SAFETY: `list` came from getifaddrs and nothing of it is used after.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_ioctl() {
        for name in ["", "a-name-much-too-long", "a\0b"] {
            assert_eq!(ifreq(name).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
        let req = ifreq("lo").unwrap();
        assert_eq!(req.ifr_name[..3], [b'l' as libc::c_char, b'o' as libc::c_char, 0]);
    }

    #[test]
    fn the_hosts_loopback_is_listed() {
        let all = interface_addresses().unwrap();
        assert!(all.iter().any(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST)), "{all:?}");
    }
}
