//! Keeping secrets out of the configuration file: `${VAR}` references expanded from the
//! environment (`--config.expand-env=true`, as Mimir's `-config.expand-env`). The other
//! way, `*_file` options, and the masking of secrets are `pyrite_config::Secret`'s.

use anyhow::{bail, Context};

/// Replaces `${VAR}` with the environment variable's value (empty when unset),
/// `${VAR:-default}` with the default when it is unset or empty, and `$$` with `$`.
/// Any other `$` is left as it is.
pub fn expand_env(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .with_context(|| format!("unclosed ${{ in the configuration: {:?}", &rest[..rest.len().min(40)]))?;
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("${{{reference}}} in the configuration is not a variable reference");
            }
            let value = env(name).filter(|v| !(v.is_empty() && default.is_some()));
            out.push_str(&value.unwrap_or_else(|| default.unwrap_or_default().to_string()));
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "S3_SECRET" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_expand_from_the_environment() {
        let e = |t| expand_env(t, env).unwrap();
        assert_eq!(e("key: ${S3_SECRET}\n"), "key: s3cr3t\n");
        assert_eq!(e("a${NOPE}b"), "ab");
        assert_eq!(e("${NOPE:-fallback} ${EMPTY:-x} ${S3_SECRET:-x}"), "fallback x s3cr3t");
        assert_eq!(e("regex: a$ and $$HOME"), "regex: a$ and $HOME");
        assert!(expand_env("${UNCLOSED", env).is_err());
        assert!(expand_env("${not a name}", env).is_err());
    }
}
