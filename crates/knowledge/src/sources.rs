//! What each kind of knowledge source is configured with. The configuration is stored as JSON
//! on the source row; these types are its schema, checked when a source is created so that a
//! mistake is a 400 for the admin rather than a failed job later.

use rapport_core::domain::SourceKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// A source's configuration, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Snippets(SnippetsConfig),
    Web(WebConfig),
    Articles(ArticlesConfig),
    Files(FilesConfig),
    Conversations(ConversationsConfig),
}

/// Snippets live as the source's documents, created and edited one by one; nothing to configure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnippetsConfig {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Where the crawl starts; also defines "same site".
    pub start_url: String,
    /// A `sitemap.xml` (or sitemap index) whose pages seed the crawl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitemap_url: Option<String>,
    #[serde(default = "default_max_depth")]
    pub max_depth: u32,
    #[serde(default = "default_max_pages")]
    pub max_pages: usize,
    /// URL path patterns (`*` wildcard); empty means every page.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Pause between two requests to the site, in milliseconds.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
}

fn default_max_depth() -> u32 {
    3
}
fn default_max_pages() -> usize {
    200
}
fn default_concurrency() -> usize {
    4
}
fn default_delay_ms() -> u64 {
    250
}

/// A help center: a folder of Markdown/HTML files, or a JSON/JSONL export of
/// `{id, title, url, body}` objects, on the server's disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticlesConfig {
    pub path: String,
}

/// Uploaded (or local) files, each a document or, for CSVs, a set of documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    #[serde(default)]
    pub files: Vec<StoredFile>,
    /// How CSV files are read.
    #[serde(default)]
    pub csv_mode: CsvMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredFile {
    /// The name the admin gave it (the upload's file name): the document title and identity.
    pub name: String,
    /// Where its bytes are on the server's disk.
    pub path: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvMode {
    /// `question` and `answer` columns: one snippet per row.
    #[default]
    Qa,
    /// Any columns: each row is a small document of `column: value` lines.
    Rows,
}

/// Past conversations: resolved ones in which a human agent answered become Q&A candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationsConfig {
    /// Mine the conversations resolved in Rapport itself.
    #[serde(default = "yes")]
    pub mine_resolved: bool,
    /// A JSONL export of conversations from another tool (`{id, messages: [{author, text}]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_path: Option<String>,
    /// Index new candidates without review (for curated imports such as the demo's).
    #[serde(default)]
    pub auto_approve: bool,
}

impl Default for ConversationsConfig {
    fn default() -> Self {
        Self {
            mine_resolved: true,
            import_path: None,
            auto_approve: false,
        }
    }
}

fn yes() -> bool {
    true
}

impl SourceConfig {
    /// Reads and checks the configuration of a source of `kind`.
    pub fn parse(kind: SourceKind, config: &Value) -> Result<Self> {
        let config = if config.is_null() {
            &Value::Object(Default::default())
        } else {
            config
        };
        let parsed = match kind {
            SourceKind::Snippets => from_value(config).map(SourceConfig::Snippets),
            SourceKind::Web => from_value(config).map(SourceConfig::Web),
            SourceKind::Articles => from_value(config).map(SourceConfig::Articles),
            SourceKind::Files => from_value(config).map(SourceConfig::Files),
            SourceKind::Conversations => from_value(config).map(SourceConfig::Conversations),
        }?;
        parsed.validate()?;
        Ok(parsed)
    }

    pub fn to_value(&self) -> Value {
        let value = match self {
            SourceConfig::Snippets(c) => serde_json::to_value(c),
            SourceConfig::Web(c) => serde_json::to_value(c),
            SourceConfig::Articles(c) => serde_json::to_value(c),
            SourceConfig::Files(c) => serde_json::to_value(c),
            SourceConfig::Conversations(c) => serde_json::to_value(c),
        };
        value.unwrap_or(Value::Null)
    }

    fn validate(&self) -> Result<()> {
        match self {
            SourceConfig::Web(web) => {
                for url in std::iter::once(&web.start_url).chain(web.sitemap_url.iter()) {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(Error::InvalidConfig(format!(
                            "{url:?} is not an http(s) URL"
                        )));
                    }
                }
                if web.max_pages == 0 || web.concurrency == 0 {
                    return Err(Error::InvalidConfig(
                        "max_pages and concurrency must be at least 1".into(),
                    ));
                }
                Ok(())
            }
            SourceConfig::Articles(a) if a.path.trim().is_empty() => Err(Error::InvalidConfig(
                "path must name a folder or a file".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn from_value<T: serde::de::DeserializeOwned>(config: &Value) -> Result<T> {
    serde_json::from_value(config.clone()).map_err(|e| Error::InvalidConfig(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn web_defaults_are_filled_and_bad_urls_refused() {
        let SourceConfig::Web(web) = SourceConfig::parse(
            SourceKind::Web,
            &json!({"start_url": "https://help.example/"}),
        )
        .expect("valid") else {
            panic!("web config")
        };
        assert_eq!((web.max_depth, web.max_pages), (3, 200));
        let err = SourceConfig::parse(SourceKind::Web, &json!({"start_url": "file:///etc"}))
            .expect_err("not http");
        assert!(err.to_string().contains("not an http(s) URL"), "{err}");
        assert!(SourceConfig::parse(SourceKind::Web, &json!({"start": "x"})).is_err());
    }

    #[test]
    fn snippets_need_no_configuration() {
        assert_eq!(
            SourceConfig::parse(SourceKind::Snippets, &Value::Null).expect("empty"),
            SourceConfig::Snippets(SnippetsConfig {})
        );
    }
}
