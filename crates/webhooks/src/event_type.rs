//! The event types of API.md §9 and an endpoint's subscriptions.

/// What a webhook message announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// A tracked event was stored; data = its exact 201 body.
    EventCreated,
    /// An agent's first event; data = `{agent_id, event}`.
    AgentFirstEvent,
    WeeklyDigest,
    MonthlyDigest,
    /// `POST /webhooks/{id}/test`; sent whatever the endpoint subscribes to.
    WebhookPing,
}

/// A type that is not one of the subscribable ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    #[error("'{0}' is not an event type; use event.created, agent.first_event, weekly.digest or monthly.digest")]
    Unknown(String),
    #[error("event_types must name at least one event type")]
    Empty,
}

impl EventType {
    /// The types an endpoint can subscribe to (a ping is sent on request, not subscribed to).
    pub const SUBSCRIBABLE: [EventType; 4] = [
        EventType::EventCreated,
        EventType::AgentFirstEvent,
        EventType::WeeklyDigest,
        EventType::MonthlyDigest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::EventCreated => "event.created",
            EventType::AgentFirstEvent => "agent.first_event",
            EventType::WeeklyDigest => "weekly.digest",
            EventType::MonthlyDigest => "monthly.digest",
            EventType::WebhookPing => "webhook.ping",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        [
            EventType::EventCreated,
            EventType::AgentFirstEvent,
            EventType::WeeklyDigest,
            EventType::MonthlyDigest,
            EventType::WebhookPing,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The set of types an endpoint subscribes to: non-empty, sorted, each once. Stored as the
/// types joined by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriptions(Vec<EventType>);

impl Subscriptions {
    /// From the API's `event_types` list.
    pub fn new<S: AsRef<str>>(types: &[S]) -> Result<Subscriptions, EventTypeError> {
        let mut out = Vec::with_capacity(types.len());
        for t in types {
            let t = t.as_ref();
            match EventType::parse(t) {
                Some(e) if EventType::SUBSCRIBABLE.contains(&e) => out.push(e),
                _ => return Err(EventTypeError::Unknown(t.chars().take(64).collect())),
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(EventTypeError::Empty);
        }
        Ok(Subscriptions(out))
    }

    /// From the stored text (unknown words are dropped: a type removed from a later version
    /// no longer matches anything).
    pub fn from_stored(s: &str) -> Subscriptions {
        let mut v: Vec<EventType> = s.split(' ').filter_map(EventType::parse).collect();
        v.sort();
        v.dedup();
        Subscriptions(v)
    }

    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|t| t.as_str()).collect()
    }

    pub fn contains(&self, t: EventType) -> bool {
        self.0.contains(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_checked_sorted_and_stored_as_words() {
        let s =
            Subscriptions::new(&["event.created", "agent.first_event", "event.created"]).unwrap();
        assert_eq!(s.names(), ["event.created", "agent.first_event"]);
        assert_eq!(Subscriptions::from_stored(&s.to_stored()), s);
        assert!(s.contains(EventType::EventCreated));
        assert!(!s.contains(EventType::WeeklyDigest));
        assert_eq!(
            Subscriptions::new(&["webhook.ping"]),
            Err(EventTypeError::Unknown("webhook.ping".into()))
        );
        assert_eq!(Subscriptions::new::<&str>(&[]), Err(EventTypeError::Empty));
        assert_eq!(
            Subscriptions::new(&["event.*"]),
            Err(EventTypeError::Unknown("event.*".into()))
        );
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }
}
