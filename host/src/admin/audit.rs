//! The record of admin actions (pause, resume, replay, purge, reload, console sign-in): each is
//! logged (target `switchyard::audit`) and the newest [`KEPT`] are kept in memory for
//! `GET /audit` and the console.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};

use super::Admin;
use super::auth::Caller;
use crate::clock::now_ms;

/// Actions kept.
const KEPT: usize = 200;

/// One admin action.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub at_ms: u64,
    pub action: &'static str,
    /// What it was done to: `app/webhook`, or empty.
    pub target: String,
    pub detail: String,
    /// "console" or "api".
    pub by: &'static str,
}

/// The newest admin actions, oldest first.
#[derive(Debug, Default)]
pub struct Audit(Mutex<VecDeque<Action>>);

impl Audit {
    pub fn record(&self, caller: Caller, action: &'static str, target: &str, detail: &str) {
        tracing::info!(
            target: "switchyard::audit",
            action,
            on = target,
            detail,
            by = caller.name(),
            "admin action"
        );
        let mut actions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if actions.len() == KEPT {
            actions.pop_front();
        }
        actions.push_back(Action {
            at_ms: now_ms(),
            action,
            target: target.to_owned(),
            detail: detail.to_owned(),
            by: caller.name(),
        });
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<Action> {
        let actions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        actions.iter().rev().cloned().collect()
    }
}

/// `GET /audit`.
pub async fn list(State(admin): State<Arc<Admin>>) -> Json<Value> {
    Json(json!({ "actions": admin.audit.recent() }))
}
