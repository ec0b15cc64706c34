//! WhatsApp media, fetched when an agent opens it rather than when it arrives: Meta keeps a
//! customer's image or voice note behind the media id, and a download costs the token's quota
//! and our disk only for what someone looks at. Two calls: `GET /{media_id}` for a short-lived
//! URL, then that URL with the same bearer token.

use std::time::Duration;

use serde_json::Value;

use crate::graph::{GraphClient, GraphFailure};
use crate::outbound::SendError;

/// A downloaded media file.
#[derive(Debug, Clone)]
pub struct Media {
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// A document's file name, when the customer's message had one.
    pub filename: Option<String>,
}

/// The media id of a stored WhatsApp message's attachments (`{"type": "image", "image":
/// {"id": …}}`), if it carries media.
pub fn media_id(attachments: &Value) -> Option<&str> {
    let kind = attachments.get("type")?.as_str()?;
    matches!(kind, "image" | "video" | "audio" | "document" | "sticker")
        .then(|| attachments.get(kind)?.get("id")?.as_str())
        .flatten()
}

/// Downloads WhatsApp media with the access token.
pub struct MediaFetcher {
    graph: GraphClient,
    max_bytes: usize,
}

impl MediaFetcher {
    pub fn new(
        graph_base_url: &str,
        graph_version: &str,
        access_token: &str,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, SendError> {
        Ok(MediaFetcher {
            graph: GraphClient::new(graph_base_url, graph_version, access_token, timeout)?,
            max_bytes,
        })
    }

    /// The media of a stored message's attachments. Errors say why, for the agent.
    pub async fn fetch(&self, attachments: &Value) -> Result<Media, SendError> {
        let id = media_id(attachments)
            .ok_or_else(|| SendError::permanent("this message has no WhatsApp media"))?;
        let info = self
            .graph
            .get(id)
            .await
            .map_err(GraphFailure::into_send_error)?;
        let url = info["url"]
            .as_str()
            .ok_or_else(|| SendError::transient("the Graph API gave no URL for the media"))?;
        if info["file_size"]
            .as_u64()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(SendError::permanent(format!(
                "the media is larger than {} bytes",
                self.max_bytes
            )));
        }
        let (bytes, served_type) = self
            .graph
            .download(url, self.max_bytes)
            .await
            .map_err(GraphFailure::into_send_error)?;
        let kind = attachments["type"].as_str().unwrap_or_default();
        Ok(Media {
            content_type: info["mime_type"]
                .as_str()
                .map(str::to_owned)
                .or(served_type)
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
            filename: attachments[kind]["filename"].as_str().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_media_messages_have_a_media_id() {
        assert_eq!(
            media_id(
                &json!({"type": "image", "image": {"id": "1479537139650973", "mime_type": "image/jpeg"}})
            ),
            Some("1479537139650973")
        );
        assert_eq!(
            media_id(&json!({"type": "text", "text": {"body": "hi"}})),
            None
        );
        assert_eq!(media_id(&json!([])), None);
    }
}
