//! SIGHUP (`systemctl reload dirsync`): the daemon reads its configuration file again, applies
//! the new quota without dropping anything, and keeps running unchanged on a broken file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::user_body;

const TIGHT: &str = "[scim]\nrequests_per_second = 1\nburst = 2\n";
const ROOMY: &str = "[scim]\nrequests_per_second = 1000\nburst = 1000\n";
const BROKEN: &str = "[scim]\nrequests_per_second = \"lots\"\n";

/// The daemon's JSON log messages, read on a thread so the pipe never fills.
fn messages(child: &mut Child) -> mpsc::Receiver<serde_json::Value> {
    let (sender, receiver) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let event = serde_json::from_str(&line).unwrap_or_default();
            if sender.send(event).is_err() {
                break;
            }
        }
    });
    receiver
}

fn wait_for(log: &mpsc::Receiver<serde_json::Value>, prefix: &str) -> serde_json::Value {
    loop {
        let event = log
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line starting {prefix:?}"));
        if event["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(prefix))
        {
            return event;
        }
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

async fn create_statuses(base: &str, token: &str, prefix: &str, count: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..count {
        let response = client
            .post(format!("{base}/Users"))
            .bearer_auth(token)
            .json(&user_body(&format!("{prefix}{n}@example.com")))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn sighup_applies_a_new_quota_and_a_broken_file_leaves_the_daemon_serving_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dirsync.toml");
    std::fs::write(&config, TIGHT).unwrap();
    let command = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dirsync"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("DIRSYNC__SERVER__DATA_DIR", dir.path())
            .env("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__LOG__FORMAT", "json")
            .env("DIRSYNC__SYNC__SCHEDULE", "")
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let created = command(&["tenant", "create", "acme"])
        .wait_with_output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let issued = command(&["token", "create", "--tenant", "acme"])
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&issued.stdout).into_owned();
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("dirsync_"))
        .expect("the token is printed")
        .to_owned();

    let mut serve = command(&["serve"]);
    let log = messages(&mut serve);
    let listening = wait_for(&log, "SCIM API listening");
    let base = format!(
        "http://{}/api/scim/v2",
        listening["address"].as_str().unwrap()
    );

    let tight = create_statuses(&base, &token, "tight", 5).await;
    assert!(tight.contains(&429), "burst 2 refuses some of 5: {tight:?}");

    std::fs::write(&config, ROOMY).unwrap();
    signal(&serve, "HUP");
    wait_for(&log, "configuration reloaded");
    let roomy = create_statuses(&base, &token, "roomy", 20).await;
    assert!(
        roomy.iter().all(|s| *s == 201),
        "the new quota admits all: {roomy:?}"
    );

    std::fs::write(&config, BROKEN).unwrap();
    signal(&serve, "HUP");
    let failed = wait_for(&log, "configuration reload failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("requests_per_second"),
        "the error names the key: {failed}"
    );
    let kept = create_statuses(&base, &token, "kept", 20).await;
    assert!(
        kept.iter().all(|s| *s == 201),
        "the roomy quota is kept: {kept:?}"
    );

    signal(&serve, "TERM");
    let status = tokio::task::spawn_blocking(move || serve.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
