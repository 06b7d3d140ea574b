//! Delivery by HTTP POST.

use std::time::Duration;

use reqwest::Url;

use super::{DeliveryError, SignedPayload};

/// Posts payloads over one shared connection pool.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
}

impl HttpSender {
    /// A sender whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(Self { client })
    }

    /// POSTs `payload` with `headers`; any 2xx is success.
    pub async fn send(
        &self,
        url: &Url,
        headers: &[(String, String)],
        payload: &SignedPayload,
    ) -> Result<u16, DeliveryError> {
        let mut request = self.client.post(url.clone()).body(payload.body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(DeliveryError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        // Keep a short excerpt of the answer: it is often the receiver's reason.
        let body = response.text().await.unwrap_or_default();
        Err(DeliveryError::Status {
            status: status.as_u16(),
            body: body.chars().take(200).collect(),
        })
    }
}
