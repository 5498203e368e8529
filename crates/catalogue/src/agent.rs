//! The agent id rule: what every entry point (track, batch items, `PUT /agents`, the read
//! filters, the CLI) accepts as the id of an agent.

use std::fmt;

/// Most characters in an agent id.
pub const AGENT_ID_MAX_CHARS: usize = 128;

/// An agent's id: 1 to 128 characters, none of them a control character or an invisible
/// format character ([`crate::forbidden_char`]: a stored id is printed in pages, CSV and logs,
/// and PostgreSQL cannot hold a NUL).
///
/// ```
/// use catalogue::AgentId;
/// assert_eq!(AgentId::parse("support-bot").unwrap().as_str(), "support-bot");
/// assert!(AgentId::parse("").is_err());
/// assert!(AgentId::parse("tab\there").is_err());
/// assert!(AgentId::parse(&"é".repeat(128)).is_ok());
/// assert!(AgentId::parse(&"a".repeat(129)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(String);

/// Why a text is not an agent id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AgentIdError {
    #[error("must be 1 to 128 characters")]
    Length,
    #[error("must not contain control characters or invisible format characters")]
    ControlCharacter,
}

impl AgentId {
    /// The rule in one phrase, for answers that state it whole.
    pub const RULE: &'static str =
        "must be 1 to 128 characters without control or invisible format characters";

    /// Checks the length (in characters) first, then the characters.
    pub fn parse(s: &str) -> Result<Self, AgentIdError> {
        Self::check(s)?;
        Ok(AgentId(s.to_owned()))
    }

    /// [`AgentId::parse`] of an owned text, without copying it.
    pub fn from_string(s: String) -> Result<Self, AgentIdError> {
        Self::check(&s)?;
        Ok(AgentId(s))
    }

    fn check(s: &str) -> Result<(), AgentIdError> {
        let n = s.chars().count();
        if n == 0 || n > AGENT_ID_MAX_CHARS {
            return Err(AgentIdError::Length);
        }
        if crate::forbidden_char(s).is_some() {
            return Err(AgentIdError::ControlCharacter);
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters_and_checked_first() {
        assert_eq!(AgentId::parse(""), Err(AgentIdError::Length));
        assert_eq!(
            AgentId::parse(&format!("{}\u{7}", "a".repeat(128))),
            Err(AgentIdError::Length)
        );
        assert_eq!(
            AgentId::parse("a\u{0}"),
            Err(AgentIdError::ControlCharacter)
        );
        assert_eq!(
            AgentId::parse("a\u{85}"),
            Err(AgentIdError::ControlCharacter)
        );
        assert!(AgentId::parse(&"ü".repeat(128)).is_ok());
        assert_eq!(
            AgentId::parse("bot\u{2066}a"),
            Err(AgentIdError::ControlCharacter)
        );
    }
}
