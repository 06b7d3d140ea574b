//! # Import: move an existing setup onto Switchyard
//!
//! In: another Pusher-protocol server's configuration (today soketi's: its JSON config file
//! and its `SOKETI_*` environment form, see [`soketi`]). Out: a Switchyard config that passes
//! [`crate::config::validate`], the snippet to put back into that server so it sends every
//! event to the gateway instead, and a report. Nothing is dropped silently: every option that
//! was changed, left out or left behind is in the report with the path it came from.

mod note;
mod render;
pub mod soketi;

pub use note::{Level, Note};
pub use render::{Format, RenderError, render};
