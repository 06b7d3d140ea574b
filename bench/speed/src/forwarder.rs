//! The baseline a user could run instead of the gateway: verify the HMAC, sign the same bytes
//! again, forward them over a pooled keep-alive client and answer with the upstream's status.
//! One outbound request per inbound one: no routing, no storage, no retries.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};

use crate::sign::{KEY_HEADER, SIGNATURE_HEADER, sign, verify};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on, e.g. 127.0.0.1:7800.
    #[arg(long)]
    pub listen: String,
    /// Where every request goes.
    #[arg(long)]
    pub to: String,
    /// The app secret: inbound requests are checked with it and outbound ones signed with it.
    #[arg(long)]
    pub secret: String,
}

struct Forwarder {
    client: reqwest::Client,
    to: String,
    secret: Vec<u8>,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let forwarder = Arc::new(Forwarder {
        // reqwest keeps idle connections per host without a limit: one per concurrent request.
        client: reqwest::Client::builder().tcp_nodelay(true).build()?,
        to: args.to,
        secret: args.secret.into_bytes(),
    });
    let app = Router::new()
        .fallback(axum::routing::post(forward))
        .with_state(forwarder);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn forward(State(f): State<Arc<Forwarder>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(key), Some(signature)) = (header(KEY_HEADER), header(SIGNATURE_HEADER)) else {
        return StatusCode::UNAUTHORIZED;
    };
    if !verify(&f.secret, &body, signature) {
        return StatusCode::UNAUTHORIZED;
    }
    // Signed again as a real forwarder would (its outbound secret may differ from the inbound).
    let signature = sign(&f.secret, &body);
    let sent = f
        .client
        .post(&f.to)
        .header(header::CONTENT_TYPE, "application/json")
        .header(KEY_HEADER, key)
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            // Read the body to the end so the connection goes back to the pool.
            let _ = response.bytes().await;
            status
        }
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}
