//! `${NAME}` and `${NAME:-default}` substitution inside the configuration's
//! string values, done after TOML parsing so that a value can never break the
//! file's syntax.

use super::ConfigError;

/// Replaces every `${...}` in the strings of `value`; `path` names the key in errors.
pub fn substitute(
    value: &mut toml::Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => {
            *s = expand(s, lookup).map_err(|message| ConfigError::at(path, message))?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                substitute(item, &child, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            // The value is not shown: the key may hold a secret.
            .ok_or_else(|| "unterminated ${...}".to_owned())?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err("bad variable name in ${...} (letters, digits and _ only)".to_owned());
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "USER_X").then(|| "alice".to_owned())
    }

    #[test]
    fn expands_set_unset_and_defaults() {
        assert_eq!(expand("a-${USER_X}-b", &env).unwrap(), "a-alice-b");
        assert_eq!(expand("${NOPE:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("${NOPE:-}", &env).unwrap(), "");
        assert_eq!(expand("${USER_X:-x}", &env).unwrap(), "alice");
        assert!(
            expand("${NOPE}", &env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(expand("${OPEN", &env).is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let mut value: toml::Value =
            toml::from_str("[[connection]]\npassword = \"${NOPE}\"").unwrap();
        match substitute(&mut value, "", &env) {
            Err(ConfigError::Key { path, .. }) => assert_eq!(path, "connection[0].password"),
            other => panic!("expected a key error, got {other:?}"),
        }
    }
}
