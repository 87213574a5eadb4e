//! Starting a real `agora serve` on free ports and talking to it with real clients.
//!
//! [`spawn_agora`] runs the binary cargo built for this test with a fresh
//! temporary data folder and a configuration written by the test, reads the
//! `listening …` lines it prints, and returns an [`Agora`] guard that kills
//! the process when dropped, so a failing test never leaves a server behind.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server gets to print its `listening` lines, and a client to finish.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A running `agora serve`; killed on drop.
pub(crate) struct Agora {
    child: Child,
    /// The data folder (a temporary directory removed on drop).
    pub(crate) data: tempfile::TempDir,
    /// `listening mqtt` address.
    pub(crate) mqtt: SocketAddr,
    /// `listening mqtts` address.
    pub(crate) mqtts: SocketAddr,
    /// `listening http` address.
    pub(crate) http: SocketAddr,
    /// `listening ws` URL.
    pub(crate) ws: String,
}

impl Agora {
    /// The self-signed certificate clients must trust for TLS.
    pub(crate) fn cafile(&self) -> PathBuf {
        self.data.path().join("tls").join("cert.pem")
    }
}

impl Agora {
    /// The server's process id (for /proc readings).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory in KiB, from /proc.
    pub(crate) fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Stops the server (as `kill -9` would) and hands back its data folder, to restart in it.
    pub(crate) fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.data, tempfile::tempdir().expect("tempdir"))
    }
}

impl Drop for Agora {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of the `agora` binary under test.
pub(crate) fn agora_bin() -> &'static str {
    env!("CARGO_BIN_EXE_agora")
}

/// `agora hash-password` for `password`.
pub(crate) fn hash_password(password: &str) -> String {
    let out = run_with_stdin(
        Command::new(agora_bin()).arg("hash-password"),
        password.as_bytes(),
    );
    assert!(
        out.status.success(),
        "hash-password failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 hash")
        .trim()
        .to_owned()
}

/// Runs a command with `stdin` as its input and waits for it (within [`PATIENCE`]).
pub(crate) fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    wait_output(child)
}

/// Waits for `child` to exit, killing it after [`PATIENCE`].
pub(crate) fn wait_output(mut child: Child) -> Output {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "command did not finish within {PATIENCE:?}; stdout: {} stderr: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Starts `agora serve` with `config` (TOML) on free ports and waits until it listens.
pub(crate) fn spawn_agora(config: &str) -> Agora {
    let data = tempfile::tempdir().expect("tempdir");
    let config_path = data.path().join("agora.toml");
    std::fs::write(&config_path, config).expect("write config");
    spawn_agora_in(data, &config_path, &[])
}

/// Like [`spawn_agora`], in an existing data folder and with extra flags.
pub(crate) fn spawn_agora_in(data: tempfile::TempDir, config: &Path, extra: &[&str]) -> Agora {
    let mut child = Command::new(agora_bin())
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data.path())
        .args(["--mqtt", "0", "--mqtts", "0", "--http", "0"])
        .args(extra)
        .env("AGORA_LOG_LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn agora serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // The test no longer listens; keep draining so the server never blocks on stdout.
                continue;
            }
        }
    });
    let (mut mqtt, mut mqtts, mut http, mut ws) = (None, None, None, None);
    let deadline = std::time::Instant::now() + PATIENCE;
    while mqtt.is_none() || mqtts.is_none() || http.is_none() || ws.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("agora serve did not print its listening lines within {PATIENCE:?}");
            }
        };
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("listening"), Some("mqtt"), Some(a)) => {
                mqtt = Some(a.parse().expect("mqtt addr"))
            }
            (Some("listening"), Some("mqtts"), Some(a)) => {
                mqtts = Some(a.parse().expect("mqtts addr"))
            }
            (Some("listening"), Some("http"), Some(a)) => {
                http = Some(a.parse().expect("http addr"))
            }
            (Some("listening"), Some("ws"), Some(a)) => ws = Some(a.to_owned()),
            _ => {}
        }
    }
    Agora {
        child,
        data,
        mqtt: mqtt.expect("mqtt"),
        mqtts: mqtts.expect("mqtts"),
        http: http.expect("http"),
        ws: ws.expect("ws"),
    }
}

/// Whether an external program is on the PATH; tests that need it say so and skip otherwise.
pub(crate) fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The Python peer script beside this file.
pub(crate) fn paho_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/paho_peer.py")
}

/// Fails the test with what to install when an external client is missing:
/// `.ci/run` installs them, so a missing one is a broken setup, not a skip.
pub(crate) fn require(program: &str) {
    assert!(
        have(program),
        "{program} is not installed; run .ci/run once (it installs mosquitto-clients and the Python packages)"
    );
}

/// A client process whose stdout is read line by line as it runs; killed on drop.
pub(crate) struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub(crate) seen: Vec<String>,
}

impl Peer {
    /// Starts `cmd` with stdout piped.
    pub(crate) fn spawn(cmd: &mut Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line satisfying `pred` (within [`PATIENCE`]) and returns it;
    /// `None` if the process ended first or time ran out.
    pub(crate) fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.wait_line_for(pred, PATIENCE)
    }

    /// [`Peer::wait_line`] with a shorter patience, for polling loops.
    pub(crate) fn wait_line_for(
        &mut self,
        pred: impl Fn(&str) -> bool,
        patience: Duration,
    ) -> Option<String> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for the process to exit (killing it after [`PATIENCE`]); returns
    /// its exit code and every stdout line.
    pub(crate) fn finish(mut self) -> (Option<i32>, Vec<String>, String) {
        let deadline = std::time::Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader thread ends at EOF; collect what it still holds.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        (status, std::mem::take(&mut self.seen), stderr)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small blocking client for Agora's REST API, as a user's script would use it.
pub(crate) struct Api {
    base: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Api {
    /// A client for the server `agora`.
    pub(crate) fn new(agora: &Agora) -> Api {
        Api {
            base: format!("http://{}/api/v1", agora.http),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            http: reqwest::Client::new(),
        }
    }

    /// Sends `method path` with an optional bearer token and JSON body; returns status and JSON.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.rt.block_on(async {
            let resp = req.send().await.expect("HTTP request");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("HTTP body");
            let json = if text.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            };
            (status, json)
        })
    }

    /// Like [`Api::call`], asserting the status.
    pub(crate) fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (got, json) = self.call(method, path, token, body);
        assert_eq!(got, status, "{method} {path}: {json}");
        json
    }

    /// Signs up `name` and logs in; returns an API token.
    pub(crate) fn account(&self, name: &str) -> String {
        let password = "correct horse battery staple 9";
        self.expect(
            201,
            "POST",
            "/accounts",
            None,
            Some(serde_json::json!({"name": name, "password": password})),
        );
        let t = self.expect(
            201,
            "POST",
            "/tokens",
            None,
            Some(serde_json::json!({"name": "test", "account": name, "password": password})),
        );
        t["token"].as_str().expect("token").to_owned()
    }
}

/// Runs the Python peer script with `args` against port `port`.
pub(crate) fn paho(port: u16, args: &[&str]) -> Peer {
    require("python3");
    let mut cmd = Command::new("python3");
    cmd.arg(paho_script())
        .args(args)
        .args(["--port", &port.to_string()]);
    Peer::spawn(&mut cmd)
}

/// `mosquitto_pub` one message (QoS 1) to `addr`; returns the finished process.
pub(crate) fn mosquitto_pub(
    addr: SocketAddr,
    user: &str,
    pw: &str,
    topic: &str,
    msg: &str,
) -> Output {
    require("mosquitto_pub");
    run_with_stdin(
        Command::new("mosquitto_pub")
            .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .args(["-q", "1", "-u", user, "-P", pw, "-t", topic, "-m", msg]),
        b"",
    )
}

/// GET `url` and return the body as text.
pub(crate) fn http_get(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        reqwest::get(url)
            .await
            .expect("GET")
            .text()
            .await
            .expect("body")
    })
}
