//! `rapport ask` as a person at a shell uses it: the whole pipeline on the configured data dir,
//! JSON out, and the same identity flags reaching the same customer across calls.

mod common;

use std::process::Command;

use serde_json::Value;

fn ask(data_dir: &std::path::Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("ask")
        .args(args)
        .env("RAPPORT_DATA_DIR", data_dir)
        .env("RAPPORT_MODEL_DIR", common::model_dir())
        .env("RAPPORT_LOG", "error")
        .env_remove("DATABASE_URL")
        .env_remove("RAPPORT_LLM_MODEL")
        .output()
        .expect("rapport runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn the_same_customer_is_recognised_across_channels_and_calls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = ask(
        dir.path(),
        &[
            "--channel",
            "whatsapp",
            "--phone",
            "+1 415 555 0142",
            "My order 48213 is late",
        ],
    );
    assert!(first["decision"].is_string(), "{first}");
    assert!(first["trace"]["query"]["original"].is_string(), "{first}");
    let second = ask(
        dir.path(),
        &[
            "--channel",
            "webchat",
            "--signed",
            "--phone",
            "(415) 555-0142",
            "any update?",
        ],
    );
    assert_eq!(first["contact_id"], second["contact_id"]);
    assert!(
        second["trace"]["context"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("48213"),
        "{second}"
    );
    // Unsigned, the same claim is a different visitor.
    let stranger = ask(
        dir.path(),
        &[
            "--channel",
            "webchat",
            "--phone",
            "(415) 555-0142",
            "any update?",
        ],
    );
    assert_ne!(first["contact_id"], stranger["contact_id"]);
}

#[tokio::test]
async fn an_operator_issues_an_api_token_from_the_shell() {
    let app = common::TestApp::spawn(common::Backend::Sqlite)
        .await
        .expect("app");
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["token", "--email", common::ADMIN_EMAIL, "--name", "shell"])
        .env("RAPPORT_DATA_DIR", &app.app.config.data_dir)
        .env("RAPPORT_LOG", "error")
        .env_remove("DATABASE_URL")
        .output()
        .expect("rapport runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).expect("utf-8");
    let me = reqwest::Client::new()
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 200);
    let unknown = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["token", "--email", "nobody@rapport.test"])
        .env("RAPPORT_DATA_DIR", &app.app.config.data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("rapport runs");
    assert!(!unknown.status.success());
    app.stop().await;
}
