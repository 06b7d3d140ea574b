//! Keeps every event: measures what the filter machinery itself costs. Built as a component,
//! it is run by the host's runtime tests (`host/tests/filter_runtime.rs`) and benchmarks.

use switchyard_filter::{Context, Event, Verdict, filter};

filter!(decide);

fn decide(_ctx: &Context, _event: &Event) -> Verdict {
    Verdict::Keep
}
