//! Which server paths a source created over the API may read. An articles source or a
//! conversation import names a path on the server's disk; without a fence an admin of any
//! workspace could read the server's files (other workspaces' uploads, `/etc`, `/proc`) back as
//! documents, or probe which files exist. The fence is one folder per deployment, chosen by the
//! operator, never by a request; the CLI (`rapport ingest`) is the operator and is not fenced.

use std::path::{Component, Path, PathBuf};

use crate::sources::SourceConfig;
use crate::{Error, Result};

/// The deployment's knowledge folder, and the folders inside it that stay out of reach.
#[derive(Debug, Clone)]
pub struct ServerFolder {
    root: Option<PathBuf>,
    /// Rapport's own files (uploads of every workspace) even if the root contains them.
    forbidden: Vec<PathBuf>,
}

impl ServerFolder {
    pub fn new(root: Option<PathBuf>, forbidden: Vec<PathBuf>) -> Self {
        Self { root, forbidden }
    }

    /// The configuration with every server path checked and replaced by the real file it names
    /// (relative paths are taken inside the folder). Files sources may not name paths at all:
    /// their files arrive by upload.
    pub fn confine(&self, config: SourceConfig) -> Result<SourceConfig> {
        match config {
            SourceConfig::Files(f) if !f.files.is_empty() => Err(Error::InvalidConfig(
                "files are added by uploading them (POST /api/v1/knowledge/sources/{id}/files), not by naming server paths".into(),
            )),
            SourceConfig::Articles(mut a) => {
                a.path = self.resolve(&a.path)?.display().to_string();
                Ok(SourceConfig::Articles(a))
            }
            SourceConfig::Conversations(mut c) => {
                if let Some(path) = &c.import_path {
                    c.import_path = Some(self.resolve(path)?.display().to_string());
                }
                Ok(SourceConfig::Conversations(c))
            }
            other => Ok(other),
        }
    }

    /// The canonical path `requested` names, if it lies inside the folder. A path outside is
    /// refused whether or not it exists, so the answer says nothing about the server's files.
    fn resolve(&self, requested: &str) -> Result<PathBuf> {
        let Some(root) = &self.root else {
            return Err(Error::InvalidConfig(
                "this server reads no folders for sources made over the API; the operator sets \
                 knowledge.server_folder (RAPPORT_KNOWLEDGE_DIR), or imports with `rapport ingest`"
                    .into(),
            ));
        };
        let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
        let outside = || {
            Error::InvalidConfig(format!(
                "{requested} is outside the server's knowledge folder {}",
                root.display()
            ))
        };
        let path = Path::new(requested.trim());
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(outside());
        }
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            root.join(path)
        };
        if !joined.starts_with(&root) {
            return Err(outside());
        }
        // Inside the folder by name; a link inside may still point out of it.
        let real = joined.canonicalize().map_err(|_| {
            Error::InvalidConfig(format!(
                "{requested} does not exist in the server's knowledge folder {}",
                root.display()
            ))
        })?;
        let forbidden = self
            .forbidden
            .iter()
            .filter_map(|f| f.canonicalize().ok())
            .any(|f| real.starts_with(&f));
        if !real.starts_with(&root) || forbidden {
            return Err(outside());
        }
        Ok(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{ArticlesConfig, FilesConfig, StoredFile};

    fn articles(path: &str) -> SourceConfig {
        SourceConfig::Articles(ArticlesConfig { path: path.into() })
    }

    fn refused(folder: &ServerFolder, path: &str) -> String {
        match folder.confine(articles(path)) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{path} was let through as {c:?}"),
        }
    }

    #[test]
    fn paths_outside_the_folder_are_refused_alike_whether_they_exist_or_not() {
        let root = tempfile::tempdir().unwrap();
        let uploads = root.path().join("uploads");
        std::fs::create_dir_all(uploads.join("7")).unwrap();
        std::fs::create_dir(root.path().join("help")).unwrap();
        let folder = ServerFolder::new(Some(root.path().into()), vec![uploads.clone()]);

        let shadow = refused(&folder, "/etc/shadow");
        let nothing = refused(&folder, "/etc/no-such-file-here");
        assert!(shadow.contains("outside"), "{shadow}");
        assert_eq!(
            shadow.replace("/etc/shadow", "X"),
            nothing.replace("/etc/no-such-file-here", "X")
        );
        assert!(refused(&folder, "/proc/self/cwd").contains("outside"));
        assert!(refused(&folder, "help/../../etc").contains("outside"));
        assert!(refused(&folder, &uploads.join("7").display().to_string()).contains("outside"));
        assert!(refused(&folder, "missing").contains("does not exist"));

        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc", root.path().join("help/etc")).unwrap();
            assert!(refused(&folder, "help/etc").contains("outside"));
        }

        let SourceConfig::Articles(a) = folder.confine(articles("help")).unwrap() else {
            unreachable!()
        };
        assert_eq!(
            PathBuf::from(a.path),
            root.path().join("help").canonicalize().unwrap()
        );
    }

    #[test]
    fn without_a_folder_no_server_path_is_read_and_files_come_only_by_upload() {
        let folder = ServerFolder::new(None, vec![]);
        assert!(refused(&folder, "/srv/help").contains("RAPPORT_KNOWLEDGE_DIR"));
        let named = SourceConfig::Files(FilesConfig {
            files: vec![StoredFile {
                name: "passwd".into(),
                path: "/etc/passwd".into(),
            }],
            ..FilesConfig::default()
        });
        assert!(folder.confine(named).is_err());
        assert!(
            folder
                .confine(SourceConfig::Files(FilesConfig::default()))
                .is_ok()
        );
    }
}
