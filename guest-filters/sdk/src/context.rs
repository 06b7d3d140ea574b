//! What a filter is told besides the events.

use std::borrow::Cow;

/// The app and webhook a batch is being decided for: one module may serve several webhooks.
///
/// In a filter's signature it is just `&Context`: the lifetime is that of the call's text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context<'a> {
    app_id: Cow<'a, str>,
    webhook_id: Cow<'a, str>,
    webhook_target: Cow<'a, str>,
}

impl<'a> Context<'a> {
    /// A context, e.g. for a test.
    pub fn new(
        app_id: impl Into<Cow<'a, str>>,
        webhook_id: impl Into<Cow<'a, str>>,
        webhook_target: impl Into<Cow<'a, str>>,
    ) -> Self {
        Self {
            app_id: app_id.into(),
            webhook_id: webhook_id.into(),
            webhook_target: webhook_target.into(),
        }
    }

    /// The app the events belong to.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The webhook's stable id from the gateway's config.
    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }

    /// Where the webhook delivers, as configured (a URL, or its Lambda function).
    pub fn webhook_target(&self) -> &str {
        &self.webhook_target
    }
}
