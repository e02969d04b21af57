//! Reading documents back with serde, with errors that say which field is wrong.
//!
//! serde_json's own errors for a wrong value say what was found and what was expected but
//! not in which field, and a document has a dozen `value`s and `type`s. `serde_path_to_error`
//! tracks the path (`items[3].body`) as serde descends; a missing or unknown field's own
//! name, which serde reports only in the message, is moved onto the end of that path so a
//! caller can say `items[3].body.regionId`: missing field.

use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// Why a JSON value is not the document node it should be, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    path: Vec<Step>,
    message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl ReadError {
    /// An error about the node being read itself.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// An error about the field `key` of the node being read.
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        Self::new(message).within_key(key)
    }

    /// The same error seen from the parent of the node, where the node is `key`.
    pub fn within_key(mut self, key: &str) -> Self {
        self.path.insert(0, Step::Key(key.to_owned()));
        self
    }

    /// Where the error is, as `about.contentUrl` or `items[2].body.regionId`; empty when
    /// it is about the whole value.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    /// What is wrong there.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        use serde_path_to_error::Segment;
        let mut path: Vec<Step> = e
            .path()
            .iter()
            .map(|segment| match segment {
                Segment::Seq { index } => Step::Index(*index),
                Segment::Map { key } | Segment::Enum { variant: key } => Step::Key(key.clone()),
                Segment::Unknown => Step::Key("?".to_owned()),
            })
            .collect();
        let inner = e.into_inner().to_string();
        // serde names the field only in these two messages: "missing field `x`" and
        // "unknown field `x`, expected …".
        // A missing field was never read, so the path stops at its parent; an unknown one
        // was read as a key, so the path may already end with it.
        let message = if let Some((field, _)) = field_named(&inner, "missing field `") {
            path.push(Step::Key(field.to_owned()));
            "missing field".to_owned()
        } else if let Some((field, rest)) = field_named(&inner, "unknown field `") {
            let key = Step::Key(field.to_owned());
            if path.last() != Some(&key) {
                path.push(key);
            }
            format!("unknown field{rest}")
        } else {
            inner
        };
        Self { path, message }
    }
}

/// `(name, rest)` when `message` is `prefix` + name + "`" + rest.
fn field_named<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    message.strip_prefix(prefix)?.split_once('`')
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path(), self.message)
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads `T` from `value`.
///
/// # Errors
///
/// When `value` does not have the shape of `T`; the error names the field.
pub fn from_value<'de, T: Deserialize<'de>>(value: &'de Value) -> Result<T, ReadError> {
    serde_path_to_error::deserialize(value).map_err(ReadError::from_serde)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        content_url: String,
        width: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Vec<Inner>,
        pair: (u8, u8),
    }

    fn err(v: Value) -> ReadError {
        from_value::<Outer>(&v).expect_err("should not read")
    }

    #[test]
    fn errors_name_the_field_by_its_path() {
        let ok = json!({"items": [{"contentUrl": "a", "width": 1}], "pair": [1, 2]});
        let read = from_value::<Outer>(&ok).expect("reads");
        assert_eq!(read.items[0].content_url, "a");
        assert_eq!(read.items[0].width, 1);
        assert_eq!(read.pair, (1, 2));
        let e =
            err(json!({"items": [{"contentUrl": "a", "width": 1}, {"width": 2}], "pair": [1, 2]}));
        assert_eq!(e.path(), "items[1].contentUrl");
        assert_eq!(e.message(), "missing field");
        let e = err(json!({"items": [{"contentUrl": "a", "width": "2"}], "pair": [1, 2]}));
        assert_eq!(e.path(), "items[0].width");
        assert!(e.message().contains("invalid type"), "{e}");
        let e = err(json!({"items": [{"contentURL": "a", "width": 2}], "pair": [1, 2]}));
        assert_eq!(e.path(), "items[0].contentURL");
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = err(json!({"items": [], "pair": [1, 2, 3]}));
        assert_eq!(e.path(), "pair");
    }

    #[test]
    fn a_missing_field_named_like_its_parent_keeps_both_in_the_path() {
        #[derive(Debug, Deserialize)]
        struct Leaf {
            #[allow(dead_code)]
            x: u8,
        }
        #[derive(Debug, Deserialize)]
        struct Root {
            #[allow(dead_code)]
            x: Leaf,
        }
        let e = from_value::<Root>(&json!({"x": {}})).expect_err("x.x is missing");
        assert_eq!(e.path(), "x.x");
        assert_eq!(e.to_string(), "`x.x`: missing field");
    }
}
