//! Which ended states become flow records.
//!
//! As pflow(4) users tag rules: by default only states carrying pf's
//! `pflow` state option (`keep state (pflow)`, `set state-defaults pflow`)
//! are exported — when the dialect carries the flag at all (legacy pfsync
//! and FreeBSD's 1301 layout may not; then every state is). `--all-states`
//! exports every state. Filters by rule number, the state's interface,
//! direction (pfflowd's `-S`) and address family narrow further.

use crate::pfsync::{Family, IfName, PfDirection};
use crate::state::Tracked;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Export states without the pflow flag too.
    pub all_states: bool,
    /// Only these rule numbers (empty = any).
    pub rules: Vec<u32>,
    /// Only states on these interfaces (empty = any).
    pub interfaces: Vec<IfName>,
    /// Only this direction (None = any).
    pub direction: Option<PfDirection>,
    /// Only this address family (None = any).
    pub family: Option<Family>,
}

/// Why a state was not selected (for counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    NoPflowFlag,
    Rule,
    Interface,
    Direction,
    Family,
}

impl Rejected {
    pub fn counter_name(self) -> &'static str {
        match self {
            Rejected::NoPflowFlag => "no_pflow_flag",
            Rejected::Rule => "rule",
            Rejected::Interface => "interface",
            Rejected::Direction => "direction",
            Rejected::Family => "family",
        }
    }
}

impl Selection {
    pub fn check(&self, t: &Tracked) -> Result<(), Rejected> {
        if !self.all_states && t.flags_known && t.state_flags & crate::pfsync::PFSTATE_PFLOW == 0 {
            return Err(Rejected::NoPflowFlag);
        }
        if !self.rules.is_empty() && !self.rules.contains(&t.rule) {
            return Err(Rejected::Rule);
        }
        if !self.interfaces.is_empty() && !self.interfaces.contains(&t.ifname) {
            return Err(Rejected::Interface);
        }
        if self.direction.is_some_and(|d| d != t.direction) {
            return Err(Rejected::Direction);
        }
        if self.family.is_some_and(|f| f != t.family) {
            return Err(Rejected::Family);
        }
        Ok(())
    }

    /// Parses pfflowd's `-S in|out|any` word.
    pub fn parse_direction(s: &str) -> Result<Option<PfDirection>, String> {
        match s.to_ascii_lowercase().as_str() {
            "in" => Ok(Some(PfDirection::In)),
            "out" => Ok(Some(PfDirection::Out)),
            "any" => Ok(None),
            _ => Err(format!("direction '{s}' is not in, out or any")),
        }
    }

    pub fn parse_family(s: &str) -> Result<Option<Family>, String> {
        match s.to_ascii_lowercase().as_str() {
            "inet" | "ipv4" | "4" => Ok(Some(Family::Inet)),
            "inet6" | "ipv6" | "6" => Ok(Some(Family::Inet6)),
            "any" => Ok(None),
            _ => Err(format!("address family '{s}' is not inet, inet6 or any")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfsync::{PFSTATE_PFLOW, StateKey};
    use crate::time::Timestamp;

    fn tracked(flags: u16, known: bool) -> Tracked {
        Tracked {
            key: StateKey::default(),
            ifname: IfName::new("em0"),
            family: Family::Inet,
            proto: 6,
            direction: PfDirection::In,
            rule: 5,
            state_flags: flags,
            flags_known: known,
            first: Timestamp::ZERO,
            last: Timestamp::ZERO,
            packets: [0; 2],
            bytes: [0; 2],
            counters_at: Timestamp::ZERO,
        }
    }

    #[test]
    fn pflow_flag_is_required_only_where_the_dialect_carries_it() {
        let s = Selection::default();
        assert_eq!(s.check(&tracked(0, true)), Err(Rejected::NoPflowFlag));
        assert_eq!(s.check(&tracked(PFSTATE_PFLOW, true)), Ok(()));
        assert_eq!(s.check(&tracked(0, false)), Ok(()));
        let all = Selection {
            all_states: true,
            ..Default::default()
        };
        assert_eq!(all.check(&tracked(0, true)), Ok(()));
    }

    #[test]
    fn filters_narrow_by_rule_interface_direction_family() {
        let t = tracked(PFSTATE_PFLOW, true);
        let mut s = Selection {
            rules: vec![4],
            ..Default::default()
        };
        assert_eq!(s.check(&t), Err(Rejected::Rule));
        s.rules.push(5);
        assert_eq!(s.check(&t), Ok(()));
        s.interfaces = vec![IfName::new("em1")];
        assert_eq!(s.check(&t), Err(Rejected::Interface));
        s.interfaces.push(IfName::new("em0"));
        s.direction = Selection::parse_direction("OUT").unwrap();
        assert_eq!(s.check(&t), Err(Rejected::Direction));
        s.direction = Selection::parse_direction("in").unwrap();
        s.family = Selection::parse_family("inet6").unwrap();
        assert_eq!(s.check(&t), Err(Rejected::Family));
        s.family = Selection::parse_family("any").unwrap();
        assert_eq!(s.check(&t), Ok(()));
        assert!(Selection::parse_direction("sideways").is_err());
    }
}
