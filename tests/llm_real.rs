//! `send` against a real llama.cpp server (tests/llm/serve.sh, installed by
//! tests/llm/setup.sh, which `make test` starts and the first test waits for) with
//! SmolLM2-135M-Instruct. Checks statuses, answer shapes, streaming, structured output and
//! how the server's errors reach the user; never the model's words.

mod common;
mod llm_support;

use llm_support::{all_output, closed_port, read_json, send_to, Server};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        // `make test` starts tests/llm/setup.sh in the background. Running it again waits
        // for that run (it holds a lock while it installs) and returns at once when the
        // server is there, or installs it, so the server is never started half-installed.
        let setup = std::process::Command::new("bash")
            .arg(common::root().join("tests/llm/setup.sh"))
            .output()
            .expect("run tests/llm/setup.sh");
        assert!(
            setup.status.success(),
            "tests/llm/setup.sh failed:\n{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        let port = closed_port();
        let script = common::root().join("tests/llm/serve.sh");
        let cmd = Server::watchdog(
            Path::new("bash"),
            &[script.display().to_string(), port.to_string()],
        );
        Server::spawn_until_healthy(cmd, port, Duration::from_secs(60))
    })
}

fn send(provider: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let url = format!("http://127.0.0.1:{}", server().port);
    let mut args = vec!["--max-tokens", "160"];
    args.extend_from_slice(extra);
    send_to(
        "samples/shapes.png",
        provider,
        &url,
        "smollm2-135m",
        out,
        &args,
        &[],
    )
}

fn saved(out: &Path) -> Value {
    read_json(&out.join("samples/shapes.png.response.json"))
}

#[test]
fn chat_completions_stream_and_whole_agree_and_follow_the_schema() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let streamed = send("openai", a.path(), &[]);
    assert_eq!(streamed.status.code(), Some(0), "{}", all_output(&streamed));
    let whole = send("openai", b.path(), &["--no-stream"]);
    assert_eq!(whole.status.code(), Some(0), "{}", all_output(&whole));
    let (sa, sb) = (saved(a.path()), saved(b.path()));
    for s in [&sa, &sb] {
        assert_eq!(s["provider"], "openai");
        assert_eq!(s["status"], 200);
        assert!(
            s["usage"]["inputTokens"].as_u64().is_some_and(|n| n > 50),
            "{s}"
        );
        assert!(
            s["usage"]["outputTokens"].as_u64().is_some_and(|n| n > 0),
            "{s}"
        );
        assert!(
            s["responseId"]
                .as_str()
                .is_some_and(|r| r.starts_with("chatcmpl")),
            "{s}"
        );
        assert!(s["finishReason"].is_string(), "{s}");
        assert!(!s["text"].as_str().unwrap_or("").is_empty());
    }
    // Temperature 0 is deterministic, so streaming must deliver exactly the whole answer.
    assert_eq!(sa["text"], sb["text"]);
    assert_eq!(
        String::from_utf8_lossy(&streamed.stdout).trim(),
        sa["text"].as_str().unwrap_or("").trim()
    );
    // The schema went into response_format and the server's grammar enforced it, unless the
    // token cap cut the answer short, which the record must then say.
    if sa["finishReason"] == "stop" {
        assert_eq!(sa["answerValid"], true, "{sa}");
        assert!(sa["answer"]["claims"].is_array());
        assert!(sa["citations"].is_array() && sa["unresolvedCitations"].is_array());
    } else {
        assert_eq!(sa["finishReason"], "length");
        assert_eq!(sa["answerValid"], false);
        assert!(sa["validationErrors"]
            .as_array()
            .is_some_and(|v| !v.is_empty()));
    }
}

#[test]
fn responses_and_messages_apis_stream_and_answer_whole() {
    for provider in ["openai-responses", "anthropic"] {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let streamed = send(provider, a.path(), &["--answer-schema", "none"]);
        assert_eq!(
            streamed.status.code(),
            Some(0),
            "{provider}: {}",
            all_output(&streamed)
        );
        let whole = send(
            provider,
            b.path(),
            &["--answer-schema", "none", "--no-stream"],
        );
        assert_eq!(
            whole.status.code(),
            Some(0),
            "{provider}: {}",
            all_output(&whole)
        );
        let (sa, sb) = (saved(a.path()), saved(b.path()));
        for s in [&sa, &sb] {
            assert_eq!(s["provider"], provider);
            assert!(
                s["usage"]["inputTokens"].as_u64().is_some_and(|n| n > 50),
                "{provider}: {s}"
            );
            assert!(
                s["usage"]["outputTokens"].as_u64().is_some_and(|n| n > 0),
                "{provider}: {s}"
            );
            assert!(s["responseId"].is_string(), "{provider}: {s}");
            assert!(s.get("answerValid").is_none(), "no schema, no validation");
        }
        assert_eq!(
            sa["text"], sb["text"],
            "{provider}: stream and whole differ"
        );
        assert!(!sa["text"].as_str().unwrap_or("").is_empty());
    }
}

#[test]
fn server_errors_reach_the_user_in_its_own_words() {
    // Without a multimodal projector the server refuses images (with a 500, which is
    // retried, so the attempts are bounded here).
    let out = tempfile::tempdir().expect("tempdir");
    let o = send(
        "openai",
        out.path(),
        &[
            "--attach",
            "image",
            "--max-attempts",
            "2",
            "--retry-base-ms",
            "20",
            "--no-stream",
        ],
    );
    let text = all_output(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("image input is not supported"), "{text}");
    assert!(text.contains("after 2 attempts"), "{text}");
    assert!(
        out.path().join("samples/shapes.png.jsonld").is_file(),
        "fragments kept"
    );

    // llama.cpp has no Ollama API: a 404, not retried.
    let out = tempfile::tempdir().expect("tempdir");
    let o = send("ollama", out.path(), &[]);
    let text = all_output(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("404") && text.contains("File Not Found"),
        "{text}"
    );
    assert!(!text.contains("attempts"), "a 404 was retried: {text}");
}

#[test]
fn a_strict_schema_that_allows_only_shown_ids_gets_a_citation_resolved_to_its_selector() {
    // The server's grammar follows the schema, so even a tiny model can only cite ids the
    // prompt shows: the citation must come back resolved to that fragment's selector.
    let out = tempfile::tempdir().expect("tempdir");
    // The ids `send` will show: the golden document is what the default parameters make.
    let frag = read_json(&common::root().join("tests/golden/shapes.png.jsonld"));
    let ids: Vec<Value> = frag["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["body"]["regionId"].clone())
        .collect();
    assert!(!ids.is_empty());
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": 80},
            "claims": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "maxLength": 40},
                    "fragments": {"type": "array", "minItems": 1, "maxItems": 1,
                                  "items": {"enum": ids}}
                },
                "required": ["text", "fragments"],
                "additionalProperties": false
            }}
        },
        "required": ["answer", "claims"],
        "additionalProperties": false
    });
    let schema_path = out.path().join("ids.schema.json");
    std::fs::write(&schema_path, schema.to_string()).expect("write the schema");
    let o = send(
        "openai",
        out.path(),
        &[
            "--no-stream",
            "--answer-schema",
            &schema_path.display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let s = saved(out.path());
    assert_eq!(s["finishReason"], "stop", "{s}");
    assert_eq!(s["answerValid"], true, "{s}");
    let c = &s["citations"][0];
    let id = c["id"].as_str().expect("a citation");
    let item = frag["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["body"]["regionId"] == id)
        .expect("the cited region");
    assert_eq!(c["selector"], item["target"]["selector"]);
    assert_eq!(s["unresolvedCitations"], serde_json::json!([]));
}
