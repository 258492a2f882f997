//! Interface names (as pf states carry them) to SNMP ifIndex values.
//!
//! Order of lookup: an explicit `--ifindex name=index` entry, then the local
//! interface of that name (`if_nametoindex`, when stateflowd runs on the
//! firewall itself), else 0. The explicit map wins so that an operator on a
//! monitoring host, whose own interfaces may share names with the
//! firewall's, always gets the numbers they configured.

use crate::pfsync::IfName;
use std::collections::HashMap;

/// Most names remembered from local lookups; pfsync peers choose names, so
/// the cache must not grow without bound.
const CACHE_MAX: usize = 4096;

#[derive(Clone, Debug, Default)]
pub struct IfIndexMap {
    explicit: HashMap<IfName, u32>,
    /// Whether to ask the local system for unknown names.
    use_local: bool,
    cache: HashMap<IfName, u32>,
}

impl IfIndexMap {
    /// A map that consults only the explicit entries (pure; for tests).
    pub fn explicit_only() -> Self {
        IfIndexMap::default()
    }

    /// A map that also asks the local system.
    pub fn with_local_lookup() -> Self {
        IfIndexMap {
            use_local: true,
            ..Default::default()
        }
    }

    pub fn insert(&mut self, name: &str, index: u32) {
        self.explicit.insert(IfName::new(name), index);
    }

    /// Parses `em0=1,em1=2` (whitespace around items allowed).
    pub fn parse_into(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, idx) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not NAME=INDEX"))?;
            let name = name.trim();
            if name.is_empty() || name.len() > 15 {
                return Err(format!("'{name}' is not an interface name (1-15 bytes)"));
            }
            let idx: u32 = idx
                .trim()
                .parse()
                .map_err(|_| format!("'{}' is not an interface index", idx.trim()))?;
            self.insert(name, idx);
        }
        Ok(())
    }

    /// The index for `name`, 0 when unknown.
    pub fn resolve(&mut self, name: &IfName) -> u32 {
        if let Some(&i) = self.explicit.get(name) {
            return i;
        }
        if !self.use_local || name.is_empty() {
            return 0;
        }
        if let Some(&i) = self.cache.get(name) {
            return i;
        }
        let i = local_index(name);
        if self.cache.len() < CACHE_MAX {
            self.cache.insert(*name, i);
        }
        i
    }
}

fn local_index(name: &IfName) -> u32 {
    let mut c = [0u8; 17];
    c[..16].copy_from_slice(&name.0);
    // SAFETY: `c` is NUL-terminated (byte 16 is always 0) and outlives the call.
    unsafe { libc::if_nametoindex(c.as_ptr().cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_entries_parse_and_resolve() {
        let mut m = IfIndexMap::explicit_only();
        m.parse_into("em0=1, em1 = 2,").unwrap();
        assert_eq!(m.resolve(&IfName::new("em0")), 1);
        assert_eq!(m.resolve(&IfName::new("em1")), 2);
        assert_eq!(m.resolve(&IfName::new("em2")), 0);
        assert!(m.parse_into("em0").is_err());
        assert!(m.parse_into("em0=x").is_err());
        assert!(m.parse_into("=3").is_err());
    }

    #[test]
    fn local_lookup_finds_loopback_and_explicit_wins() {
        let mut m = IfIndexMap::with_local_lookup();
        // Linux names its loopback "lo" with index 1.
        assert_eq!(m.resolve(&IfName::new("lo")), 1);
        assert_eq!(m.resolve(&IfName::new("nonexistent0")), 0);
        m.insert("lo", 77);
        assert_eq!(m.resolve(&IfName::new("lo")), 77);
    }
}
