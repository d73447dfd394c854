//! HTTPS on the SCIM listener with a generated self-signed certificate.

use reqwest::Method;

use crate::support::{Backend, TestApp};

struct Certificate {
    _dir: tempfile::TempDir,
    pem: String,
    cert_path: String,
    key_path: String,
}

fn self_signed() -> Certificate {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let pem = generated.cert.pem();
    std::fs::write(&cert_path, &pem).unwrap();
    std::fs::write(&key_path, generated.key_pair.serialize_pem()).unwrap();
    Certificate {
        pem,
        cert_path: cert_path.display().to_string(),
        key_path: key_path.display().to_string(),
        _dir: dir,
    }
}

/// A daemon serving HTTPS with this certificate, and its SCIM port.
async fn spawn_https(certificate: &Certificate) -> (TestApp, String) {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("DIRSYNC__SCIM__TLS_CERTIFICATE", &certificate.cert_path),
            ("DIRSYNC__SCIM__TLS_PRIVATE_KEY", &certificate.key_path),
        ],
    )
    .await
    .unwrap();
    let port = app
        .scim
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    (app, port)
}

#[tokio::test]
async fn the_scim_api_speaks_https_with_a_configured_certificate_and_refuses_plain_http() {
    let certificate = self_signed();
    let (app, port) = spawn_https(&certificate).await;
    let client = trusting(&certificate.pem);
    let https = format!("https://localhost:{port}/api/scim/v2");
    let response = client
        .request(Method::GET, format!("{https}/ServiceProviderConfig"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{body}"
    );
    let created = client
        .post(format!("{https}/Users"))
        .bearer_auth(&app.token)
        .json(&crate::support::user_body("tls@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // A client that does not trust the certificate is refused, and so is plain HTTP.
    assert!(reqwest::get(format!("{https}/healthz")).await.is_err());
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[tokio::test]
async fn a_missing_certificate_stops_the_daemon_at_start_with_a_sentence() {
    let certificate = self_signed();
    let settings = crate::support::settings(
        None,
        &[
            ("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0"),
            ("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0"),
            ("DIRSYNC__ADMIN__TOKEN", crate::support::ADMIN_TOKEN),
            ("DIRSYNC__SCIM__TLS_CERTIFICATE", "/nonexistent/cert.pem"),
            ("DIRSYNC__SCIM__TLS_PRIVATE_KEY", &certificate.key_path),
            (
                "DIRSYNC__SERVER__DATA_DIR",
                certificate.cert_path.trim_end_matches("/cert.pem"),
            ),
        ],
    );
    let clock = std::sync::Arc::new(dirsync::clock::SystemClock);
    let error = dirsync::app::start(&settings, clock)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot read the TLS certificate /nonexistent/cert.pem"),
        "{error}"
    );
}

fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

fn reload_settings(certificate: &Certificate) -> dirsync::configuration::Settings {
    crate::support::settings(
        None,
        &[
            ("DIRSYNC__ADMIN__TOKEN", crate::support::ADMIN_TOKEN),
            ("DIRSYNC__SCIM__TLS_CERTIFICATE", &certificate.cert_path),
            ("DIRSYNC__SCIM__TLS_PRIVATE_KEY", &certificate.key_path),
        ],
    )
}

#[tokio::test]
async fn a_reload_serves_a_renewed_certificate_and_a_broken_one_keeps_the_old() {
    let old = self_signed();
    let (mut app, port) = spawn_https(&old).await;
    let health = format!("https://localhost:{port}/healthz");
    assert!(trusting(&old.pem).get(&health).send().await.is_ok());

    // certbot renews: new files at the same paths, then `systemctl reload`.
    let renewed = self_signed();
    std::fs::copy(&renewed.cert_path, &old.cert_path).unwrap();
    std::fs::copy(&renewed.key_path, &old.key_path).unwrap();
    let running = app.take_running();
    running.reload(&reload_settings(&old)).unwrap();
    assert!(trusting(&renewed.pem).get(&health).send().await.is_ok());
    assert!(
        trusting(&old.pem).get(&health).send().await.is_err(),
        "new handshakes get the renewed certificate"
    );

    std::fs::write(&old.key_path, "not a key").unwrap();
    let error = running.reload(&reload_settings(&old)).unwrap_err();
    assert!(error.contains("cannot read the TLS private key"), "{error}");
    assert!(trusting(&renewed.pem).get(&health).send().await.is_ok());
    running.shutdown().await;
}
