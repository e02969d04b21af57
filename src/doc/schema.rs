//! The JSON Schema of the documents, generated from the types in [`super::model`]. The
//! shipped copy is `schemas/mmprompt.schema.json` ([`super::terms::SCHEMA`]); a test keeps it
//! equal to what [`generate_schema`] returns.

use super::model::{AudioPage, ImagePage, LiveAnnotation};
use schemars::generate::SchemaSettings;
use serde_json::json;

/// Where the schema is published.
const SCHEMA_ID: &str = "https://w3id.org/mmprompt/schema/v1.json";

/// The schema (draft 2020-12) as the shipped file holds it: pretty JSON and a final
/// newline. Its root is a page written by `extract` (image or audio); a line of `live`
/// output is `#/$defs/liveAnnotation`.
pub fn generate_schema() -> String {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let image = generator.subschema_for::<ImagePage>();
    let audio = generator.subschema_for::<AudioPage>();
    // Not reachable from the root: registered for validating live lines by reference.
    generator.subschema_for::<LiveAnnotation>();
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "mmprompt document",
        "description": "One W3C Web Annotation AnnotationPage per media file; each Annotation \
            anchors one image region (xywh= and SVG polygon) or one audio segment \
            (t=start,end) to its source.",
        "oneOf": [image, audio],
        "$defs": generator.take_definitions(true),
    });
    // Serialising a Value holding only JSON cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when `schemas/mmprompt.schema.json` is not what the types generate. After a
    /// change to the document types, regenerate it with
    /// `MMPROMPT_BLESS=1 cargo test --lib doc::schema` and review the diff.
    #[test]
    fn shipped_schema_is_generated_from_the_types() {
        let generated = generate_schema();
        if std::env::var_os("MMPROMPT_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/mmprompt.schema.json");
            std::fs::write(path, &generated).expect("write the schema");
            return;
        }
        assert!(
            super::super::terms::SCHEMA == generated,
            "schemas/mmprompt.schema.json is stale: regenerate it with \
             `MMPROMPT_BLESS=1 cargo test --lib doc::schema` and review the diff"
        );
    }
}
