//! The webhook event types Pusher-protocol servers emit, and sets of them.

use std::fmt;

/// One webhook event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    ChannelOccupied,
    ChannelVacated,
    MemberAdded,
    MemberRemoved,
    ClientEvent,
    CacheMiss,
    SubscriptionCount,
}

impl EventType {
    /// Every type, in the order documentation lists them.
    pub const ALL: [EventType; 7] = [
        EventType::ChannelOccupied,
        EventType::ChannelVacated,
        EventType::MemberAdded,
        EventType::MemberRemoved,
        EventType::ClientEvent,
        EventType::CacheMiss,
        EventType::SubscriptionCount,
    ];

    /// The name on the wire (`channel_occupied`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ChannelOccupied => "channel_occupied",
            EventType::ChannelVacated => "channel_vacated",
            EventType::MemberAdded => "member_added",
            EventType::MemberRemoved => "member_removed",
            EventType::ClientEvent => "client_event",
            EventType::CacheMiss => "cache_miss",
            EventType::SubscriptionCount => "subscription_count",
        }
    }

    /// The type with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of event types, checked once per event per webhook: a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventTypeSet(u8);

impl EventTypeSet {
    pub fn insert(&mut self, t: EventType) {
        self.0 |= t.bit();
    }

    pub fn contains(self, t: EventType) -> bool {
        self.0 & t.bit() != 0
    }

    /// Whether an event with this wire name is in the set (unknown names never are).
    pub fn contains_name(self, name: &str) -> bool {
        EventType::from_name(name).is_some_and(|t| self.contains(t))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

impl FromIterator<EventType> for EventTypeSet {
    fn from_iter<I: IntoIterator<Item = EventType>>(iter: I) -> Self {
        let mut set = Self::default();
        iter.into_iter().for_each(|t| set.insert(t));
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_what_was_inserted() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.as_str()), Some(t));
        }
        let set: EventTypeSet = [EventType::MemberAdded, EventType::CacheMiss]
            .into_iter()
            .collect();
        assert!(set.contains_name("member_added"));
        assert!(set.contains_name("cache_miss"));
        assert!(!set.contains_name("member_removed"));
        assert!(!set.contains_name("no_such_event"));
        assert_eq!(set.iter().count(), 2);
    }
}
