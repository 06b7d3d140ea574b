//! The answer for one event.

use crate::edit::EditedEvent;

/// What happens to one event on its way to this webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Deliver it unchanged.
    Keep,
    /// Do not deliver it to this webhook.
    Drop,
    /// Deliver this event instead (see [`crate::Event::edit`]).
    Replace(EditedEvent),
}

impl Verdict {
    /// `Keep` when `condition` holds, else `Drop`.
    pub fn keep_if(condition: bool) -> Self {
        if condition { Self::Keep } else { Self::Drop }
    }
}
