//! # Switchyard filters in Rust
//!
//! A filter decides, for each event bound for a webhook, whether to keep it, drop it or
//! replace it. Write one function and export it with [`filter!`]:
//!
//! ```
//! use switchyard_filter::{Context, Event, Verdict, filter};
//!
//! filter!(decide);
//!
//! /// Only private channels reach this webhook.
//! fn decide(_ctx: &Context, event: &Event) -> Verdict {
//!     Verdict::keep_if(event.channel().starts_with("private-"))
//! }
//! ```
//!
//! A filter with parameters (the `params` of the filter in the gateway's config) or state
//! adds an `init` that turns the params into its state; `decide` then gets that state:
//!
//! ```
//! use serde::Deserialize;
//! use switchyard_filter::{Context, Event, Verdict, filter};
//!
//! filter!(init = init, decide = decide);
//!
//! #[derive(Deserialize)]
//! struct Params {
//!     users: Vec<String>,
//! }
//!
//! fn init(params: Params) -> Result<Params, String> {
//!     Ok(params)
//! }
//!
//! fn decide(params: &mut Params, _ctx: &Context, event: &Event) -> Verdict {
//!     Verdict::keep_if(event.user_id().is_some_and(|id| params.users.iter().any(|u| u == id)))
//! }
//! ```
//!
//! Build the component with `cargo build --target wasm32-wasip2 --release` (the crate must
//! be a `cdylib`); test the functions natively with `cargo test`. The contract with the
//! gateway is the WIT world in `guest-filters/wit/filter.wit`.

mod context;
mod edit;
mod event;
#[cfg(target_arch = "wasm32")]
mod guest;
pub mod log;
mod runner;
mod verdict;

pub use context::Context;
pub use edit::EditedEvent;
pub use event::{Event, InvalidEvent};
pub use runner::Runner;
pub use serde_json;
pub use verdict::Verdict;

/// Exports a filter: `filter!(decide)` for a function `fn(&Context, &Event) -> Verdict`, or
/// `filter!(init = init, decide = decide)` for `init: fn(P) -> Result<S, String>` (where `P`
/// is any `serde::Deserialize` type, `serde_json::Value` included) and
/// `decide: fn(&mut S, &Context, &Event) -> Verdict`. Closures work too.
///
/// In a wasm build this implements the component's exports; in a native build it only
/// checks the functions' types, so they can be unit-tested directly.
#[macro_export]
macro_rules! filter {
    (init = $init:expr, decide = $decide:expr $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Filter;
            impl $crate::__private::Guest for Filter {
                fn init(
                    params: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init($crate::Runner::start(&params, $init, $decide))
                }
                fn decide(
                    text: ::std::string::String,
                    ctx: $crate::__private::Context,
                    events: ::std::vec::Vec<$crate::__private::Event>,
                ) -> ::std::vec::Vec<$crate::__private::Verdict> {
                    $crate::__private::decide(text, ctx, events)
                }
            }
    $crate::__private::bindings::export!(Filter with_types_in $crate::__private::bindings);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            // Type-checks the pair as the wasm build would use it (and marks them used).
            let _check = || $crate::Runner::start("null", $init, $decide);
        };
    };
    ($decide:expr $(,)?) => {
        $crate::filter!(
            init = $crate::__private::no_params,
            decide = |_: &mut (), ctx: &$crate::Context, event: &$crate::Event| $decide(ctx, event),
        );
    };
}

/// What [`filter!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::guest::bindings::{self, Context, Event, Guest, Verdict};
    #[cfg(target_arch = "wasm32")]
    pub use crate::guest::{decide, init};

    /// The `init` of a filter without params: accepts any params and keeps no state.
    pub fn no_params(_: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}
