//! Meta's Graph API, which both WhatsApp Cloud API and Instagram Messaging send through: one
//! authenticated JSON POST, and the reading of Graph errors into "try again later" or "will not
//! go", so both channels treat a rate limit or an expired token alike.

use std::time::Duration;

use serde_json::Value;

use crate::outbound::{SendError, request_error};

/// Where Meta serves the Graph API; `RAPPORT_GRAPH_BASE_URL` points tests elsewhere.
pub const GRAPH_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version requests are made against.
pub const GRAPH_VERSION: &str = "v21.0";

/// An authenticated client of one Graph API root.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    version: String,
    access_token: String,
}

/// A Graph API error, as its `{"error": {…}}` body and status say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub message: String,
    /// `error_data.details`, Meta's longer explanation (WhatsApp).
    pub details: Option<String>,
    pub retry_after: Option<Duration>,
}

impl GraphError {
    fn from_response(status: u16, body: &str, retry_after: Option<Duration>) -> Self {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let e = &v["error"];
        let message = e["message"]
            .as_str()
            .or_else(|| e["error_user_msg"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let body = body.trim();
                if body.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!(
                        "HTTP {status}: {}",
                        body.chars().take(200).collect::<String>()
                    )
                }
            });
        GraphError {
            status,
            code: e["code"].as_i64(),
            subcode: e["error_subcode"].as_i64(),
            message,
            details: e["error_data"]["details"]
                .as_str()
                .map(str::to_owned)
                .filter(|d| !d.is_empty()),
            retry_after,
        }
    }

    /// Meta refused a free-form message because the customer has not written within the last
    /// 24 hours (WhatsApp 131047; Instagram 10/2018278 and 551).
    pub fn is_outside_window(&self) -> bool {
        matches!(self.code, Some(131047) | Some(551))
            || (self.code == Some(10) && self.subcode == Some(2018278))
    }

    /// Rate limits, throttling and Meta's own outages pass; everything else is about the
    /// request (a recipient, a token, a parameter) and will fail the same way again.
    pub fn is_transient(&self) -> bool {
        const RATE_LIMITS: &[i64] = &[4, 17, 32, 613, 80007, 130429, 131048, 131056];
        const OUTAGES: &[i64] = &[1, 2, 131000, 131016, 133004];
        self.status == 429
            || self.status >= 500
            || self
                .code
                .is_some_and(|c| RATE_LIMITS.contains(&c) || OUTAGES.contains(&c))
    }

    /// "131047: Re-engagement message — More than 24 hours have passed…", for agents.
    pub fn describe(&self) -> String {
        let mut s = match self.code {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        };
        if let Some(d) = &self.details {
            s.push_str(" — ");
            s.push_str(d);
        }
        s
    }

    pub fn into_send_error(self) -> SendError {
        if self.is_transient() {
            SendError::Transient {
                reason: self.describe(),
                retry_after: self.retry_after,
            }
        } else {
            SendError::permanent(self.describe())
        }
    }
}

/// Why a Graph call failed: the network, or Meta's answer.
#[derive(Debug)]
pub enum GraphFailure {
    Network(SendError),
    Api(GraphError),
}

impl GraphFailure {
    pub fn into_send_error(self) -> SendError {
        match self {
            GraphFailure::Network(e) => e,
            GraphFailure::Api(e) => e.into_send_error(),
        }
    }
}

impl GraphClient {
    pub fn new(
        base_url: &str,
        version: &str,
        access_token: &str,
        timeout: Duration,
    ) -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Rapport/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::permanent(format!("HTTP client: {e}")))?;
        Ok(GraphClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            version: version.trim_matches('/').to_owned(),
            access_token: access_token.to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base_url,
            self.version,
            path.trim_start_matches('/')
        )
    }

    /// `POST {base}/{version}/{path}` with the bearer token; the JSON body of a 2xx answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, GraphFailure> {
        let request = self.http.post(self.url(path)).json(body);
        self.call(request).await
    }

    /// `GET {base}/{version}/{path}` with the bearer token; the JSON body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<Value, GraphFailure> {
        let request = self.http.get(self.url(path));
        self.call(request).await
    }

    /// Downloads a file Meta serves to holders of the token (media URLs), refusing more than
    /// `max_bytes`. Returns the bytes and the content type.
    pub async fn download(
        &self,
        url: &str,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, Option<String>), GraphFailure> {
        let mut response = self
            .http
            .get(url)
            .bearer_auth(&self.access_token)
            .send()
            .await
            .map_err(|e| GraphFailure::Network(request_error("media download", &e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(GraphFailure::Api(GraphError::from_response(
                status, &text, None,
            )));
        }
        let too_large = || {
            GraphFailure::Network(SendError::permanent(format!(
                "the file is larger than {max_bytes} bytes"
            )))
        };
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| GraphFailure::Network(request_error("media download", &e)))?
        {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((bytes, content_type))
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphFailure> {
        let response = request
            .bearer_auth(&self.access_token)
            .send()
            .await
            .map_err(|e| GraphFailure::Network(request_error("Graph API", &e)))?;
        let status = response.status().as_u16();
        let retry_after = crate::outbound::retry_after(&response);
        let text = response
            .text()
            .await
            .map_err(|e| GraphFailure::Network(request_error("Graph API", &e)))?;
        if (200..300).contains(&status) {
            // A 2xx body that is not JSON is Meta's problem, not ours: try again.
            serde_json::from_str(&text).map_err(|_| {
                GraphFailure::Network(SendError::transient(format!(
                    "Graph API answered {status} with a body that is not JSON"
                )))
            })
        } else {
            Err(GraphFailure::Api(GraphError::from_response(
                status,
                &text,
                retry_after,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str) -> GraphError {
        GraphError::from_response(status, body, None)
    }

    #[test]
    fn outside_window_is_recognised_on_both_channels() {
        let wa = err(
            400,
            r#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"A"}}"#,
        );
        assert!(wa.is_outside_window());
        assert!(!wa.is_transient());
        assert!(
            wa.describe()
                .starts_with("131047: (#131047) Re-engagement message — Message failed")
        );
        let ig = err(
            400,
            r#"{"error":{"message":"This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278}}"#,
        );
        assert!(ig.is_outside_window());
    }

    #[test]
    fn rate_limits_and_outages_are_transient_and_bad_requests_are_not() {
        assert!(err(429, "").is_transient());
        assert!(err(500, "oops").is_transient());
        assert!(
            err(
                400,
                r#"{"error":{"message":"Spam rate limit hit","code":131048}}"#
            )
            .is_transient()
        );
        assert!(
            !err(
                400,
                r#"{"error":{"message":"Invalid parameter","code":100}}"#
            )
            .is_transient()
        );
        assert!(
            !err(
                401,
                r#"{"error":{"message":"Error validating access token","code":190}}"#
            )
            .is_transient()
        );
        assert_eq!(err(502, "").describe(), "HTTP 502");
    }
}
