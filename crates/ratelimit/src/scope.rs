//! Key scopes (API.md §13): what a key may do. `track` (track, batch, validate), `read`
//! (summary, reports, lists, the dashboard), `admin` (writes to task types, agents, webhooks,
//! keys, share links and org settings). A key made without scopes has all three.

use std::fmt;

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Track,
    Read,
    Admin,
}

impl Scope {
    /// Every scope, in the order they are printed.
    pub const ALL: [Scope; 3] = [Scope::Track, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Track => "track",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Track => 1,
            Scope::Read => 2,
            Scope::Admin => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

/// Why a scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("'{0}' is not a scope; the scopes are track, read, admin")]
    Unknown(String),
    #[error("give at least one scope: track, read, admin")]
    Empty,
}

impl Scopes {
    /// Every scope: what keys made before scopes existed, and keys made without any, have.
    pub const ALL: Scopes = Scopes(7);

    /// Parses names separated by commas or whitespace (`track,read`).
    ///
    /// ```
    /// use ratelimit::{Scope, Scopes};
    ///
    /// let s = Scopes::parse("track, read").unwrap();
    /// assert!(s.allows(Scope::Read) && !s.allows(Scope::Admin));
    /// assert_eq!(s.to_string(), "track read");
    /// assert!(Scopes::parse("write").is_err());
    /// assert!(Scopes::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Scopes, ScopeError> {
        Self::from_names(
            text.split([',', ' ', '\t'])
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        )
    }

    /// From names, each one of the scopes.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, ScopeError> {
        let mut bits = 0;
        for n in names {
            let s = Scope::ALL
                .into_iter()
                .find(|s| s.as_str() == n)
                .ok_or_else(|| ScopeError::Unknown(n.chars().take(40).collect()))?;
            bits |= s.bit();
        }
        if bits == 0 {
            return Err(ScopeError::Empty);
        }
        Ok(Scopes(bits))
    }

    /// Whether the set holds `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes held, in order.
    pub fn list(self) -> Vec<Scope> {
        Scope::ALL.into_iter().filter(|s| self.allows(*s)).collect()
    }
}

/// As stored and printed: the names separated by single spaces, in order.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.list().into_iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subset_round_trips() {
        for bits in 1..8 {
            let s = Scopes(bits);
            assert_eq!(Scopes::parse(&s.to_string()), Ok(s));
        }
        assert_eq!(
            Scopes::parse("admin track admin").unwrap().to_string(),
            "track admin"
        );
        assert_eq!(Scopes::ALL.to_string(), "track read admin");
        assert_eq!(
            Scopes::parse("Read"),
            Err(ScopeError::Unknown("Read".into()))
        );
        assert_eq!(Scopes::parse(" , "), Err(ScopeError::Empty));
    }
}
