//! Helpers for the endpoint tests: a clean environment for the binary (no keys, proxies or
//! config files leaking in from the machine), and servers started as child processes that
//! are killed when the test ends.
#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Variables the binary must not inherit from the machine.
const SCRUB: [&str; 12] = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MMPROMPT_CONFIG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// `mmprompt ARGS` run from the project root with a scrubbed environment, its config home
/// in `home`, and `env` added.
pub fn mm(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Output {
    mm_in(args, &crate::common::root(), home, env)
}

/// [`mm`] with another working directory.
pub fn mm_in(args: &[&str], cwd: &Path, home: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = crate::common::mmprompt();
    c.args(args).current_dir(cwd).stdin(Stdio::null());
    for v in SCRUB {
        c.env_remove(v);
    }
    c.env("XDG_CONFIG_HOME", home).env("HOME", home);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

/// `mmprompt send INPUT --provider P --endpoint URL --model M --out OUT EXTRA...`, run with
/// `env`, its config home in OUT.
pub fn send_to(
    input: &str,
    provider: &str,
    url: &str,
    model: &str,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let out_s = out.to_str().expect("utf-8 path");
    let mut args = vec![
        "send",
        input,
        "--provider",
        provider,
        "--endpoint",
        url,
        "--model",
        model,
        "--out",
        out_s,
    ];
    args.extend_from_slice(extra);
    mm(&args, out, env)
}

/// Everything a run printed, stdout then stderr.
pub fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts that `o` exited with `code` and said `needle` on stdout or stderr.
pub fn assert_exit(o: &Output, code: i32, needle: &str) {
    let all = all_output(o);
    assert_eq!(o.status.code(), Some(code), "{all}");
    assert!(all.contains(needle), "expected {needle:?} in:\n{all}");
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of an NDJSON file.
pub fn read_ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("manifest line is JSON"))
        .collect()
}

/// A server child process, killed on drop.
pub struct Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the fake server (tests/fake_llm.py), which prints its port when ready.
    pub fn fake() -> Self {
        let script = crate::common::root().join("tests/fake_llm.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the fake server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fake server prints its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the fake server: {line:?}"));
        Server { child, port }
    }

    /// Starts a command that serves HTTP on `port`, and waits (bounded) until `GET
    /// /health` answers 200. The command gets a pipe on stdin that closes when this process
    /// ends, however it ends ([`Server::watchdog`] turns that into the server's end), since
    /// a static server is never dropped.
    pub fn spawn_until_healthy(mut cmd: Command, port: u16, deadline: Duration) -> Self {
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let mut server = Server { child, port };
        let start = Instant::now();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited before it was healthy: {status}");
            }
            let ok = agent
                .get(&format!("http://127.0.0.1:{port}/health"))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return server;
            }
            assert!(
                start.elapsed() < deadline,
                "the server was not healthy within {deadline:?}"
            );
            // Polling a condition with a deadline, not a sleep standing in for it.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wraps `program args` so it is killed when its stdin closes.
    pub fn watchdog(program: &Path, args: &[String]) -> Command {
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg("\"$@\" </dev/null & pid=$!; read -r _; kill $pid 2>/dev/null; wait $pid")
            .arg("watchdog")
            .arg(program)
            .args(args);
        c
    }

    /// Base URL of a scenario on the fake server.
    pub fn url(&self, segment: &str) -> String {
        format!("http://127.0.0.1:{}/s/{segment}", self.port)
    }

    /// Requests the fake server recorded for `segment`, and the peak concurrency.
    pub fn recorded(&self, segment: &str) -> (Vec<Value>, u64) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .proxy(None)
            .build()
            .into();
        let text = agent
            .get(&format!(
                "http://127.0.0.1:{}/_requests/{segment}",
                self.port
            ))
            .call()
            .expect("the fake server answers")
            .body_mut()
            .read_to_string()
            .expect("a body");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        (
            v["requests"].as_array().cloned().unwrap_or_default(),
            v["maxInflight"].as_u64().unwrap_or(0),
        )
    }
}

/// A port on 127.0.0.1 nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
