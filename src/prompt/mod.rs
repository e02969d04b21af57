//! Prompt assembly: inputs (media extracted on the fly, or `.jsonld` documents written
//! earlier) become fragments; the most salient fragments that fit the token budget are
//! rendered into the instruction template; media are attached as each provider allows; and
//! the answer's fragment citations are resolved back to their anchors.

pub mod attach;
pub mod budget;
pub mod types;

use crate::doc::{self, Document, Score};
use crate::jobs::extract::{extract_file, ExtractOptions};
use crate::llm::Prompt;
use crate::media::{sniff_file, MediaKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub use budget::TokenEncoding;
pub use types::{AttachMode, Input, PromptError};

/// Largest `.jsonld` input read.
const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

fn looks_like_json(path: &Path) -> Result<bool, std::io::Error> {
    use std::io::Read;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "jsonld" || ext == "json" {
        return Ok(true);
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    Ok(head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{'))
}

/// Reads an input: a media file is extracted with `options`; a `.jsonld` (or any JSON)
/// file is read as a document written earlier.
///
/// # Errors
/// [`PromptError::Read`] when the file cannot be read, [`PromptError::NotADocument`] naming
/// the first wrong field of a JSON file that is no mmprompt document, or
/// [`PromptError::Extract`] when a media file fails to extract.
pub fn load_input(path: &Path, options: &ExtractOptions) -> Result<Input, PromptError> {
    let read_err = |e: std::io::Error| PromptError::Read {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    if looks_like_json(path).map_err(read_err)? {
        return load_document(path);
    }
    let kind = sniff_file(path).map_err(read_err)?;
    let content_url = path.to_string_lossy().into_owned();
    let out = extract_file(path, &content_url, options)?;
    if let Some(e) = out.partial_error {
        return Err(PromptError::Read {
            path: path.to_path_buf(),
            detail: format!("damaged part-way: {e}"),
        });
    }
    // Read back like a `.jsonld` input, so both kinds of input go through the same types.
    let document = Document::from_value(&out.document).map_err(|e| PromptError::NotADocument {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(Input {
        path: path.to_path_buf(),
        kind,
        document,
        media_path: Some(path.to_path_buf()),
        from_jsonld: false,
    })
}

/// The inputs a `prompt` or `send` command line names, with folders walked the way
/// `extract` walks them (sorted, hidden entries and links left out). A file named on the
/// command line is taken as it is. In a walked folder, images, audio and `.jsonld`
/// documents are inputs and other files are left out; a media file whose document
/// (`NAME.jsonld`, as `extract --out` writes it) lies beside it is read from the document,
/// and the overlays `extract --overlay` writes beside documents are left out, so a folder
/// of `extract` outputs gives each input once.
///
/// # Errors
/// [`PromptError::Read`] naming the path when an argument cannot be read, or a folder
/// holds no input.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PromptError> {
    use crate::jobs::fsio::{expand, Walk};
    use std::collections::HashSet;
    let found = expand(paths, &Walk::default());
    if let Some(e) = found.errors.into_iter().next() {
        return Err(PromptError::Read {
            path: e.path,
            detail: e.kind.to_string(),
        });
    }
    let all: HashSet<&Path> = found.inputs.iter().map(|i| i.path.as_path()).collect();
    let beside = |path: &Path, suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        all.contains(Path::new(&name))
    };
    let mut out = Vec::with_capacity(found.inputs.len());
    for input in &found.inputs {
        let path = &input.path;
        if paths.contains(path) {
            // Named twice, or named and inside a named folder: still one input.
            if !out.contains(path) {
                out.push(path.clone());
            }
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if let Some(media) = name.strip_suffix(".overlay.png") {
            if beside(&path.with_file_name(media), ".jsonld") {
                continue;
            }
        }
        let is_doc = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonld"));
        let keep = is_doc
            || match sniff_file(path) {
                Ok(MediaKind::Image | MediaKind::Audio) => !beside(path, ".jsonld"),
                Ok(MediaKind::Unknown) => false,
                // Unreadable: kept, so that reading it reports why.
                Err(_) => true,
            };
        if keep && !out.contains(path) {
            out.push(path.clone());
        }
    }
    for arg in paths {
        let walked = out.iter().any(|p| p.starts_with(arg));
        if !walked && std::fs::metadata(arg).is_ok_and(|m| m.is_dir()) {
            return Err(PromptError::Read {
                path: arg.clone(),
                detail: "the folder holds no image, audio or .jsonld document".into(),
            });
        }
    }
    Ok(out)
}

fn load_document(path: &Path) -> Result<Input, PromptError> {
    let bad = |detail: String| PromptError::NotADocument {
        path: path.to_path_buf(),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| PromptError::Read {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    if meta.len() > MAX_DOCUMENT_BYTES {
        return Err(bad(format!("{} bytes is over the 64 MiB cap", meta.len())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| PromptError::Read {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let document = Document::from_value(&value).map_err(|e| {
        bad(format!(
            "{e} (expected an AnnotationPage written by `mmprompt extract`)"
        ))
    })?;
    let kind = match document {
        Document::Image(_) => MediaKind::Image,
        Document::Audio(_) | Document::LiveWindow(_) => MediaKind::Audio,
    };
    // contentUrl is the path as given to `extract`: try it from here, then from the
    // document's folder.
    let url = document.content_url();
    let media_path = Some(PathBuf::from(url))
        .filter(|p| p.is_file())
        .or_else(|| path.parent().map(|d| d.join(url)).filter(|q| q.is_file()));
    Ok(Input {
        path: path.to_path_buf(),
        kind,
        document,
        media_path,
        from_jsonld: true,
    })
}

/// One annotation, ready to be rendered, ranked and cited.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// Index of its input.
    pub input: usize,
    /// The id the model cites: `r1`/`s2` with one input, `m2.r1` with several.
    pub id: String,
    /// The annotation's own IRI.
    pub annotation_id: String,
    /// Ranking weight: region salience, or segment confidence (silence counts a tenth).
    pub salience: f64,
    /// Position within its document.
    pub order: usize,
    /// Its selectors (the anchors), as in the document.
    pub selectors: Value,
    /// The annotation with the cite id in its body and its source reduced to the IRI.
    pub annotation: Value,
    /// The body's label.
    pub label: String,
    /// The annotation's text line, with the cite id.
    pub line: String,
}

/// Prefix of the cite ids of input `i` when several inputs share a prompt.
pub fn input_key(i: usize) -> String {
    format!("m{}", i + 1)
}

/// Fragments of every input, in document order.
pub fn fragments(inputs: &[Input]) -> Vec<Fragment> {
    let qualify = inputs.len() > 1;
    let mut out = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for (order, item) in input.document.items().into_iter().enumerate() {
            let local = item.local_id();
            let id = if qualify {
                format!("{}.{local}", input_key(i))
            } else {
                local.to_string()
            };
            let salience = match item.score() {
                Score::Salience(s) => s,
                Score::Confidence(c) if item.label().ends_with(":silence") => c * 0.1,
                Score::Confidence(c) => c,
            };
            out.push(Fragment {
                input: i,
                annotation_id: item.id().to_string(),
                salience,
                order,
                selectors: item.selectors_value(),
                annotation: item.cited_value(&id),
                label: item.label().to_string(),
                line: item.text_line(&id),
                id,
            });
        }
    }
    out
}

/// How fragments are shown to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FragmentFormat {
    /// The JSON-LD documents (compact JSON).
    Jsonld,
    /// The compact text lines.
    #[default]
    Text,
}

/// The built-in system instruction: what the anchors mean and how to cite them.
pub const DEFAULT_SYSTEM: &str = "You analyse images and audio through anchored fragments \
extracted from them. An image region has a box `x,y,w,h` in pixels (origin at the top-left \
corner, x to the right, y down; in JSON-LD a FragmentSelector `xywh=x,y,w,h` and an SVG \
polygon) with its shape, colour, size class and position words. An audio segment spans \
`t=start,end` in seconds from the start of the file (end exclusive) with a namespaced label \
(voice:, music:, event:, ambient:) and a confidence in [0,1]. Every fragment has an id \
(`r1`, `s2`; with several inputs `m2.r1`). Base every statement on the fragments and the \
attached media, cite the ids of the fragments that support it, and say so when the \
fragments cannot answer.";

/// The built-in user template.
pub const DEFAULT_TEMPLATE: &str = "Inputs: {{files}}\nAttached media: {{media}}\n\n\
Fragments:\n{{fragments}}\n\nTask: {{task}}";

/// The built-in task.
pub const DEFAULT_TASK: &str =
    "Describe what the media contain and where or when it happens, citing fragment ids.";

/// The built-in answer schema: an answer and claims that cite fragment ids.
pub fn default_answer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "claims": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "fragments": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["text", "fragments"]
                }
            }
        },
        "required": ["answer", "claims"]
    })
}

/// Placeholders a template may use.
pub const PLACEHOLDERS: [&str; 4] = ["{{fragments}}", "{{files}}", "{{media}}", "{{task}}"];

/// Checks a template: it must show the fragments, and use no unknown `{{...}}`.
///
/// # Errors
/// [`PromptError::Invalid`] saying what is wrong with the template.
pub fn check_template(t: &str) -> Result<(), PromptError> {
    if !t.contains("{{fragments}}") {
        return Err(PromptError::Invalid(
            "the template has no {{fragments}} placeholder".into(),
        ));
    }
    let mut rest = t;
    while let Some(at) = rest.find("{{") {
        let tail = &rest[at..];
        let end = tail.find("}}").map_or(tail.len(), |e| e + 2);
        let ph = &tail[..end];
        if !PLACEHOLDERS.contains(&ph) {
            return Err(PromptError::Invalid(format!(
                "unknown placeholder {ph} in the template (known: {})",
                PLACEHOLDERS.join(" ")
            )));
        }
        rest = &tail[end..];
    }
    Ok(())
}

/// Everything that shapes a prompt apart from the endpoint.
#[derive(Debug, Clone)]
pub struct PromptOptions {
    /// System instruction.
    pub system: String,
    /// User template with placeholders.
    pub template: String,
    /// The task filled into `{{task}}`.
    pub task: String,
    /// How fragments are shown.
    pub format: FragmentFormat,
    /// Token budget for the text (system + user).
    pub max_prompt_tokens: Option<usize>,
    /// Which media are attached.
    pub attach: AttachMode,
    /// Limits on attachments.
    pub limits: attach::AttachLimits,
    /// The answer schema, if any.
    pub answer_schema: Option<Value>,
    /// Sampling temperature.
    pub temperature: f64,
    /// Cap on generated tokens.
    pub max_tokens: u32,
    /// Stream the answer.
    pub stream: bool,
}

impl Default for PromptOptions {
    fn default() -> Self {
        Self {
            system: DEFAULT_SYSTEM.into(),
            template: DEFAULT_TEMPLATE.into(),
            task: DEFAULT_TASK.into(),
            format: FragmentFormat::Text,
            max_prompt_tokens: None,
            attach: AttachMode::None,
            limits: attach::AttachLimits::default(),
            answer_schema: Some(default_answer_schema()),
            temperature: 0.0,
            max_tokens: 1024,
            stream: true,
        }
    }
}

/// An assembled prompt and the account of what went into it.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The prompt, ready for a provider.
    pub prompt: Prompt,
    /// Fragments shown to the model, in rendering order.
    pub kept: Vec<Fragment>,
    /// Ids of fragments left out to fit the budget, least salient last.
    pub dropped: Vec<String>,
    /// Tokens of system + user text.
    pub tokens: usize,
    /// The tokenizer used.
    pub encoding: TokenEncoding,
    /// Attachment notes (what was attached, how it was fitted).
    pub attachments: Vec<Value>,
}

fn render_fragments(inputs: &[Input], kept: &[&Fragment], format: FragmentFormat) -> String {
    let mut out = String::new();
    for (i, input) in inputs.iter().enumerate() {
        let mine: Vec<&&Fragment> = kept.iter().filter(|f| f.input == i).collect();
        match format {
            FragmentFormat::Text => {
                if inputs.len() > 1 {
                    out.push_str(&format!("[{}] ", input_key(i)));
                }
                out.push_str(&doc::header_line(&input.document));
                out.push('\n');
                for f in mine {
                    out.push_str(&f.line);
                    out.push('\n');
                }
            }
            FragmentFormat::Jsonld => {
                let items = mine.iter().map(|f| f.annotation.clone()).collect();
                if inputs.len() > 1 {
                    out.push_str(&format!("[{}] ", input_key(i)));
                }
                out.push_str(&input.document.json_with_items(items));
                out.push('\n');
            }
        }
    }
    out.trim_end().to_string()
}

fn fill(template: &str, fragments: &str, files: &str, media: &str, task: &str) -> String {
    // One pass, so text inside the fragments is never taken for a placeholder.
    let mut out = String::with_capacity(template.len() + fragments.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, len) = [
            ("{{fragments}}", fragments),
            ("{{files}}", files),
            ("{{media}}", media),
            ("{{task}}", task),
        ]
        .iter()
        .find(|(ph, _)| tail.starts_with(ph))
        .map_or(("{{", 2), |(ph, v)| (*v, ph.len()));
        out.push_str(value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Assembles the prompt for `inputs`: ranks fragments, keeps the most salient ones that fit
/// the budget, renders the template and attaches media.
///
/// # Errors
/// [`PromptError::Invalid`] for a template [`check_template`] refuses,
/// [`PromptError::OverBudget`] when the budget cannot hold the prompt even with no fragment,
/// or the errors of [`attach::attach_all`].
pub fn assemble(
    inputs: &[Input],
    options: &PromptOptions,
    provider: crate::llm::Provider,
    model: &str,
) -> Result<Assembled, PromptError> {
    check_template(&options.template)?;
    let all = fragments(inputs);
    let encoding = TokenEncoding::for_model(model);
    let counter = budget::Counter::new(encoding);
    let (attachments, notes) =
        attach::attach_all(inputs, options.attach, provider, &options.limits)?;
    let files = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            // Names come from outside: quoted, so none can add a line or a fragment.
            let name = doc::text::quote(x.document.content_url());
            if inputs.len() > 1 {
                format!("{} = {name}", input_key(i))
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let media = if attachments.is_empty() {
        "none".to_string()
    } else {
        attachments
            .iter()
            .map(|a| format!("{} ({})", doc::text::quote(&a.name), a.mime))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let render = |kept: &[&Fragment]| {
        fill(
            &options.template,
            &render_fragments(inputs, kept, options.format),
            &files,
            &media,
            &options.task,
        )
    };
    let count = |user: &str| counter.count(&options.system) + counter.count(user);

    // Most salient first; ties keep document order.
    let mut ranked: Vec<&Fragment> = all.iter().collect();
    ranked.sort_by(|a, b| {
        b.salience
            .total_cmp(&a.salience)
            .then(a.input.cmp(&b.input))
            .then(a.order.cmp(&b.order))
    });
    let mut keep_n = ranked.len();
    if let Some(budget) = options.max_prompt_tokens {
        let base = count(&render(&[]));
        if base > budget {
            return Err(PromptError::OverBudget {
                needed: base,
                budget,
            });
        }
        // Estimate with per-fragment costs, then correct with exact counts of the render.
        let mut used = base;
        keep_n = 0;
        for f in &ranked {
            let cost = match options.format {
                FragmentFormat::Text => counter.count(&f.line) + 1,
                FragmentFormat::Jsonld => counter.count(&f.annotation.to_string()) + 1,
            };
            if used + cost > budget {
                break;
            }
            used += cost;
            keep_n += 1;
        }
        while keep_n > 0 && count(&render(&in_order(&ranked[..keep_n]))) > budget {
            keep_n -= 1;
        }
    }
    let kept = in_order(&ranked[..keep_n]);
    let dropped = ranked[keep_n..].iter().map(|f| f.id.clone()).collect();
    let user = render(&kept);
    let tokens = count(&user);
    Ok(Assembled {
        prompt: Prompt {
            model: model.to_string(),
            system: options.system.clone(),
            user,
            attachments,
            answer_schema: options.answer_schema.clone(),
            temperature: options.temperature,
            max_tokens: options.max_tokens,
            stream: options.stream,
        },
        kept: kept.into_iter().cloned().collect(),
        dropped,
        tokens,
        encoding,
        attachments: notes,
    })
}

fn in_order<'a>(fs: &[&'a Fragment]) -> Vec<&'a Fragment> {
    let mut v = fs.to_vec();
    v.sort_by_key(|f| (f.input, f.order));
    v
}

/// Finds the fragments an answer cites: every string in the answer equal to a fragment's
/// cite id or annotation IRI. Returns the resolved citations and the strings under a
/// `fragments` key that match nothing.
pub fn resolve_citations(answer: &Value, fragments: &[Fragment], inputs: &[Input]) -> Value {
    let mut cited: Vec<&Fragment> = Vec::new();
    let mut unresolved: Vec<String> = Vec::new();
    fn walk<'a>(
        v: &Value,
        under_fragments: bool,
        fragments: &'a [Fragment],
        cited: &mut Vec<&'a Fragment>,
        unresolved: &mut Vec<String>,
    ) {
        match v {
            Value::String(s) => {
                let t = s.trim();
                let found = fragments.iter().find(|f| f.id == t || f.annotation_id == t);
                let known =
                    |f: &&Fragment| cited.iter().any(|c| c.annotation_id == f.annotation_id);
                if let Some(f) = found.filter(|f| !known(f)) {
                    cited.push(f);
                } else if found.is_none() && under_fragments && !unresolved.iter().any(|u| u == t) {
                    unresolved.push(t.to_string());
                }
            }
            Value::Array(a) => a
                .iter()
                .for_each(|x| walk(x, under_fragments, fragments, cited, unresolved)),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| walk(x, k == "fragments", fragments, cited, unresolved)),
            _ => {}
        }
    }
    walk(answer, false, fragments, &mut cited, &mut unresolved);
    json!({
        "citations": cited.iter().map(|f| json!({
            "id": f.id,
            "annotation": f.annotation_id,
            "source": inputs.get(f.input).map(|x| x.document.content_url()),
            "label": f.label,
            "selector": f.selectors,
        })).collect::<Vec<_>>(),
        "unresolved": unresolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Label, Segment};
    use crate::doc::{AudioSourceInfo, ContextMode, SourceInfo};
    use crate::vision::pipeline::{analyze_image, ImageParams};
    use ::image::{Rgb, RgbImage};

    #[test]
    fn folders_are_walked_and_extract_outputs_read_once() {
        let d = tempfile::tempdir().unwrap();
        let png = {
            let mut v = Vec::new();
            RgbImage::from_pixel(4, 4, Rgb([9; 3]))
                .write_to(&mut std::io::Cursor::new(&mut v), ::image::ImageFormat::Png)
                .unwrap();
            v
        };
        let mut wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0data\0\0\0\0".to_vec();
        wav.truncate(44);
        let root = d.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        for (name, bytes) in [
            ("a.png", &png[..]),
            ("a.png.jsonld", b"{}"),
            ("a.png.overlay.png", &png[..]),
            ("b.png", &png[..]),
            ("notes.txt", b"hello"),
            (".hidden.png", &png[..]),
            ("sub/c.wav", &wav[..]),
        ] {
            std::fs::write(root.join(name), bytes).unwrap();
        }
        let got = expand_inputs(&[root.to_path_buf()]).unwrap();
        let want: Vec<PathBuf> = ["a.png.jsonld", "b.png", "sub/c.wav"]
            .iter()
            .map(|n| root.join(n))
            .collect();
        assert_eq!(got, want);

        // A file named on the command line is taken as it is, whatever it holds.
        let named = root.join("notes.txt");
        assert_eq!(
            expand_inputs(std::slice::from_ref(&named)).unwrap(),
            vec![named]
        );

        // A folder with nothing to prompt with, and a missing path, are errors naming them.
        let empty = root.join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = expand_inputs(std::slice::from_ref(&empty)).unwrap_err();
        assert!(
            matches!(&e, PromptError::Read { path, .. } if path == &empty),
            "{e}"
        );
        let missing = root.join("missing");
        let e = expand_inputs(std::slice::from_ref(&missing)).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
    }

    fn source(name: &str, mime: &str) -> SourceInfo {
        SourceInfo {
            content_url: name.into(),
            mime: mime.into(),
            sha256: "cd".repeat(32),
            byte_len: 99,
        }
    }

    fn image_doc() -> doc::ImagePage {
        let mut img = RgbImage::from_pixel(64, 48, Rgb([255; 3]));
        for x in 8..30 {
            for y in 6..26 {
                img.put_pixel(x, y, Rgb([20, 20, 200]));
            }
        }
        let params = ImageParams::default();
        let analysis = analyze_image(&img, &params).expect("the Rust backend cannot fail");
        doc::image_page(
            &source("shapes.png", "image/png"),
            &analysis,
            &params,
            ContextMode::Reference,
        )
    }

    fn segment(label: Label, start_s: f64, end_s: f64) -> Segment {
        Segment {
            label,
            start_sample: 0,
            end_sample: 0,
            start_s,
            end_s,
            confidence: 0.9,
            frames: 10,
            mean_level_db: -20.0,
            median_f0_hz: None,
            mean_centroid_hz: 900.0,
            onsets_s: Vec::new(),
        }
    }

    fn audio_doc() -> doc::AudioPage {
        let info = AudioSourceInfo {
            file: source("door.wav", "audio/wav"),
            duration_s: 3.0,
            sample_rate: 44_100,
            channels: 2,
        };
        let segments = [
            segment(Label::Silence, 0.0, 1.2),
            segment(Label::Speech, 1.2, 3.0),
        ];
        doc::audio_page(&info, &segments, json!({}), None, ContextMode::Reference)
    }

    fn input(name: &str, kind: MediaKind, document: Document) -> Input {
        Input {
            path: PathBuf::from(name),
            kind,
            document,
            media_path: None,
            from_jsonld: true,
        }
    }

    #[test]
    fn a_jsonld_input_with_a_mistyped_key_is_refused_naming_file_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut value = Document::Image(image_doc()).to_value();
        let good = dir.path().join("good.jsonld");
        std::fs::write(&good, value.to_string()).expect("write");
        let read = load_input(&good, &ExtractOptions::default()).expect("a written page reads");
        assert_eq!(read.kind, MediaKind::Image);
        assert_eq!(read.document.content_url(), "shapes.png");

        let about = value["about"].as_object_mut().expect("about");
        let url = about.remove("contentUrl").expect("contentUrl");
        about.insert("contentURL".into(), url);
        let bad = dir.path().join("mistyped.jsonld");
        std::fs::write(&bad, value.to_string()).expect("write");
        let err = load_input(&bad, &ExtractOptions::default()).expect_err("refused");
        assert_eq!(err.code(), "not_a_document");
        let msg = err.to_string();
        assert!(msg.contains("mistyped.jsonld"), "{msg}");
        assert!(msg.contains("`about.contentURL`"), "{msg}");
    }

    #[test]
    fn prompts_are_assembled_from_typed_documents() {
        let inputs = [
            input("a.jsonld", MediaKind::Image, Document::Image(image_doc())),
            input("b.jsonld", MediaKind::Audio, Document::Audio(audio_doc())),
        ];
        let options = PromptOptions {
            template: "{{files}}\n{{fragments}}".into(),
            ..PromptOptions::default()
        };
        let text =
            assemble(&inputs, &options, crate::llm::Provider::OpenAi, "gpt-4o").expect("assembles");
        let user = &text.prompt.user;
        assert!(user.starts_with("m1 = \"shapes.png\", m2 = \"door.wav\"\n[m1] image:[file=\"shapes.png\",w=64,h=48,regions=1]\nimage_region:[id=m1.r1,x=8,y=6,w=22,h=20,"), "{user}");
        assert!(
            user.ends_with(
                "[m2] audio:[file=\"door.wav\",duration=3.00,rate=44100,channels=2,segments=2]\n\
             audio_segment:[id=m2.s1,t=0.00-1.20,label=ambient:silence,confidence=0.90]\n\
             audio_segment:[id=m2.s2,t=1.20-3.00,label=voice:speech,confidence=0.90]"
            ),
            "{user}"
        );
        // Silence weighs a tenth of its confidence.
        let weights: Vec<f64> = text.kept.iter().map(|f| f.salience).collect();
        assert!((weights[1] - 0.09).abs() < 1e-9 && (weights[2] - 0.9).abs() < 1e-9);

        let options = PromptOptions {
            format: FragmentFormat::Jsonld,
            ..options
        };
        let jsonld =
            assemble(&inputs, &options, crate::llm::Provider::OpenAi, "gpt-4o").expect("assembles");
        let line = jsonld
            .prompt
            .user
            .lines()
            .find_map(|l| l.strip_prefix("[m2] "))
            .expect("the audio page");
        let shown: Value = serde_json::from_str(line).expect("one JSON line");
        let keys: Vec<&String> = shown.as_object().expect("object").keys().collect();
        assert_eq!(keys.last().map(|k| k.as_str()), Some("items"));
        assert_eq!(shown["totalItems"], 2);
        let item = &shown["items"][1];
        assert_eq!(item["body"]["segmentId"], "m2.s2");
        let iri = format!("{}:source", doc::doc_iri(&"cd".repeat(32)));
        assert_eq!(item["target"]["source"], iri.as_str());
        assert_eq!(item["target"]["selector"][0]["value"], "t=1.200,3.000");

        let answer = json!({"answer": "a door", "claims": [
            {"text": "someone speaks", "fragments": ["m2.s2", "m9.r1"]}
        ]});
        let cited = resolve_citations(&answer, &jsonld.kept, &inputs);
        assert_eq!(cited["citations"][0]["label"], "voice:speech");
        assert_eq!(cited["citations"][0]["source"], "door.wav");
        assert_eq!(cited["citations"][0]["selector"][0]["endOffset"], 3.0);
        assert_eq!(cited["unresolved"], json!(["m9.r1"]));
    }
}
