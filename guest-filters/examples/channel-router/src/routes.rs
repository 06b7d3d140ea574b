//! The routing table: which channels each webhook gets. Plain Rust, no SDK types, so the
//! host's benchmark runs exactly this code natively as its baseline.

use serde::Deserialize;

/// The filter's params.
///
/// ```json
/// {
///   "routes": [
///     { "webhook": "billing", "channels": ["private-billing-*"] },
///     { "webhook": "https://audit.example.com/*", "channels": ["*"] }
///   ],
///   "otherwise": "drop"
/// }
/// ```
///
/// A route applies to a webhook when its `webhook` pattern matches the webhook's id or its
/// target. A webhook with routes gets the events whose channel matches one of their
/// `channels` patterns; a webhook without any gets everything (`"otherwise": "keep"`, the
/// default) or nothing (`"drop"`). Patterns are globs: `*` is any run of characters, `?`
/// one character (channel names are ASCII).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    routes: Vec<Route>,
    #[serde(default)]
    otherwise: Otherwise,
    /// The webhook of the last call and the routes that apply to it: a batch is for one
    /// webhook, so they are matched once per webhook, not once per event.
    #[serde(skip)]
    last: Option<(String, Vec<usize>)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    webhook: String,
    channels: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Otherwise {
    #[default]
    Keep,
    Drop,
}

impl Routes {
    /// Refuses a table that can never match anything useful.
    pub fn check(self) -> Result<Self, String> {
        if let Some(i) = self.routes.iter().position(|r| r.channels.is_empty()) {
            return Err(format!("routes[{i}] has no channels"));
        }
        Ok(self)
    }

    /// Whether the webhook (by id and target) gets events on `channel`.
    pub fn allows(&mut self, webhook_id: &str, webhook_target: &str, channel: &str) -> bool {
        if self.last.as_ref().is_none_or(|(id, _)| id != webhook_id) {
            let applying = (0..self.routes.len())
                .filter(|&i| {
                    let pattern = &self.routes[i].webhook;
                    glob(pattern, webhook_id) || glob(pattern, webhook_target)
                })
                .collect();
            self.last = Some((webhook_id.to_owned(), applying));
        }
        let Some((_, applying)) = &self.last else {
            unreachable!("set just above")
        };
        if applying.is_empty() {
            return self.otherwise == Otherwise::Keep;
        }
        applying.iter().any(|&i| {
            self.routes[i]
                .channels
                .iter()
                .any(|pattern| glob(pattern, channel))
        })
    }
}

/// Glob match: `*` any run of bytes, `?` exactly one, anything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more byte and retry from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}
