//! TEMPORARY stub: replaced by the real cgroups module.
pub mod mount;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manager {
    pub dirs: Vec<PathBuf>,
}
#[derive(Debug, Default, Serialize)]
pub struct Stats {}
impl Manager {
    pub fn new(_p: Option<&str>, _id: &str) -> Result<Manager> {
        Ok(Manager { dirs: vec![] })
    }
    pub fn create(&self) -> Result<()> {
        Ok(())
    }
    pub fn apply(&self, _r: &LinuxResources) -> Result<()> {
        Ok(())
    }
    pub fn add_pid(&self, _pid: i32) -> Result<()> {
        Ok(())
    }
    pub fn freeze(&self) -> Result<()> {
        Err(Error::Cgroup("stub".into()))
    }
    pub fn thaw(&self) -> Result<()> {
        Err(Error::Cgroup("stub".into()))
    }
    pub fn is_frozen(&self) -> Result<bool> {
        Ok(false)
    }
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(vec![])
    }
    pub fn kill_all(&self, _s: nix::sys::signal::Signal) -> Result<()> {
        Ok(())
    }
    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats::default())
    }
    pub fn destroy(&self) -> Result<()> {
        Ok(())
    }
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.clone()
    }
    pub fn exists(&self) -> bool {
        false
    }
}
#[allow(dead_code)]
fn _unused(_: &Path) {}
