//! Delivery by HTTP POST.

use std::time::{Duration, SystemTime};

use reqwest::Url;

use super::{DeliveryError, Payload};

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
        payload: &Payload,
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
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // Keep a short excerpt of the answer: it is often the receiver's reason.
        let body = response.text().await.unwrap_or_default();
        Err(DeliveryError::Status {
            status: status.as_u16(),
            body: body.chars().take(200).collect(),
            retry_after,
        })
    }
}

/// `Retry-After` as seconds or as an HTTP date (a date already past means now).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(30)));
        let past = "Wed, 21 Oct 2015 07:00:00 GMT";
        assert_eq!(parse_retry_after(past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
