//! One Lambda client per distinct (region, endpoint, credentials), built on first use and
//! reused for every later invocation: a client owns a connection pool and a credentials cache,
//! so building one per event would redo TLS handshakes and credential lookups each time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::config::{Credentials, Region};
use reqwest::Url;
use tokio::sync::OnceCell;

use crate::config::{LambdaTarget, StaticCredentials};

/// Used when neither the config nor the environment names a region.
pub const FALLBACK_REGION: &str = "us-east-1";

/// What makes two targets share a client. The function and `async` are per call, not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    region: Option<String>,
    endpoint: Option<Url>,
    credentials: Option<StaticCredentials>,
}

impl ClientKey {
    fn of(target: &LambdaTarget) -> Self {
        Self {
            region: target.region.clone(),
            endpoint: target.endpoint.clone(),
            credentials: target.credentials.clone(),
        }
    }
}

/// A built client and the region it resolved to (for error messages).
#[derive(Debug, Clone)]
pub struct LambdaClient {
    /// Cheap to clone: clones share the connection pool and credentials cache.
    pub client: aws_sdk_lambda::Client,
    /// The region the client resolved to.
    pub region: String,
}

/// The clients built so far.
pub struct ClientCache {
    timeout: Duration,
    // A std Mutex: it guards only a map lookup and is never held across an await. Each entry
    // is a OnceCell so concurrent first uses of one key build one client, not several.
    clients: Mutex<HashMap<ClientKey, Arc<OnceCell<LambdaClient>>>>,
}

impl std::fmt::Debug for ClientCache {
    // Keys hold credentials: show only how many clients there are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.clients.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("ClientCache")
            .field("timeout", &self.timeout)
            .field("clients", &count)
            .finish()
    }
}

impl ClientCache {
    /// An empty cache whose clients give each invocation `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            clients: Mutex::default(),
        }
    }

    /// The per-invocation timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many distinct clients have been built (or are being built).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The client for `target`, building it on first use.
    pub async fn client(&self, target: &LambdaTarget) -> LambdaClient {
        let cell = {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            clients.entry(ClientKey::of(target)).or_default().clone()
        };
        cell.get_or_init(|| build(target, self.timeout))
            .await
            .clone()
    }
}

/// Builds a client. Region: the configured one, else the default chain's (`AWS_REGION`,
/// profile, ...), else [`FALLBACK_REGION`]. Credentials: the configured ones exactly, else the
/// default chain (environment, profiles, web identity, ECS and EC2 roles), resolved lazily on
/// the first call and refreshed by the SDK.
async fn build(target: &LambdaTarget, timeout: Duration) -> LambdaClient {
    let region = RegionProviderChain::first_try(target.region.clone().map(Region::new))
        .or_default_provider()
        .or_else(Region::from_static(FALLBACK_REGION));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build())
        // The gateway owns retries (one budget, one backoff, then the dead-letter store); SDK
        // retries inside it would multiply attempts and eat the invocation timeout.
        .retry_config(RetryConfig::disabled());
    if let Some(endpoint) = &target.endpoint {
        loader = loader.endpoint_url(endpoint.as_str().trim_end_matches('/'));
    }
    if let Some(creds) = &target.credentials {
        loader = loader.credentials_provider(static_credentials(creds));
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map_or(FALLBACK_REGION, |r| r.as_ref())
        .to_owned();
    tracing::info!(
        %region,
        endpoint = target.endpoint.as_ref().map(without_userinfo).as_deref(),
        credentials = if target.credentials.is_some() { "config" } else { "default chain" },
        "built a Lambda client"
    );
    LambdaClient {
        client: aws_sdk_lambda::Client::new(&config),
        region,
    }
}

/// An endpoint for logs: a password in the URL never shows.
fn without_userinfo(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

fn static_credentials(creds: &StaticCredentials) -> Credentials {
    Credentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "switchyard-config",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn target(function: &str, region: Option<&str>, key: Option<&str>) -> LambdaTarget {
        LambdaTarget {
            function: function.into(),
            asynchronous: false,
            region: region.map(Into::into),
            endpoint: Some(Url::parse("http://127.0.0.1:9").unwrap()),
            credentials: key.map(|k| StaticCredentials {
                access_key_id: k.into(),
                secret_access_key: Secret::new("very-secret"),
                session_token: None,
            }),
        }
    }

    #[tokio::test]
    async fn one_client_per_region_endpoint_and_credentials_whatever_the_function() {
        let cache = ClientCache::new(Duration::from_secs(1));
        let a = cache
            .client(&target("f1", Some("eu-central-1"), Some("AKIA1")))
            .await;
        cache
            .client(&target("f2", Some("eu-central-1"), Some("AKIA1")))
            .await;
        assert_eq!(cache.len(), 1, "same key, other function: reused");
        assert_eq!(a.region, "eu-central-1");
        cache
            .client(&target("f1", Some("eu-west-1"), Some("AKIA1")))
            .await;
        cache
            .client(&target("f1", Some("eu-central-1"), Some("AKIA2")))
            .await;
        assert_eq!(cache.len(), 3);
        let debug = format!("{cache:?}");
        assert!(
            !debug.contains("very-secret") && !debug.contains("AKIA"),
            "{debug}"
        );
    }

    #[test]
    fn endpoints_are_logged_without_their_password() {
        let url = Url::parse("https://user:hunter2@vpce.example:8443/path").unwrap();
        assert_eq!(without_userinfo(&url), "https://vpce.example:8443/path");
    }
}
