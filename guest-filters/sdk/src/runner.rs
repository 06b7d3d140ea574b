//! A filter set up from its params: what the gateway runs, and what tests can run natively.

use serde::de::DeserializeOwned;

use crate::{Context, Event, Verdict};

/// A filter's decide function with its state captured.
type Decide = Box<dyn FnMut(&Context, &Event) -> Verdict>;

/// One filter instance: its state after `init`, and its decide function.
pub struct Runner {
    decide: Decide,
}

impl Runner {
    /// Parses `params` (JSON text, `null` when the config gives none) into `P`, runs `init`,
    /// and keeps the state it returns for `decide`, as the gateway does once per instance.
    pub fn start<P, S, I, D>(params: &str, init: I, mut decide: D) -> Result<Self, String>
    where
        P: DeserializeOwned,
        S: 'static,
        I: FnOnce(P) -> Result<S, String>,
        D: FnMut(&mut S, &Context, &Event) -> Verdict + 'static,
    {
        let params = serde_json::from_str(params).map_err(|e| format!("invalid params: {e}"))?;
        let mut state = init(params)?;
        Ok(Self {
            decide: Box::new(move |ctx, event| decide(&mut state, ctx, event)),
        })
    }

    /// Decides one event.
    pub fn decide(&mut self, ctx: &Context, event: &Event) -> Verdict {
        (self.decide)(ctx, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Params {
        channel: String,
    }

    fn init(params: Params) -> Result<Params, String> {
        if params.channel.is_empty() {
            return Err("`channel` must not be empty".into());
        }
        Ok(params)
    }

    fn decide(params: &mut Params, _: &Context, event: &Event) -> Verdict {
        Verdict::keep_if(event.channel() == params.channel)
    }

    #[test]
    fn runs_init_then_decide_with_the_state() {
        let mut runner = Runner::start(r#"{"channel":"a"}"#, init, decide).unwrap();
        let ctx = Context::default();
        assert_eq!(runner.decide(&ctx, &Event::new("e", "a")), Verdict::Keep);
        assert_eq!(runner.decide(&ctx, &Event::new("e", "b")), Verdict::Drop);
    }

    #[test]
    fn reports_bad_params_and_init_errors() {
        let bad = Runner::start("null", init, decide).err().unwrap();
        assert!(bad.starts_with("invalid params:"), "{bad}");
        let refused = Runner::start(r#"{"channel":""}"#, init, decide)
            .err()
            .unwrap();
        assert_eq!(refused, "`channel` must not be empty");
    }
}
