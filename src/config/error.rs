//! How a configuration is refused: the key's path and what is wrong with
//! it, or the file that cannot be read; a TOML syntax error at its line and
//! column.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Key { path: String, message: String },
}

impl ConfigError {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(super) fn from_serde(
        prefix: &str,
        err: serde_path_to_error::Error<toml::de::Error>,
    ) -> Self {
        let inner = err.path().to_string();
        let path = match (prefix.is_empty(), inner.as_str()) {
            (_, "" | ".") => prefix.to_owned(),
            (true, inner) => inner.to_owned(),
            (false, inner) => format!("{prefix}.{inner}"),
        };
        let message = err.inner().message().to_owned();
        ConfigError::at(
            if path.is_empty() {
                "(top level)".to_owned()
            } else {
                path
            },
            message,
        )
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[start..].chars().count() + 1;
    (line, column)
}
