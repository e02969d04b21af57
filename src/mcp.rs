//! The MCP server (`mmprompt mcp`): mmprompt as tools an agent can call, over stdio with
//! the official Rust SDK (`rmcp`).
//!
//! - Tool `extract`: a file (by path) or its bytes (base64) to the JSON-LD document or the
//!   text fragments, with the same options as `mmprompt extract` ([`ExtractSettings`]).
//! - Tool `prompt`: the request `mmprompt prompt` would print (a dry run), with the same
//!   options ([`PromptSettings`]).
//! - Resources: the JSON-LD context and the JSON Schema of the documents.
//!
//! Tool input schemas are generated from those option types, so they name, describe and
//! check exactly what the flags do. Every path a call names (inputs, and files the prompt
//! options would read) must lie inside one of the allowed folders once symbolic links are
//! resolved; anything else is refused with a tool error, before it is opened.

use crate::jobs::extract::{extract_bytes, extract_file, Extracted};
use crate::jobs::settings::ExtractSettings;
use crate::prompt::settings::PromptSettings;
use base64::Engine as _;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// URI of the JSON-LD context resource.
pub const CONTEXT_URI: &str = "mmprompt://context";
/// URI of the JSON Schema resource.
pub const SCHEMA_URI: &str = "mmprompt://schema";
/// Most bytes a `content_base64` may decode to.
pub const MAX_CONTENT_BYTES: usize = 64 << 20;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// An allowed folder does not exist or cannot be resolved.
    #[error("{}: cannot allow this folder: {source}", path.display())]
    Allow {
        /// The folder as given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or the transport failed.
    #[error("MCP server: {0}")]
    Serve(String),
}

/// The folders a client may read from.
#[derive(Debug, Clone, Default)]
pub struct Allowed(Vec<PathBuf>);

impl Allowed {
    /// The folders, resolved now (so a later symlink swap of the argument changes nothing).
    ///
    /// # Errors
    /// [`McpError::Allow`] for a folder that does not exist or is not a folder.
    pub fn new(dirs: &[PathBuf]) -> Result<Self, McpError> {
        let mut out = Vec::new();
        for d in dirs {
            let c = std::fs::canonicalize(d).map_err(|source| McpError::Allow {
                path: d.clone(),
                source,
            })?;
            if !c.is_dir() {
                return Err(McpError::Allow {
                    path: d.clone(),
                    source: std::io::Error::other("not a folder"),
                });
            }
            out.push(c);
        }
        Ok(Self(out))
    }

    /// `path` resolved, when it lies inside an allowed folder.
    ///
    /// # Errors
    /// The message for the client: the path does not exist, or is outside every folder.
    pub fn check(&self, path: &Path) -> Result<PathBuf, String> {
        let shown = path.display();
        let real = std::fs::canonicalize(path).map_err(|e| format!("{shown}: {e}"))?;
        if self.0.iter().any(|d| real.starts_with(d)) {
            Ok(real)
        } else if self.0.is_empty() {
            Err(format!(
                "{shown}: no folder is allowed (start the server with --allow DIR); send the \
                 file's bytes as content_base64 instead"
            ))
        } else {
            Err(format!(
                "{shown}: outside the allowed folders ({})",
                self.0
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

/// What `extract` returns.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolFormat {
    /// The JSON-LD document.
    #[default]
    Jsonld,
    /// The compact text fragments, one line per region or segment.
    Text,
}

/// Input of the `extract` tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractParams {
    /// Path of an image or audio file inside a folder the server allows.
    pub path: Option<String>,
    /// The file's bytes, base64-encoded, instead of a path (at most 64 MiB decoded).
    pub content_base64: Option<String>,
    /// How the document names content given as bytes (default `content`).
    pub name: Option<String>,
    /// jsonld (the document, default) or text (the compact fragments).
    #[serde(default)]
    pub format: ToolFormat,
    /// The options of `mmprompt extract`, named as its flags in snake case. Read with
    /// [`ExtractSettings::from_json`], so an error names the option.
    #[serde(default)]
    #[schemars(with = "ExtractSettings")]
    pub options: serde_json::Value,
}

/// Input of the `prompt` tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptParams {
    /// Media files, `.jsonld` documents or folders inside the allowed folders.
    pub inputs: Vec<String>,
    /// The options of `mmprompt prompt`, named as its flags in snake case.
    #[serde(default)]
    #[schemars(with = "PromptSettings")]
    pub options: serde_json::Value,
    /// Extraction options for media inputs, as for the `extract` tool.
    #[serde(default)]
    #[schemars(with = "ExtractSettings")]
    pub extract_options: serde_json::Value,
    /// Show attached media in full instead of eliding their base64.
    #[serde(default)]
    pub full_body: bool,
}

/// The server: its allowed folders and its tools.
#[derive(Debug, Clone)]
pub struct Server {
    allowed: Arc<Allowed>,
}

fn fail(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// A blocking job off the runtime's thread, so the transport keeps reading meanwhile.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ErrorData> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

#[tool_router]
impl Server {
    /// A server that lets clients read inside `allowed`.
    pub fn new(allowed: Allowed) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    /// Extract the anchored regions of an image or the labelled segments of a recording as
    /// a W3C Web Annotation JSON-LD document (or compact text fragments). Regions carry
    /// xywh= boxes and SVG polygons; segments carry t=start,end times.
    #[tool]
    async fn extract(
        &self,
        Parameters(p): Parameters<ExtractParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let options = match ExtractSettings::from_json(&p.options).and_then(|s| s.to_options()) {
            Ok(o) => o,
            Err(e) => return Ok(fail(e.to_string())),
        };
        let allowed = Arc::clone(&self.allowed);
        blocking(move || {
            let out = match (p.path, p.content_base64) {
                (Some(path), None) => match allowed.check(Path::new(&path)) {
                    Ok(real) => extract_file(&real, &path, &options),
                    Err(m) => return fail(m),
                },
                (None, Some(b64)) => {
                    let name = p.name.unwrap_or_else(|| "content".into());
                    match from_base64(&b64) {
                        Ok(bytes) => extract_bytes(&bytes, &name, &options),
                        Err(m) => return fail(format!("{name}: {m}")),
                    }
                }
                _ => return fail("give exactly one of path and content_base64"),
            };
            match out {
                Ok(x) => render(&x, p.format),
                Err(e) => fail(format!("{e} ({})", e.code())),
            }
        })
        .await
    }

    /// Assemble the prompt mmprompt would send to an LLM endpoint for these inputs and
    /// return the request (URL, headers with keys redacted, body, token account) without
    /// sending it.
    #[tool]
    async fn prompt(
        &self,
        Parameters(p): Parameters<PromptParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let allowed = Arc::clone(&self.allowed);
        blocking(move || {
            let mut inputs = Vec::new();
            for i in &p.inputs {
                match allowed.check(Path::new(i)) {
                    Ok(_) => inputs.push(PathBuf::from(i)),
                    Err(m) => return fail(m),
                }
            }
            if inputs.is_empty() {
                return fail("inputs: give at least one file or folder");
            }
            let settings = match PromptSettings::from_json(&p.options) {
                Ok(s) => s,
                Err(e) => return fail(e.to_string()),
            };
            for f in settings.files() {
                if let Err(m) = allowed.check(&f) {
                    return fail(m);
                }
            }
            let extract =
                match ExtractSettings::from_json(&p.extract_options).and_then(|s| s.to_options()) {
                    Ok(o) => o,
                    Err(e) => return fail(format!("extract_options: {e}")),
                };
            let opts = match settings.send_options(extract, Path::new("out"), true) {
                Ok(o) => o,
                Err(e) => return fail(format!("options: {e}")),
            };
            // A folder may hold links that lead out of it; each file is checked too.
            match crate::send::dry_run(&inputs, &opts, p.full_body, |path| {
                allowed.check(path).map(drop)
            }) {
                Ok(run) => CallToolResult::success(vec![ContentBlock::text(
                    serde_json::to_string_pretty(&run.report).unwrap_or_default(),
                )]),
                Err(m) => fail(m),
            }
        })
        .await
    }
}

fn from_base64(b64: &str) -> Result<Vec<u8>, String> {
    // Checked before decoding: base64 is 4 characters for every 3 bytes.
    if b64.len() / 4 * 3 > MAX_CONTENT_BYTES + 3 {
        return Err(format!("content is over {MAX_CONTENT_BYTES} bytes"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("content_base64 is not base64: {e}"))
}

fn render(x: &Extracted, format: ToolFormat) -> CallToolResult {
    let text = match format {
        ToolFormat::Jsonld => serde_json::to_string_pretty(&x.document).unwrap_or_default(),
        ToolFormat::Text => x.text.clone(),
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    if let Some(e) = &x.partial_error {
        // The document holds what came before the damage; say so beside it.
        result.content.push(ContentBlock::text(format!(
            "warning: {} ({})",
            e,
            e.kind.code()
        )));
    }
    result
}

#[tool_handler]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("mmprompt", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "mmprompt turns images and audio into JSON-LD prompt fragments anchored in the \
             media: image regions by xywh= boxes and SVG polygons, audio segments by \
             t=start,end. Call `extract` on a file (a path inside the allowed folders, or \
             its bytes as base64) and cite the fragments' ids and anchors; call `prompt` to \
             see the request mmprompt would send to an LLM endpoint. The resources hold the \
             documents' JSON-LD context and JSON Schema.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(CONTEXT_URI, "context")
                .with_description("The JSON-LD context of mmprompt documents")
                .with_mime_type("application/ld+json"),
            Resource::new(SCHEMA_URI, "schema")
                .with_description("The JSON Schema of mmprompt documents")
                .with_mime_type("application/schema+json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let (text, mime) = match request.uri.as_str() {
            CONTEXT_URI => (crate::doc::CONTEXT, "application/ld+json"),
            SCHEMA_URI => (crate::doc::SCHEMA, "application/schema+json"),
            other => {
                return Err(ErrorData::resource_not_found(
                    format!(
                        "no resource {other}; the resources are {CONTEXT_URI} and {SCHEMA_URI}"
                    ),
                    None,
                ))
            }
        };
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri.clone()).with_mime_type(mime)
        ])
        .into())
    }
}

/// Serves MCP on stdin and stdout until the client closes them.
///
/// # Errors
/// [`McpError::Serve`] when the runtime cannot start or the transport fails.
pub fn serve_stdio(server: Server) -> Result<(), McpError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| McpError::Serve(e.to_string()))?;
    rt.block_on(async {
        let service = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpError::Serve(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| McpError::Serve(e.to_string()))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_that_resolve_inside_an_allowed_folder_pass() {
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("media");
        let outside = root.path().join("private");
        std::fs::create_dir_all(inside.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(inside.join("sub/a.png"), b"x").unwrap();
        std::fs::write(outside.join("secret.png"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.png"), inside.join("link.png")).unwrap();
        let allowed = Allowed::new(std::slice::from_ref(&inside)).unwrap();
        assert!(allowed.check(&inside.join("sub/a.png")).is_ok());
        // `..` and links are resolved before the check.
        let up = inside.join("sub/../../private/secret.png");
        for p in [up, inside.join("link.png"), outside.join("secret.png")] {
            let e = allowed.check(&p).unwrap_err();
            assert!(e.contains("outside the allowed folders"), "{e}");
        }
        assert!(allowed.check(&inside.join("missing.png")).is_err());
        let none = Allowed::new(&[]).unwrap();
        assert!(none
            .check(&inside.join("sub/a.png"))
            .unwrap_err()
            .contains("--allow"));
        assert!(Allowed::new(&[inside.join("sub/a.png")]).is_err());
        assert!(Allowed::new(&[root.path().join("nowhere")]).is_err());
    }

    #[test]
    fn base64_content_is_capped_before_it_is_decoded() {
        assert_eq!(from_base64("aGVsbG8=").unwrap(), b"hello");
        assert!(from_base64("not base64!")
            .unwrap_err()
            .contains("not base64"));
        let huge = "A".repeat(MAX_CONTENT_BYTES / 3 * 4 + 64);
        assert!(from_base64(&huge).unwrap_err().contains("over"));
    }
}
