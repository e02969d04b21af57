//! Reading documents back with serde, over a parsed JSON value that remembers where it is.
//!
//! serde_json's own errors for a wrong value say what was found and what was expected but
//! not in which field, and a document has a dozen `value`s and `type`s. This deserializer
//! records the path (`items[3].body.regionId`) as an error travels up, so a missing,
//! unknown or mistyped field is reported by name.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
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

    fn within_index(mut self, index: usize) -> Self {
        self.path.insert(0, Step::Index(index));
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

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }

    // The two errors serde raises about a field by name: put the name in the path, where
    // the parents' keys join it.
    fn missing_field(field: &'static str) -> Self {
        Self::at(field, "missing field")
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let known: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
        Self::at(
            field,
            format!("unknown field, expected one of {}", known.join(", ")),
        )
    }
}

/// Reads `T` from `value`.
///
/// # Errors
///
/// When `value` does not have the shape of `T`; the error names the field.
pub fn from_value<'de, T: Deserialize<'de>>(value: &'de Value) -> Result<T, ReadError> {
    T::deserialize(Node(value))
}

/// A JSON value as a serde deserializer whose errors carry their path.
struct Node<'de>(&'de Value);

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match n.as_f64() {
            Some(f) => de::Unexpected::Float(f),
            None => de::Unexpected::Other("number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

impl<'de> de::Deserializer<'de> for Node<'de> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    visitor.visit_f64(f)
                } else {
                    Err(de::Error::custom(format!("number {n} out of range")))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => {
                let mut items = Items(a.iter().enumerate());
                let out = visitor.visit_seq(&mut items)?;
                // A fixed-length array (the selector pairs) must not carry extra items.
                match items.0.len() {
                    0 => Ok(out),
                    _ => Err(de::Error::invalid_length(a.len(), &"fewer items")),
                }
            }
            Value::Object(m) => visitor.visit_map(Fields {
                iter: m.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::String(s) => {
                visitor.visit_enum(IntoDeserializer::<ReadError>::into_deserializer(s.as_str()))
            }
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Items<'de>(std::iter::Enumerate<std::slice::Iter<'de, Value>>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        match self.0.next() {
            Some((i, v)) => seed
                .deserialize(Node(v))
                .map(Some)
                .map_err(|e| e.within_index(i)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<'de> {
    iter: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.pending = Some((k.as_str(), v));
                seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        let (k, v) = self
            .pending
            .take()
            .ok_or_else(|| ReadError::new("a value was asked for before its key"))?;
        seed.deserialize(Node(v)).map_err(|e| e.within_key(k))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
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
}
