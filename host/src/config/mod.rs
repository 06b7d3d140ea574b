//! # Config: what the operator writes, validated once
//!
//! In: a TOML or JSON file (by extension). A soketi app or webhook object pastes into the JSON
//! form unchanged. Out: a [`Config`] whose every value is already valid, or a [`ConfigError`]
//! listing every problem with the path of its field (`apps[0].webhooks[2].event_types[1]`).
//! soketi's own app settings are accepted and reported as ignored warnings.

mod delivery;
mod event_type;
mod load;
mod model;
mod reader;
#[cfg(test)]
mod tests;
mod watch;
mod webhook;

pub use event_type::{EventType, EventTypeSet};
pub(crate) use load::SOKETI_APP_SETTINGS;
pub use load::{ConfigError, LoadedConfig, load, validate};
pub use model::{
    AdminSettings, App, Batching, ChannelFilter, Config, ConfigSource, DeliverySettings,
    LambdaTarget, LogFormat, Secret, ServerSettings, Signing, StaticCredentials, Target, Webhook,
};
pub use reader::Finding;
pub(crate) use reader::nearest;
pub use watch::FileWatcher;
