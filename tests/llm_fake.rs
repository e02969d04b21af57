//! `prompt` and `send` against the local fake server (tests/fake_llm.py): the wire shapes of
//! providers no real server here speaks, fault injection, attachments, secrets, resume,
//! batch limits and the token budget. All traffic stays on 127.0.0.1.

mod common;
mod llm_support;

use base64::Engine as _;
use llm_support::{
    all_output, assert_exit, closed_port, mm, mm_in, read_json, read_ndjson, send_to, Server,
};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

const KEY: &str = "sk-test-SECRET-7f3a9c51";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(Server::fake)
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("valid base64")
}

/// The key variable and the header that must carry it, per provider.
fn key_of(provider: &str) -> (&'static str, &'static str, String) {
    match provider {
        "anthropic" => ("ANTHROPIC_API_KEY", "x-api-key", KEY.into()),
        "gemini" => ("GEMINI_API_KEY", "x-goog-api-key", KEY.into()),
        "ollama" => ("OLLAMA_KEY_UNUSED", "authorization", String::new()),
        _ => ("OPENAI_API_KEY", "authorization", format!("Bearer {KEY}")),
    }
}

fn send(provider: &str, seg: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    send_file("samples/shapes.png", provider, seg, out, extra)
}

/// Sends `input` to scenario `seg` with the provider's key set; the run must succeed, and
/// the body the fake server received is returned.
fn send_ok_body(input: &str, provider: &str, seg: &str, extra: &[&str]) -> Value {
    let out = tempfile::tempdir().expect("tempdir");
    let o = send_file(input, provider, seg, out.path(), extra);
    assert_eq!(o.status.code(), Some(0), "{provider}: {}", all_output(&o));
    server().recorded(seg).0[0]["body"].clone()
}

fn send_file(
    input: &str,
    provider: &str,
    seg: &str,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let (var, _, _) = key_of(provider);
    send_to(
        input,
        provider,
        &server().url(seg),
        "fake-model",
        out,
        extra,
        &[(var, KEY)],
    )
}

/// `mmprompt prompt ARGS --provider P --model M` (a dry run: nothing is sent, so the
/// endpoint is a dead local port).
fn dry_run(
    provider: &str,
    model: &str,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut all = vec!["prompt"];
    all.extend_from_slice(args);
    all.extend([
        "--provider",
        provider,
        "--model",
        model,
        "--endpoint",
        "http://127.0.0.1:9",
    ]);
    mm(&all, cwd, env)
}

fn assert_no_key_anywhere(o: &std::process::Output, out: &Path) {
    assert!(!all_output(o).contains(KEY), "key leaked to the terminal");
    // A run that failed early may not have made `out`: then it holds no key either.
    let files = if out.exists() {
        common::walk_files(out)
    } else {
        Vec::new()
    };
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        assert!(!text.contains(KEY), "key leaked into {}", f.display());
    }
}

#[test]
fn every_provider_streams_and_answers_whole_and_saves_the_result() {
    for provider in [
        "openai",
        "openai-responses",
        "ollama",
        "anthropic",
        "gemini",
    ] {
        for stream in [true, false] {
            let seg = format!("ok.{provider}-{stream}");
            let out = tempfile::tempdir().expect("tempdir");
            let extra: &[&str] = if stream { &[] } else { &["--no-stream"] };
            let o = send(provider, &seg, out.path(), extra);
            let what = format!("{provider} stream={stream}: {}", all_output(&o));
            assert_eq!(o.status.code(), Some(0), "{what}");
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("fake answer"),
                "{what}"
            );

            let saved = read_json(&out.path().join("samples/shapes.png.response.json"));
            assert_eq!(saved["provider"], provider, "{what}");
            assert_eq!(saved["model"], "fake-model");
            assert!(
                saved["requestId"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("req-fake")),
                "{what}"
            );
            assert_eq!(saved["usage"]["inputTokens"], 11, "{what}");
            assert_eq!(saved["usage"]["outputTokens"], 7, "{what}");
            assert_eq!(saved["attempts"], 1);
            assert!(saved["latencyMs"].is_u64());
            assert_eq!(saved["answerValid"], true, "{what}");
            assert_eq!(saved["answer"]["answer"], "fake answer");
            // The fake cites r1 (the first id in the prompt) and a made-up zz9.
            let cit = &saved["citations"][0];
            assert_eq!(cit["id"], "r1", "{what}");
            assert_eq!(cit["source"], "samples/shapes.png");
            let frag = read_json(&out.path().join("samples/shapes.png.jsonld"));
            assert_eq!(cit["selector"], frag["items"][0]["target"]["selector"]);
            assert_eq!(saved["unresolvedCitations"], serde_json::json!(["zz9"]));
            if provider != "gemini" && provider != "ollama" {
                assert!(saved["responseId"].is_string(), "{what}");
            }

            let (reqs, _) = server().recorded(&seg);
            assert_eq!(reqs.len(), 1, "{what}");
            let r = &reqs[0];
            let path = r["path"].as_str().unwrap_or("");
            let expect_path = match (provider, stream) {
                ("openai", _) => "/v1/chat/completions".to_string(),
                ("openai-responses", _) => "/v1/responses".into(),
                ("ollama", _) => "/api/chat".into(),
                ("anthropic", _) => "/v1/messages".into(),
                (_, true) => "/v1beta/models/fake-model:streamGenerateContent?alt=sse".into(),
                (_, false) => "/v1beta/models/fake-model:generateContent".into(),
            };
            assert_eq!(path, expect_path, "{what}");
            let (_, header, value) = key_of(provider);
            let headers: std::collections::HashMap<String, String> = r["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()))
                .collect();
            if !value.is_empty() {
                assert_eq!(headers.get(header), Some(&value), "{what}");
            }
            if provider == "anthropic" {
                assert_eq!(
                    headers.get("anthropic-version").map(String::as_str),
                    Some("2023-06-01")
                );
            }
            // The answer schema sits in each provider's structured-output slot.
            let body = &r["body"];
            let schema = match provider {
                "openai" => &body["response_format"]["json_schema"]["schema"],
                "openai-responses" => &body["text"]["format"]["schema"],
                "ollama" => &body["format"],
                "anthropic" => &body["output_config"]["format"]["schema"],
                _ => &body["generationConfig"]["responseJsonSchema"],
            };
            assert_eq!(
                schema["required"],
                serde_json::json!(["answer", "claims"]),
                "{what}"
            );
            // The default schema meets OpenAI's strict mode, and OpenAI is told so.
            let strict = match provider {
                "openai" => &body["response_format"]["json_schema"]["strict"],
                "openai-responses" => &body["text"]["format"]["strict"],
                _ => &Value::Bool(true),
            };
            assert_eq!(strict, &Value::Bool(true), "{what}");
            // The made-up citation is said out loud, once.
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(
                stderr
                    .lines()
                    .filter(|l| l.contains("match no fragment shown: \"zz9\""))
                    .count(),
                1,
                "{what}"
            );
            assert_no_key_anywhere(&o, out.path());
        }
    }
}

fn times(reqs: &[Value]) -> Vec<f64> {
    reqs.iter()
        .map(|r| r["t"].as_f64().unwrap_or(0.0))
        .collect()
}

#[test]
fn retries_honour_retry_after_and_back_off() {
    // 429 with Retry-After in seconds, then as an HTTP date: the second attempt waits.
    for (seg, min_gap) in [("retry429.a", 0.95), ("retrydate.a", 0.95)] {
        let out = tempfile::tempdir().expect("tempdir");
        let o = send("openai", seg, out.path(), &["--no-stream"]);
        assert_eq!(o.status.code(), Some(0), "{seg}: {}", all_output(&o));
        let saved = read_json(&out.path().join("samples/shapes.png.response.json"));
        assert_eq!(saved["attempts"], 2, "{seg}");
        // The wait is told on stderr, with the status and how long, without --verbose.
        let stderr = String::from_utf8_lossy(&o.stderr);
        let told: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("attempt 1 failed (the server answered 429"))
            .collect();
        assert_eq!(told.len(), 1, "{seg}: {stderr}");
        let wait: f64 = told[0]
            .rsplit("retrying in ")
            .next()
            .and_then(|w| w.strip_suffix(" s"))
            .and_then(|w| w.parse().ok())
            .expect("the wait in seconds");
        // Retry-After: 1, plus at most the jitter.
        assert!((0.95..3.0).contains(&wait), "{}", told[0]);
        let t = times(&server().recorded(seg).0);
        assert!(
            t[1] - t[0] >= min_gap,
            "{seg}: waited only {}s",
            t[1] - t[0]
        );
    }
    // Two 500s then success; a reset connection then success.
    for (seg, attempts) in [("flaky500.a", 3), ("reset.a", 2)] {
        let out = tempfile::tempdir().expect("tempdir");
        let o = send(
            "openai",
            seg,
            out.path(),
            &["--no-stream", "--retry-base-ms", "20"],
        );
        assert_eq!(o.status.code(), Some(0), "{seg}: {}", all_output(&o));
        let saved = read_json(&out.path().join("samples/shapes.png.response.json"));
        assert_eq!(saved["attempts"], attempts, "{seg}");
    }
    // A 500 that never heals: bounded attempts, a clear error, a manifest record.
    let out = tempfile::tempdir().expect("tempdir");
    let o = send(
        "openai",
        "always500.a",
        out.path(),
        &[
            "--no-stream",
            "--retry-base-ms",
            "20",
            "--max-attempts",
            "3",
        ],
    );
    let text = all_output(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("500") && text.contains("still broken") && text.contains("after 3 attempts"),
        "{text}"
    );
    assert_eq!(server().recorded("always500.a").0.len(), 3);
    let m = read_ndjson(&out.path().join("send.ndjson"));
    assert_eq!(m.last().map(|l| l["status"].clone()), Some("error".into()));
    assert_eq!(
        m.last().map(|l| l["error"]["kind"].clone()),
        Some("http_status".into())
    );
    // The fragments are kept for a later run.
    assert!(out.path().join("samples/shapes.png.jsonld").is_file());
}

#[test]
fn errors_that_must_not_be_retried_fail_once_with_the_servers_words() {
    for (provider, seg, words) in [
        ("openai", "e413.a", "413"),
        ("openai", "e401.a", "401"),
        ("anthropic", "spend.a", "spend limit"),
        ("openai", "retrylong.a", "retry after 3600s"),
        ("openai", "okerror.a", "model overloaded"),
    ] {
        let out = tempfile::tempdir().expect("tempdir");
        let o = send(
            provider,
            seg,
            out.path(),
            &["--no-stream", "--retry-base-ms", "20"],
        );
        let text = all_output(&o);
        assert_eq!(o.status.code(), Some(2), "{seg}: {text}");
        assert!(text.contains(words), "{seg}: {text}");
        assert_eq!(server().recorded(seg).0.len(), 1, "{seg} was retried");
        assert!(!out.path().join("samples/shapes.png.response.json").exists());
        // e401 echoes the key back; it must be redacted everywhere.
        assert_no_key_anywhere(&o, out.path());
    }
}

#[test]
fn broken_streams_end_with_a_clear_error() {
    for (provider, seg, words, extra) in [
        ("openai", "malformed.a", "malformed", vec![]),
        (
            "ollama",
            "midstream.a",
            "model runner has unexpectedly stopped",
            vec![],
        ),
        ("openai", "slow.a", "timed out", vec!["--timeout", "1"]),
    ] {
        let out = tempfile::tempdir().expect("tempdir");
        let o = send(provider, seg, out.path(), &extra);
        let text = all_output(&o);
        assert_eq!(o.status.code(), Some(2), "{seg}: {text}");
        assert!(text.contains(words), "{seg}: {text}");
        let m = read_ndjson(&out.path().join("send.ndjson"));
        assert_eq!(m[0]["status"], "error", "{seg}");
    }
}

#[test]
fn secrets_never_reach_dry_runs_traces_or_files() {
    let out = tempfile::tempdir().expect("tempdir");
    let url = server().url("ok.secret");
    let o = mm(
        &[
            "prompt",
            "samples/shapes.png",
            "--provider",
            "openai",
            "--endpoint",
            &url,
            "--model",
            "m",
        ],
        out.path(),
        &[("OPENAI_API_KEY", KEY)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("dry run prints JSON");
    assert_eq!(report["headers"]["authorization"], "[redacted]");
    assert!(!all_output(&o).contains(KEY));
    assert!(
        server().recorded("ok.secret").0.is_empty(),
        "a dry run sent a request"
    );

    let o = send("openai", "ok.verbose", out.path(), &["--verbose"]);
    let text = all_output(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("> authorization: [redacted]"), "{text}");
    assert!(text.contains("< 200"), "{text}");
    assert_no_key_anywhere(&o, out.path());

    let o = send("openai", "e401.verbose", out.path(), &["--verbose"]);
    assert_exit(&o, 2, "invalid api key: Bearer [redacted]");
    assert_no_key_anywhere(&o, out.path());
}

#[test]
fn a_failed_send_is_picked_up_later_and_a_done_one_is_skipped() {
    let out = tempfile::tempdir().expect("tempdir");
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let run = |url: &str, more: &[&str]| {
        let mut extra = vec!["--retry-base-ms", "20", "--max-attempts", "2"];
        extra.extend_from_slice(more);
        send_to(
            "samples/shapes.png",
            "openai",
            url,
            "m",
            out.path(),
            &extra,
            &[],
        )
    };
    let o = run(&dead, &[]);
    assert_exit(&o, 2, "cannot reach");
    assert!(out.path().join("samples/shapes.png.jsonld").is_file());

    let url = server().url("ok.resume");
    let o = run(&url, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(out
        .path()
        .join("samples/shapes.png.response.json")
        .is_file());
    let o = run(&url, &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(all_output(&o).contains("up to date"), "{}", all_output(&o));
    assert_eq!(
        server().recorded("ok.resume").0.len(),
        1,
        "an up-to-date request was sent again"
    );
    let o = run(&url, &["--force"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(server().recorded("ok.resume").0.len(), 2);

    let statuses: Vec<String> = read_ndjson(&out.path().join("send.ndjson"))
        .iter()
        .map(|l| l["status"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(statuses, ["error", "ok", "skipped", "ok"]);
}

#[test]
fn batch_sends_respect_the_concurrency_and_rate_limits() {
    let out = tempfile::tempdir().expect("tempdir");
    let url = server().url("slowok.batch");
    let o = mm(
        &[
            "send",
            "samples/shapes.png",
            "samples/nested.png",
            "samples/coins.png",
            "samples/chelsea.png",
            "--each",
            "--concurrency",
            "2",
            "--rate",
            "300",
            "--provider",
            "openai",
            "--endpoint",
            &url,
            "--model",
            "m",
            "--out",
            out.path().to_str().expect("utf-8"),
        ],
        out.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    for f in ["shapes.png", "nested.png", "coins.png", "chelsea.png"] {
        assert!(
            out.path()
                .join(format!("samples/{f}.response.json"))
                .is_file(),
            "{f}"
        );
    }
    let (reqs, peak) = server().recorded("slowok.batch");
    assert_eq!(reqs.len(), 4);
    assert!(peak <= 2, "{peak} requests in flight with --concurrency 2");
    // 300 per minute: starts at least 0.2 s apart.
    let mut t = times(&reqs);
    t.sort_by(f64::total_cmp);
    for w in t.windows(2) {
        assert!(
            w[1] - w[0] >= 0.18,
            "requests started {}s apart",
            w[1] - w[0]
        );
    }
}

#[test]
fn images_and_audio_are_attached_fitted_to_each_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A 3000x1500 gradient: must arrive as 2048x1024, same picture.
    let big = image::RgbImage::from_fn(3000, 1500, |x, y| {
        image::Rgb([(x * 255 / 2999) as u8, (y * 255 / 1499) as u8, 128])
    });
    let big_path = dir.path().join("big.png");
    big.save(&big_path).expect("save");
    // 44.1 kHz stereo audio: must arrive as 16 kHz mono WAV of the same duration.
    let wav_path = dir.path().join("tone.wav");
    {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav_path, spec).expect("wav");
        for i in 0..44_100u32 {
            let s = ((i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 12000.0) as i16;
            w.write_sample(s).expect("sample");
            w.write_sample(s).expect("sample");
        }
        w.finalize().expect("finalize");
    }
    let bigs = big_path.to_str().expect("utf-8");
    let wavs = wav_path.to_str().expect("utf-8");
    let check_image = |bytes: &[u8], what: &str| {
        let img = image::load_from_memory(bytes)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .to_rgb8();
        assert_eq!(img.dimensions(), (2048, 1024), "{what}");
        // Same picture: compare with the source sampled at the same relative spots.
        for (fx, fy) in [(0.1, 0.1), (0.5, 0.5), (0.9, 0.8)] {
            let a = img.get_pixel((fx * 2047.0) as u32, (fy * 1023.0) as u32);
            let b = big.get_pixel((fx * 2999.0) as u32, (fy * 1499.0) as u32);
            for c in 0..3 {
                assert!(
                    (a[c] as i32 - b[c] as i32).abs() <= 3,
                    "{what}: {a:?} vs {b:?}"
                );
            }
        }
    };
    let check_wav = |bytes: &[u8], what: &str| {
        let r = hound::WavReader::new(std::io::Cursor::new(bytes))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let s = r.spec();
        assert_eq!(
            (s.sample_rate, s.channels, s.bits_per_sample),
            (16_000, 1, 16),
            "{what}"
        );
        assert_eq!(r.duration(), 16_000, "{what}: one second at 16 kHz");
    };
    for provider in [
        "openai",
        "openai-responses",
        "ollama",
        "anthropic",
        "gemini",
    ] {
        let seg = format!("ok.attach-{provider}");
        let body = &send_ok_body(bigs, provider, &seg, &["--attach", "image", "--no-stream"]);
        let (payload, mime) = match provider {
            "openai" => {
                let url = body["messages"][1]["content"][1]["image_url"]["url"]
                    .as_str()
                    .unwrap_or("");
                let (head, data) = url.split_once(";base64,").expect("a data: URL");
                (
                    data.to_string(),
                    head.trim_start_matches("data:").to_string(),
                )
            }
            "openai-responses" => {
                let url = body["input"][0]["content"][1]["image_url"]
                    .as_str()
                    .unwrap_or("");
                let (head, data) = url.split_once(";base64,").expect("a data: URL string");
                (
                    data.to_string(),
                    head.trim_start_matches("data:").to_string(),
                )
            }
            "ollama" => {
                let d = body["messages"][1]["images"][0].as_str().unwrap_or("");
                assert!(!d.starts_with("data:"), "ollama takes raw base64");
                (d.to_string(), "image/png".to_string())
            }
            "anthropic" => {
                let src = &body["messages"][0]["content"][0]["source"];
                assert_eq!(src["type"], "base64");
                (
                    src["data"].as_str().unwrap_or("").into(),
                    src["media_type"].as_str().unwrap_or("").into(),
                )
            }
            _ => {
                let d = &body["contents"][0]["parts"][1]["inline_data"];
                (
                    d["data"].as_str().unwrap_or("").into(),
                    d["mime_type"].as_str().unwrap_or("").into(),
                )
            }
        };
        assert_eq!(mime, "image/png", "{provider}");
        check_image(&b64(&payload), provider);
        // The boxes are in the frame of the image sent, in the provider's convention.
        let text = body.to_string();
        assert!(
            text.contains("w=2048,h=1024,regions=") && text.contains("original=3000x1500"),
            "{provider}"
        );
        assert_eq!(
            text.contains(",box_2d=["),
            provider == "gemini",
            "{provider}"
        );
        assert!(
            text.contains("is attached at 2048x1024 pixels"),
            "{provider}"
        );
    }
    // Set-of-Mark: Anthropic gets the image with marks and the audio as a spectrogram.
    let body = &send_ok_body(
        wavs,
        "anthropic",
        "ok.marked-anthropic",
        &["--attach", "marked", "--no-stream"],
    );
    let src = &body["messages"][0]["content"][0]["source"];
    assert_eq!(src["media_type"], "image/png");
    let spectrogram =
        image::load_from_memory(&b64(src["data"].as_str().unwrap_or(""))).expect("a PNG");
    assert!(spectrogram.width() >= 200);
    assert!(body.to_string().contains("the audio's spectrogram"));
    // Audio: OpenAI chat (input_audio, raw base64) and Gemini (inline_data) take it.
    for provider in ["openai", "gemini"] {
        let seg = format!("ok.audio-{provider}");
        let body = &send_ok_body(wavs, provider, &seg, &["--attach", "audio", "--no-stream"]);
        let data = if provider == "openai" {
            let a = &body["messages"][1]["content"][1]["input_audio"];
            assert_eq!(a["format"], "wav");
            a["data"].as_str().unwrap_or("").to_string()
        } else {
            let d = &body["contents"][0]["parts"][1]["inline_data"];
            assert_eq!(d["mime_type"], "audio/wav");
            d["data"].as_str().unwrap_or("").to_string()
        };
        check_wav(&b64(&data), provider);
    }
    // Providers without audio say so: an error for --attach audio, a note for --attach all.
    for provider in ["ollama", "anthropic", "openai-responses"] {
        let (var, _, _) = key_of(provider);
        let o = dry_run(
            provider,
            "m",
            &[wavs, "--attach", "audio"],
            dir.path(),
            &[(var, KEY)],
        );
        assert_eq!(o.status.code(), Some(2), "{provider}");
        assert!(
            all_output(&o).contains("does not accept audio"),
            "{provider}: {}",
            all_output(&o)
        );
        let o = dry_run(
            provider,
            "m",
            &[wavs, bigs, "--attach", "all"],
            dir.path(),
            &[(var, KEY)],
        );
        assert_eq!(o.status.code(), Some(0), "{provider}: {}", all_output(&o));
        let report: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(report["attachments"][0]["attached"], false, "{provider}");
        assert!(report["attachments"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("audio"));
        assert_eq!(report["attachments"][1]["attached"], true, "{provider}");
    }
    // The body cap: images shrink to fit; audio cannot, so it is refused.
    let o = dry_run(
        "openai",
        "m",
        &[bigs, "--attach", "image", "--max-body-mb", "0.2"],
        dir.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(report["bodyBytes"].as_u64().unwrap_or(u64::MAX) <= 200_000);
    let o = dry_run(
        "openai",
        "m",
        &[wavs, "--attach", "audio", "--max-body-mb", "0.01"],
        dir.path(),
        &[],
    );
    assert_exit(&o, 2, "over the 10000-byte cap");
}

#[test]
fn the_token_budget_keeps_the_most_salient_fragments() {
    let home = tempfile::tempdir().expect("tempdir");
    let dry = |budget: Option<&str>| {
        let mut args = vec!["samples/coins.png"];
        if let Some(b) = budget {
            args.extend(["--max-prompt-tokens", b]);
        }
        dry_run("openai", "gpt-4o", &args, home.path(), &[])
    };
    let full = dry(None);
    assert_eq!(full.status.code(), Some(0), "{}", all_output(&full));
    let full: Value = serde_json::from_slice(&full.stdout).expect("JSON");
    let all_tokens = full["tokens"]["count"].as_u64().expect("count") as usize;
    let budget = all_tokens * 2 / 3;
    let o = dry(Some(&budget.to_string()));
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let count = r["tokens"]["count"].as_u64().expect("count") as usize;
    assert!(
        count <= budget && count > budget / 2,
        "{count} tokens for a budget of {budget}"
    );
    let dropped: Vec<String> = r["tokens"]["dropped"]
        .as_array()
        .expect("dropped")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    assert!(!dropped.is_empty());
    assert!(all_output(&o).contains(&format!("{} dropped", dropped.len())));
    // Kept fragments are exactly the most salient ones: every kept region outranks every
    // dropped one (salience read from the document itself).
    let doc = common::document_for(
        Path::new("samples/coins.png"),
        &mmprompt::vision::pipeline::ImageParams::default(),
        mmprompt::doc::ContextMode::Reference,
    );
    let salience = |id: &str| {
        doc["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|a| a["body"]["regionId"] == id)
            .and_then(|a| a["body"]["salience"].as_f64())
            .expect("salience")
    };
    let user = r["body"]["messages"][1]["content"]
        .as_str()
        .expect("user text");
    let kept: Vec<String> = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["body"]["regionId"].as_str().unwrap_or("").to_string())
        .filter(|id| user.contains(&format!("id={id},")))
        .collect();
    assert_eq!(
        kept.len() + dropped.len(),
        doc["items"].as_array().map_or(0, Vec::len)
    );
    let min_kept = kept
        .iter()
        .map(|k| salience(k))
        .fold(f64::INFINITY, f64::min);
    let max_dropped = dropped
        .iter()
        .map(|d| salience(d))
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        min_kept >= max_dropped,
        "kept {min_kept} < dropped {max_dropped}"
    );

    let o = dry(Some("50"));
    assert_exit(&o, 2, "before any fragment");
}

#[test]
fn profiles_several_inputs_and_documents_written_earlier() {
    let work = tempfile::tempdir().expect("tempdir");
    let url = server().url("ok.profile");
    std::fs::write(
        work.path().join("mmprompt.toml"),
        format!("default = \"fake\"\n[profiles.fake]\nprovider = \"anthropic\"\nendpoint = \"{url}\"\nmodel = \"from-profile\"\napi_key_env = \"MY_KEY\"\n"),
    )
    .expect("write config");
    let shapes = common::root().join("samples/shapes.png");
    let speech = common::root().join("samples/audio/speech_front_center.wav");
    let out = work.path().join("out");
    // The profile from ./mmprompt.toml, with --model overriding it; two inputs in one prompt.
    let o = mm_in(
        &[
            "send",
            shapes.to_str().expect("utf-8"),
            speech.to_str().expect("utf-8"),
            "--model",
            "flag-model",
            "--out",
            "out",
        ],
        work.path(),
        work.path(),
        &[("MY_KEY", KEY)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let (reqs, _) = server().recorded("ok.profile");
    let body = &reqs[0]["body"];
    assert_eq!(body["model"], "flag-model");
    let text = body["messages"][0]["content"][0]["text"]
        .as_str()
        .expect("text part");
    assert!(
        text.contains("[m1] image:") && text.contains("[m2] audio:"),
        "{text}"
    );
    assert!(
        text.contains("id=m1.r1,") && text.contains("id=m2.s1,"),
        "{text}"
    );
    let responses: Vec<_> = common::walk_files(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".response.json"))
        .collect();
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert!(responses[0]
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("prompt-")));
    let saved = read_json(&responses[0]);
    assert_eq!(saved["citations"][0]["id"], "m1.r1");
    assert_eq!(
        saved["citations"][0]["source"],
        shapes.to_str().expect("utf-8")
    );

    // A .jsonld written by `extract` goes in as is; the answer lands beside it.
    let ex = work.path().join("ex");
    let o = mm_in(
        &[
            "extract",
            "samples/nested.png",
            "--out",
            ex.to_str().expect("utf-8"),
        ],
        &common::root(),
        work.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let doc = ex.join("samples/nested.png.jsonld");
    let o = mm_in(
        &["send", doc.to_str().expect("utf-8"), "--out", "out"],
        work.path(),
        work.path(),
        &[("MY_KEY", KEY)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(ex.join("samples/nested.png.response.json").is_file());

    // A missing profile names the ones that exist; a bad document is refused by name.
    let o = mm_in(
        &["prompt", doc.to_str().expect("utf-8"), "--profile", "nope"],
        work.path(),
        work.path(),
        &[],
    );
    assert_exit(&o, 1, "no profile \"nope\"");
    assert_exit(&o, 1, "fake");
    let bad = work.path().join("bad.jsonld");
    std::fs::write(&bad, "{\"hello\": 1}").expect("write");
    let o = mm_in(
        &["prompt", bad.to_str().expect("utf-8")],
        work.path(),
        work.path(),
        &[],
    );
    assert_exit(&o, 2, "bad.jsonld: not an mmprompt document");
    // A remote endpoint without its key is refused before anything is sent.
    let o = mm(
        &[
            "send",
            doc.to_str().expect("utf-8"),
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--endpoint",
            "https://api.example.invalid",
        ],
        work.path(),
        &[],
    );
    assert_exit(&o, 2, "OPENAI_API_KEY is not set");
}

#[test]
fn proxies_come_from_the_environment_and_no_proxy_is_honoured() {
    let out = tempfile::tempdir().expect("tempdir");
    let proxy = format!("http://127.0.0.1:{}", server().port);
    // Through the proxy: the fake server is the proxy too, and records the CONNECT target.
    let o = send_to(
        "samples/shapes.png",
        "openai",
        "http://llm.proxied.test/s/ok.viaproxy",
        "m",
        out.path(),
        &["--no-stream"],
        &[
            ("HTTP_PROXY", &proxy),
            ("HTTPS_PROXY", &proxy),
            ("OPENAI_API_KEY", KEY),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    let (connects, _) = server().recorded("_connect");
    assert!(
        connects.iter().any(|c| c["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("llm.proxied.test"))),
        "{connects:?}"
    );
    assert_eq!(server().recorded("ok.viaproxy").0.len(), 1);
    // NO_PROXY: the proxy is dead, but 127.0.0.1 is reached directly.
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let url = server().url("ok.noproxy");
    let o = send_to(
        "samples/shapes.png",
        "openai",
        &url,
        "m",
        out.path(),
        &["--no-stream", "--force"],
        &[("HTTP_PROXY", &dead), ("NO_PROXY", "localhost,127.0.0.1")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert_eq!(server().recorded("ok.noproxy").0.len(), 1);
}

#[test]
fn jsonld_fragments_carry_the_documents_within_the_budget() {
    let home = tempfile::tempdir().expect("tempdir");
    let dry = |budget: &str| {
        let args = [
            "samples/shapes.png",
            "--fragments",
            "jsonld",
            "--max-prompt-tokens",
            budget,
        ];
        let o = dry_run("gemini", "g", &args, home.path(), &[]);
        assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
        serde_json::from_slice::<Value>(&o.stdout).expect("JSON")
    };
    let r = dry("100000");
    let user = r["body"]["contents"][0]["parts"][0]["text"]
        .as_str()
        .expect("text")
        .to_string();
    let json_start = user
        .find("{\"@context\"")
        .expect("a JSON-LD document in the prompt");
    let doc: Value = serde_json::Deserializer::from_str(&user[json_start..])
        .into_iter::<Value>()
        .next()
        .expect("one document")
        .expect("valid JSON");
    assert_eq!(doc["type"], "AnnotationPage");
    assert_eq!(doc["items"].as_array().map(Vec::len), Some(4));
    assert!(doc["items"][0]["target"]["selector"]["value"]
        .as_str()
        .unwrap_or("")
        .starts_with("xywh="));
    let full = r["tokens"]["count"].as_u64().expect("count");
    let r = dry(&(full - 60).to_string());
    assert!(r["tokens"]["count"].as_u64().expect("count") <= full - 60);
    assert!(!r["tokens"]["dropped"]
        .as_array()
        .expect("dropped")
        .is_empty());
}

#[test]
fn an_answer_that_breaks_the_schema_is_recorded_and_fails_under_strict() {
    let out = tempfile::tempdir().expect("tempdir");
    let o = send("openai", "notjson.a", out.path(), &["--no-stream"]);
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
    assert!(all_output(&o).contains("does not match the answer schema"));
    let saved = read_json(&out.path().join("samples/shapes.png.response.json"));
    assert_eq!(saved["answerValid"], false);
    assert_eq!(saved["text"], "just some words");
    assert!(saved["validationErrors"][0]
        .as_str()
        .unwrap_or("")
        .contains("not JSON"));
    let o = send(
        "openai",
        "notjson.b",
        out.path(),
        &["--no-stream", "--strict", "--force"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
}

#[test]
fn live_sessions_send_windows_of_recent_segments() {
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("mmprompt.toml");
    let url = server().url("ok.live");
    std::fs::write(
        &cfg,
        format!("[profiles.fake]\nprovider = \"openai\"\nendpoint = \"{url}\"\nmodel = \"m\"\n"),
    )
    .expect("config");
    let out = work.path().join("answers");
    let (cfg_s, out_s) = (cfg.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    // One window per closed speech segment.
    let o = mm(
        &[
            "live",
            "--input",
            "samples/audio/speech_front_left.wav",
            "--realtime",
            "--send",
            "fake",
            "--on",
            "speech",
            "--config",
            cfg_s,
            "--send-out",
            out_s,
        ],
        work.path(),
        &[],
    );
    let text = all_output(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    let speech = lines
        .iter()
        .filter(|l| l["body"]["value"] == "voice:speech")
        .count();
    assert!(speech >= 1, "{text}");
    let (reqs, _) = server().recorded("ok.live");
    assert_eq!(reqs.len(), speech, "{text}");
    let user = reqs[0]["body"]["messages"][1]["content"]
        .as_str()
        .expect("user text");
    assert!(
        user.contains("label=voice:speech") && user.contains("audio:[file=\"live:"),
        "{user}"
    );
    let saved = read_json(&out.join("live-w1.response.json"));
    assert_eq!(saved["answerValid"], true);
    assert_eq!(saved["citations"][0]["id"], "s1");
    assert!(
        text.contains(&format!("sent {speech} of {speech} windows")),
        "{text}"
    );
    let manifest = read_ndjson(&out.join("send.ndjson"));
    assert_eq!(manifest.len(), speech);

    // A rolling window every half second of a 6 s recording.
    let out2 = work.path().join("answers2");
    let url2 = server().url("ok.live-every");
    std::fs::write(
        &cfg,
        format!("[profiles.fake]\nprovider = \"openai\"\nendpoint = \"{url2}\"\nmodel = \"m\"\n"),
    )
    .expect("config");
    let o = mm(
        &[
            "live",
            "--input",
            "samples/audio/music_alarm_clock.wav",
            "--realtime",
            "--send",
            "fake",
            "--every",
            "0.5",
            "--window",
            "2",
            "--config",
            cfg_s,
            "--send-out",
            out2.to_str().expect("utf-8"),
        ],
        work.path(),
        &[],
    );
    let text = all_output(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let sent = server().recorded("ok.live-every").0.len();
    assert!(sent >= 4, "{sent} windows in 6 s: {text}");
    for r in server().recorded("ok.live-every").0 {
        let user = r["body"]["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        // Only segments of the last 2 s are in a window.
        let header = user
            .lines()
            .find(|l| l.starts_with("audio:["))
            .unwrap_or("");
        let dur: f64 = header
            .split("duration=")
            .nth(1)
            .and_then(|d| d.split(',').next())
            .and_then(|d| d.parse().ok())
            .expect("duration");
        assert!(dur <= 2.0 + 1.5, "window of {dur} s: {header}");
    }

    // --send needs a trigger, and an unknown profile is a usage error.
    let o = mm(
        &["live", "--input", "x.wav", "--realtime", "--send", "fake"],
        work.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", all_output(&o));
    let o = mm(
        &[
            "live",
            "--input",
            "samples/audio/speech_front_left.wav",
            "--realtime",
            "--send",
            "nope",
            "--on",
            "speech",
            "--config",
            cfg_s,
        ],
        work.path(),
        &[],
    );
    assert_exit(&o, 1, "no profile \"nope\"");
}
