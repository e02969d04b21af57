//! Prompt assembly: inputs (media extracted on the fly, or `.jsonld` documents written
//! earlier) become fragments; the most salient fragments that fit the token budget are
//! rendered into the instruction template; media are attached as each provider allows; and
//! the answer's fragment citations are resolved back to their anchors.

pub mod attach;
pub mod budget;
pub mod coords;
pub mod settings;
pub mod types;

use crate::doc::{self, Document, Item, Score};
use crate::jobs::extract::{extract_file, ExtractOptions};
use crate::llm::Prompt;
use crate::media::{sniff_file, MediaKind};
use crate::render::overlay::{bbox_corners, Mark};
use coords::Frame;
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
    /// Ranking weight, how much of the medium it explains: a region's salience; a
    /// segment's share of its file's duration times its confidence (silence a tenth of
    /// that).
    pub salience: f64,
    /// Position within its document.
    pub order: usize,
    /// Its selectors (the anchors), as in the document: citations resolve to these.
    pub selectors: Value,
    /// The annotation as the model sees it: the cite id in its body, its source reduced to
    /// the IRI, and its anchors in the prompt's frame.
    pub annotation: Value,
    /// The body's label.
    pub label: String,
    /// The annotation's text line, with the cite id and the box in the prompt's frame.
    pub line: String,
    /// `(start, end)` in seconds, for a segment.
    pub span: Option<(f64, f64)>,
    /// The region's outline and id in the attached image's pixels, for Set-of-Mark.
    pub mark: Option<Mark>,
}

/// Prefix of the cite ids of input `i` when several inputs share a prompt.
pub fn input_key(i: usize) -> String {
    format!("m{}", i + 1)
}

/// Fragments of every input, in document order, with anchors as the documents give them.
pub fn fragments(inputs: &[Input]) -> Vec<Fragment> {
    fragments_in(inputs, &[], &[])
}

/// Body fields a prompt's JSON-LD fragment keeps: the label, the cite id, the words, the
/// parent, the hole count and a segment's confidence. The measures stay in the files.
const LEAN_BODY: [&str; 10] = [
    "value",
    "regionId",
    "segmentId",
    "shape",
    "sizeClass",
    "position",
    "colorName",
    "holeCount",
    "parentRegion",
    "confidence",
];

/// The lean profile of a cited annotation for prompts: its type (no IRI: the body's cite
/// id names it, and IRIs cost a dozen tokens each), a body of
/// [`LEAN_BODY`] (the shape left out where the label already says it, a hole count of 0
/// left out), and a target of its source and first selector (the box, or `t=`), without
/// the selector's `conformsTo` and the offsets its value repeats. Every key is still a term of the context, so it expands.
fn lean(cited: &Value) -> Value {
    let mut body = serde_json::Map::new();
    let label = cited["body"]["value"].as_str().unwrap_or("");
    for k in LEAN_BODY {
        let Some(v) = cited["body"].get(k) else {
            continue;
        };
        let redundant = match k {
            "shape" => v
                .as_str()
                .is_some_and(|s| label.ends_with(&format!(":{s}"))),
            "holeCount" => v.as_u64() == Some(0),
            _ => false,
        };
        if !redundant {
            body.insert(k.into(), v.clone());
        }
    }
    let mut selector = cited["target"]["selector"][0].clone();
    if let Some(m) = selector.as_object_mut() {
        // `t=start,end` already says what startOffset and endOffset repeat.
        for k in ["conformsTo", "startOffset", "endOffset"] {
            m.remove(k);
        }
    }
    json!({
        "type": cited["type"],
        "body": body,
        "target": {"source": cited["target"]["source"], "selector": selector},
    })
}

/// The page a prompt shows in `--fragments jsonld`: the smallest context that defines what
/// the page uses with all of `every` (its annotations, shown or not: so the context is the
/// page's, whatever the budget keeps), the page's IRI and type, what the medium is (file,
/// size or duration), how many annotations the document has, and the lean `items` shown.
fn lean_page(doc: &Document, items: Vec<Value>, every: Vec<Value>) -> String {
    let full = doc.to_value();
    let mut about = serde_json::Map::new();
    for k in [
        "id",
        "type",
        "contentUrl",
        "width",
        "height",
        "duration",
        "startTime",
    ] {
        if let Some(v) = full["about"].get(k) {
            about.insert(k.into(), v.clone());
        }
    }
    let mut page = serde_json::Map::new();
    page.insert("@context".into(), Value::Null);
    if let Some(id) = full.get("id") {
        page.insert("id".into(), id.clone());
    }
    page.insert("type".into(), full["type"].clone());
    page.insert("about".into(), Value::Object(about));
    page.insert("totalItems".into(), full["totalItems"].clone());
    page.insert("items".into(), Value::Array(every));
    let mut page = Value::Object(page);
    // Every IRI of the page starts with the page's own: written as `doc:r1`, `doc:source`
    // with `doc` defined as a prefix, they cost a few tokens instead of a dozen each.
    let prefix = full["id"].as_str().map(|id| format!("{id}:"));
    if let Some(p) = &prefix {
        compact_iris(&mut page, p);
    }
    let mut context = doc::context_for(&page);
    if let (Some(p), Some(ext)) = (&prefix, context.get_mut(1).and_then(Value::as_object_mut)) {
        ext.insert("doc".into(), Value::String(p.clone()));
    }
    page["@context"] = context;
    page["items"] = Value::Array(items);
    if let Some(p) = &prefix {
        compact_iris(&mut page["items"], p);
    }
    page.to_string()
}

/// Writes every string under `id`, `source` and `parentRegion` that starts with `prefix` as
/// `doc:` and the rest.
fn compact_iris(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s)
                        if matches!(k.as_str(), "id" | "source" | "parentRegion")
                            && s.starts_with(prefix) =>
                    {
                        *s = format!("doc:{}", &s[prefix.len()..]);
                    }
                    _ => compact_iris(x, prefix),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| compact_iris(x, prefix)),
        _ => {}
    }
}

/// A region's text line, JSON-LD fragment and Set-of-Mark mark in `frame` (the prompt's
/// coordinates) and `drawn` (the attached image's pixels).
fn framed_region(
    region: &doc::ImageAnnotation,
    cite: &str,
    frame: Option<&Frame>,
    drawn: Option<&Frame>,
) -> (String, Value, Option<Mark>) {
    let b = region.target.selector.0.value;
    let svg = &region.target.selector.1.value;
    let mut value = lean(&region.cited_value(cite));
    let line = match frame.filter(|f| !f.is_identity()) {
        None => region.text_line(cite),
        Some(f) => {
            if f.shown != f.original {
                let [x, y, w, h] = f.pixel_box(b.x, b.y, b.w, b.h);
                let target = &mut value["target"];
                let source = format!("{}:attached", target["source"].as_str().unwrap_or(""));
                target["source"] = Value::String(source);
                target["selector"]["value"] = Value::String(format!("xywh={x},{y},{w},{h}"));
            }
            doc::region_line_with(cite, &region.body, &f.box_text(b.x, b.y, b.w, b.h))
        }
    };
    let mark = drawn.map(|d| {
        let [x, y, w, h] = d.pixel_box(b.x, b.y, b.w, b.h);
        Mark {
            text: cite.to_string(),
            polygon: coords::svg_points(svg)
                .unwrap_or_default()
                .into_iter()
                .map(|(px, py)| d.point(px, py))
                .collect(),
            bbox: bbox_corners(x, y, w, h),
            hole: region.body.border_kind == "hole",
            // The outline alone: boxes would double the lines a model has to tell apart.
            show_box: false,
        }
    });
    (line, value, mark)
}

/// Fragments of every input in document order; an image input `i` has its anchors written
/// in `frames[i]` and its marks drawn in `drawn[i]` (the attached image's pixels), where
/// given.
fn fragments_in(
    inputs: &[Input],
    frames: &[Option<Frame>],
    drawn: &[Option<Frame>],
) -> Vec<Fragment> {
    let qualify = inputs.len() > 1;
    let mut out = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let duration = match &input.document {
            Document::Image(_) => 0.0,
            Document::Audio(p) => p.about.duration.0,
            Document::LiveWindow(p) => p.about.duration.0,
        };
        let frame = frames.get(i).and_then(Option::as_ref);
        let drawn = drawn.get(i).and_then(Option::as_ref);
        for (order, item) in input.document.items().into_iter().enumerate() {
            let local = item.local_id();
            let id = if qualify {
                format!("{}.{local}", input_key(i))
            } else {
                local.to_string()
            };
            let span = item.span();
            let salience = match (item.score(), span) {
                (Score::Salience(s), _) => s,
                (Score::Confidence(c), span) => {
                    let share = match span {
                        Some((a, b)) if duration > 0.0 => ((b - a) / duration).clamp(0.0, 1.0),
                        _ => 1.0,
                    };
                    let w = share * c;
                    if item.label().ends_with(":silence") {
                        w * 0.1
                    } else {
                        w
                    }
                }
            };
            let (line, annotation, mark) = match item.region() {
                Some(r) => framed_region(r, &id, frame, drawn),
                None => (item.text_line(&id), lean(&item.cited_value(&id)), None),
            };
            out.push(Fragment {
                input: i,
                annotation_id: item.id().to_string(),
                salience,
                order,
                selectors: item.selectors_value(),
                annotation,
                label: item.label().to_string(),
                line,
                span,
                mark,
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
extracted from them. An image region has a box, `x,y,w,h` in pixels unless the end of this \
text says otherwise for its image (origin at the top-left corner, x to the right, y down; in \
JSON-LD a FragmentSelector `xywh=x,y,w,h` and an SVG polygon), with its shape, colour, size \
class and position words. An audio segment spans \
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

/// The built-in answer schema: an answer and claims that cite fragment ids. It meets
/// OpenAI's strict mode (every property required, no others allowed), so OpenAI providers
/// are sent it with `strict: true`.
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
                    "required": ["text", "fragments"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["answer", "claims"],
        "additionalProperties": false
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
    /// The frame image anchors are written in.
    pub coords: coords::Coords,
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
            coords: coords::Coords::Auto,
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
    /// Ids of fragments left out to fit the budget, in the order the budget would have
    /// taken them next.
    pub dropped: Vec<String>,
    /// Tokens of system + user text.
    pub tokens: usize,
    /// The tokenizer used.
    pub encoding: TokenEncoding,
    /// Attachment notes (what was attached, how it was fitted).
    pub attachments: Vec<Value>,
}

/// What a rendering shows: the units kept, and for each input its frame.
struct View<'a> {
    inputs: &'a [Input],
    all: &'a [Fragment],
    units: &'a [budget::Unit],
    frames: &'a [Option<Frame>],
    format: FragmentFormat,
}

impl View<'_> {
    /// The header line of input `i`: in the prompt's frame, with the count shown when the
    /// budget left some out.
    fn header(&self, i: usize, shown: usize) -> String {
        let input = &self.inputs[i];
        let total = self.all.iter().filter(|f| f.input == i).count();
        let mut line = match (&input.document, self.frames.get(i).and_then(Option::as_ref)) {
            (Document::Image(p), Some(f)) if !f.is_identity() => {
                let (w, h) = f.shown;
                let mut l = format!(
                    "image:[file={},w={w},h={h},regions={total}",
                    doc::text::quote(&p.about.content_url)
                );
                if f.shown != f.original {
                    l.push_str(&format!(",original={}x{}", f.original.0, f.original.1));
                }
                if f.style == coords::BoxStyle::PerMilleYxyx {
                    l.push_str(",boxes=box_2d/1000");
                }
                l.push(']');
                l
            }
            (d, _) => doc::header_line(d),
        };
        if shown < total {
            line.pop();
            line.push_str(&format!(",shown={shown}]"));
        }
        line
    }

    /// `(N of M regions left out for the token budget: object 12, hole 5)`.
    fn omitted(&self, i: usize, kept: &[bool]) -> Option<String> {
        let mine = self.all.iter().enumerate().filter(|(_, f)| f.input == i);
        let total = mine.clone().count();
        let out: Vec<&Fragment> = mine.filter(|&(m, _)| !kept[m]).map(|(_, f)| f).collect();
        if out.is_empty() {
            return None;
        }
        let mut labels: Vec<(&str, usize)> = Vec::new();
        for f in &out {
            match labels.iter_mut().find(|(l, _)| *l == f.label) {
                Some((_, n)) => *n += 1,
                None => labels.push((&f.label, 1)),
            }
        }
        labels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let kind = match self.inputs[i].document {
            Document::Image(_) => "regions",
            _ => "segments",
        };
        let list: Vec<String> = labels.iter().map(|(l, n)| format!("{l} {n}")).collect();
        Some(format!(
            "({} of {total} {kind} left out for the token budget: {})",
            out.len(),
            list.join(", ")
        ))
    }

    /// The fragments block with the units `keep` (indices into `units`).
    fn render(&self, keep: &[usize]) -> String {
        let mut kept = vec![false; self.all.len()];
        // The group each fragment leads, if it is the first member of a kept group, and
        // whether it follows in one (its line is the group's).
        let mut leads: Vec<Option<usize>> = vec![None; self.all.len()];
        let mut follows = vec![false; self.all.len()];
        for &u in keep {
            let members = &self.units[u].members;
            for &m in members {
                kept[m] = true;
            }
            if members.len() > 1 {
                leads[members[0]] = Some(u);
                for &m in &members[1..] {
                    follows[m] = true;
                }
            }
        }
        let mut out = String::new();
        for i in 0..self.inputs.len() {
            let shown = (0..self.all.len())
                .filter(|&m| kept[m] && self.all[m].input == i)
                .count();
            if self.inputs.len() > 1 {
                out.push_str(&format!("[{}] ", input_key(i)));
            }
            match self.format {
                FragmentFormat::Text => {
                    out.push_str(&self.header(i, shown));
                    out.push('\n');
                    for (m, f) in self.all.iter().enumerate() {
                        if f.input != i || !kept[m] {
                            continue;
                        }
                        if let Some(u) = leads[m] {
                            let members: Vec<&Fragment> = self.units[u]
                                .members
                                .iter()
                                .map(|&k| &self.all[k])
                                .collect();
                            out.push_str(&budget::group_line(&members));
                        } else if follows[m] {
                            continue;
                        } else {
                            out.push_str(&f.line);
                        }
                        out.push('\n');
                    }
                }
                FragmentFormat::Jsonld => {
                    let items = self
                        .all
                        .iter()
                        .enumerate()
                        .filter(|&(m, f)| f.input == i && kept[m])
                        .map(|(_, f)| f.annotation.clone())
                        .collect();
                    let every = self
                        .all
                        .iter()
                        .filter(|f| f.input == i)
                        .map(|f| f.annotation.clone())
                        .collect();
                    out.push_str(&lean_page(&self.inputs[i].document, items, every));
                    out.push('\n');
                }
            }
            if let Some(note) = self.omitted(i, &kept) {
                out.push_str(&note);
                out.push('\n');
            }
        }
        out.trim_end().to_string()
    }
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

/// Assembles the prompt for `inputs`: fits the media to attach, writes every image's
/// anchors in the frame the model sees (see [`coords`]), keeps the fragments that explain
/// most of the media within the budget (one of each label first, repeated events grouped),
/// renders the template and encodes the attachments (with Set-of-Mark marks if asked).
///
/// # Errors
/// [`PromptError::Invalid`] for a template [`check_template`] refuses,
/// [`PromptError::OverBudget`] when the budget cannot hold the prompt even with no fragment,
/// or the errors of [`attach::prepare`] and [`attach::finish`].
pub fn assemble(
    inputs: &[Input],
    options: &PromptOptions,
    provider: crate::llm::Provider,
    model: &str,
) -> Result<Assembled, PromptError> {
    check_template(&options.template)?;
    let encoding = TokenEncoding::for_model(model);
    let counter = budget::Counter::new(encoding);
    let prepared = attach::prepare(inputs, options.attach, provider, &options.limits)?;
    let marked = options.attach == AttachMode::Marked;
    let size = |i: usize| match &inputs[i].document {
        Document::Image(p) => Some((p.about.width, p.about.height)),
        _ => None,
    };
    let frames: Vec<Option<Frame>> = (0..inputs.len())
        .map(|i| {
            let sent = attach::Prepared::sent_size(&prepared, i);
            size(i).map(|orig| Frame::choose(orig, sent, options.coords, provider))
        })
        .collect();
    let drawn: Vec<Option<Frame>> = (0..inputs.len())
        .map(|i| {
            let sent = attach::Prepared::sent_size(&prepared, i)?;
            let orig = size(i)?;
            Some(Frame::choose(
                orig,
                Some(sent),
                coords::Coords::Attached,
                provider,
            ))
        })
        .collect();
    let all = fragments_in(inputs, &frames, &drawn);
    let units = budget::units(&all);
    let order = budget::priority(&units, &all);

    let names: Vec<String> = inputs
        .iter()
        .map(|x| doc::text::quote(x.document.content_url()))
        .collect();
    let files = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            // Names come from outside: quoted, so none can add a line or a fragment.
            if inputs.len() > 1 {
                format!("{} = {name}", input_key(i))
            } else {
                name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let shown: Vec<(&str, &str)> = prepared.iter().filter_map(|p| p.shown(marked)).collect();
    let inputs_kind = |name: &str| {
        prepared.iter().find_map(|p| match p {
            attach::Prepared::Image { image, input } if image.name == name => {
                Some(inputs[*input].kind)
            }
            attach::Prepared::Spectrogram { name: n, input, .. } if n == name => {
                Some(inputs[*input].kind)
            }
            _ => None,
        })
    };
    let media = if shown.is_empty() {
        "none".to_string()
    } else {
        shown
            .iter()
            .map(|(name, mime)| {
                let marks = match (marked, inputs_kind(name)) {
                    (true, Some(MediaKind::Image)) => ", regions marked with their ids",
                    (true, Some(MediaKind::Audio)) => {
                        ", the audio's spectrogram: time left to right, low frequencies at the \
                         bottom, the segments shown as labelled bands with their ids"
                    }
                    _ => "",
                };
                format!("{} ({mime}{marks})", doc::text::quote(name))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut system = options.system.clone();
    let key = |i: usize| {
        if inputs.len() > 1 {
            input_key(i)
        } else {
            String::new()
        }
    };
    for (i, f) in frames.iter().enumerate() {
        if let Some(f) = f {
            system.push_str(if i == 0 { "\n\n" } else { " " });
            system.push_str(&f.describe(&key(i), &names[i]));
        }
    }
    let view = View {
        inputs,
        all: &all,
        units: &units,
        frames: &frames,
        format: options.format,
    };
    let render = |k: usize| {
        fill(
            &options.template,
            &view.render(&order[..k]),
            &files,
            &media,
            &options.task,
        )
    };
    let system_tokens = counter.count(&system);
    let count = |user: &str| system_tokens + counter.count(user);

    let n = order.len();
    let mut keep_n = n;
    if let Some(budget) = options.max_prompt_tokens {
        let base = count(&render(0));
        if base > budget {
            return Err(PromptError::OverBudget {
                needed: base,
                budget,
            });
        }
        if count(&render(n)) > budget {
            // The largest number of units, in priority order, whose rendering fits: the
            // count grows with each unit, so a bisection finds it with a few renderings.
            let (mut fits, mut over) = (0, n);
            while over - fits > 1 {
                let mid = fits + (over - fits) / 2;
                if count(&render(mid)) <= budget {
                    fits = mid;
                } else {
                    over = mid;
                }
            }
            keep_n = fits;
        }
    }
    let mut kept_idx: Vec<usize> = order[..keep_n]
        .iter()
        .flat_map(|&u| units[u].members.iter().copied())
        .collect();
    kept_idx.sort_unstable();
    let dropped = order[keep_n..]
        .iter()
        .flat_map(|&u| units[u].members.iter().map(|&m| all[m].id.clone()))
        .collect();
    let user = render(keep_n);
    let tokens = count(&user);
    let kept: Vec<Fragment> = kept_idx.iter().map(|&m| all[m].clone()).collect();
    let marks = |i: usize| {
        marked.then(|| {
            kept.iter()
                .filter(|f| f.input == i)
                .filter_map(|f| f.mark.clone())
                .collect()
        })
    };
    let bands = |i: usize| {
        kept.iter()
            .filter(|f| f.input == i)
            .filter_map(|f| {
                let label = crate::audio::Label::ALL
                    .into_iter()
                    .find(|l| l.as_str() == f.label)?;
                let (start, end) = f.span?;
                Some((label, start, end, f.id.clone()))
            })
            .collect()
    };
    let (attachments, notes) = attach::finish(&prepared, inputs, &marks, &bands)?;
    Ok(Assembled {
        prompt: Prompt {
            model: model.to_string(),
            system,
            user,
            attachments,
            answer_schema: options.answer_schema.clone(),
            temperature: options.temperature,
            max_tokens: options.max_tokens,
            stream: options.stream,
        },
        kept,
        dropped,
        tokens,
        encoding,
        attachments: notes,
    })
}

/// Finds the fragments an answer cites: every string in the answer equal to a fragment's
/// cite id or annotation IRI. With several inputs, an id cited without its `m1.` prefix
/// (`r3` for `m1.r3`) is resolved when exactly one input has it. Returns the resolved
/// citations (with `cited`, the string as the answer wrote it, where that differs from the
/// id) and the strings under a `fragments` key that match nothing, or more than one
/// fragment.
pub fn resolve_citations(answer: &Value, fragments: &[Fragment], inputs: &[Input]) -> Value {
    struct Found<'a> {
        cited: Vec<(&'a Fragment, String)>,
        unresolved: Vec<String>,
    }
    fn find<'a>(t: &str, fragments: &'a [Fragment]) -> Option<&'a Fragment> {
        if let Some(f) = fragments.iter().find(|f| f.id == t || f.annotation_id == t) {
            return Some(f);
        }
        // `r3` for `m1.r3`: only when one input alone has it.
        if t.contains('.') || t.is_empty() {
            return None;
        }
        let mut candidates = fragments
            .iter()
            .filter(|f| f.id.split_once('.').is_some_and(|(_, local)| local == t));
        match (candidates.next(), candidates.next()) {
            (Some(f), None) => Some(f),
            _ => None,
        }
    }
    fn walk<'a>(v: &Value, under_fragments: bool, fragments: &'a [Fragment], out: &mut Found<'a>) {
        match v {
            Value::String(s) => {
                let t = s.trim();
                match find(t, fragments) {
                    Some(f)
                        if !out
                            .cited
                            .iter()
                            .any(|(c, _)| c.annotation_id == f.annotation_id) =>
                    {
                        out.cited.push((f, t.to_string()));
                    }
                    Some(_) => {}
                    None if under_fragments && !out.unresolved.iter().any(|u| u == t) => {
                        out.unresolved.push(t.to_string());
                    }
                    None => {}
                }
            }
            Value::Array(a) => a
                .iter()
                .for_each(|x| walk(x, under_fragments, fragments, out)),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| walk(x, k == "fragments", fragments, out)),
            _ => {}
        }
    }
    let mut found = Found {
        cited: Vec::new(),
        unresolved: Vec::new(),
    };
    walk(answer, false, fragments, &mut found);
    json!({
        "citations": found.cited.iter().map(|(f, as_cited)| {
            let mut c = json!({
                "id": f.id,
                "annotation": f.annotation_id,
                "source": inputs.get(f.input).map(|x| x.document.content_url()),
                "label": f.label,
                "selector": f.selectors,
            });
            if *as_cited != f.id && *as_cited != f.annotation_id {
                c["cited"] = Value::String(as_cited.clone());
            }
            c
        }).collect::<Vec<_>>(),
        "unresolved": found.unresolved,
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
        // A segment weighs its share of the file times its confidence; silence a tenth.
        let weights: Vec<f64> = text.kept.iter().map(|f| f.salience).collect();
        assert!((weights[1] - 0.4 * 0.9 * 0.1).abs() < 1e-9, "{weights:?}");
        assert!((weights[2] - 0.6 * 0.9).abs() < 1e-9, "{weights:?}");

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
        // The page's IRIs are written with its `doc:` prefix, which its context defines.
        let doc_prefix = format!("{}:", doc::doc_iri(&"cd".repeat(32)));
        assert_eq!(shown["@context"][1]["doc"], doc_prefix.as_str());
        assert_eq!(item["target"]["source"], "doc:source");
        // The lean profile: a type, the label, the cite id and the confidence, the anchor.
        assert_eq!(
            item,
            &json!({"type": "Annotation",
                "body": {"value": "voice:speech", "segmentId": "m2.s2", "confidence": 0.9},
                "target": {"source": "doc:source",
                    "selector": {"type": "FragmentSelector", "value": "t=1.200,3.000"}}})
        );

        let answer = json!({"answer": "a door", "claims": [
            {"text": "someone speaks", "fragments": ["m2.s2", "m9.r1"]}
        ]});
        let cited = resolve_citations(&answer, &jsonld.kept, &inputs);
        assert_eq!(cited["citations"][0]["label"], "voice:speech");
        assert_eq!(cited["citations"][0]["source"], "door.wav");
        assert_eq!(cited["citations"][0]["selector"][0]["endOffset"], 3.0);
        assert_eq!(cited["unresolved"], json!(["m9.r1"]));

        // Without its prefix, an id one input alone has resolves; one two inputs share
        // would be ambiguous and does not.
        let answer =
            json!({"answer": "", "claims": [{"text": "", "fragments": ["s2", "r1", "r7"]}]});
        let cited = resolve_citations(&answer, &jsonld.kept, &inputs);
        assert_eq!(cited["citations"][0]["id"], "m2.s2");
        assert_eq!(cited["citations"][0]["cited"], "s2");
        assert_eq!(cited["citations"][1]["id"], "m1.r1");
        assert_eq!(cited["unresolved"], json!(["r7"]));
        let both = [inputs[0].clone(), inputs[0].clone()];
        let a =
            assemble(&both, &options, crate::llm::Provider::OpenAi, "gpt-4o").expect("assembles");
        let cited = resolve_citations(&answer, &a.kept, &both);
        assert_eq!(cited["citations"], json!([]));
        assert_eq!(cited["unresolved"], json!(["s2", "r1", "r7"]));
    }
}
