//! Webhook deliveries as the forges send them: real-format payloads
//! (`tests/fixtures/webhooks/`), each forge's headers and signature, and the webhook they go to.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{ACCOUNT_A, HttpReply, KilnServer, aws, http_post};

/// A payload of `tests/fixtures/webhooks/`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
    Forgejo,
    Bitbucket,
}

pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The headers `forge` sends with `body`, signed with `secret` (unsigned when `None`).
pub fn forge_headers(
    forge: Forge,
    event: &str,
    delivery: &str,
    secret: Option<&str>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    let mut add = |name: &str, value: &str| headers.push((name.to_string(), value.to_string()));
    let hex_digest = secret.map(|s| hmac_hex(s, body));
    match forge {
        Forge::GitHub => {
            add("User-Agent", "GitHub-Hookshot/1c6af21");
            add("X-GitHub-Event", event);
            add("X-GitHub-Delivery", delivery);
            add("X-GitHub-Hook-ID", "109948940");
            if let Some(h) = &hex_digest {
                add("X-Hub-Signature-256", &format!("sha256={h}"));
            }
        }
        Forge::GitLab => {
            add("User-Agent", "GitLab/17.0.0");
            add("X-Gitlab-Event", event);
            add("X-Gitlab-Event-UUID", delivery);
            add("X-Gitlab-Instance", "https://gitlab.example.com");
            if let Some(s) = secret {
                add("X-Gitlab-Token", s);
            }
        }
        Forge::Gitea | Forge::Forgejo => {
            // Both send GitHub's and Gogs' headers too; Forgejo also sends Gitea's.
            add("X-GitHub-Event", event);
            add("X-GitHub-Delivery", delivery);
            add("X-Gitea-Event", event);
            add("X-Gitea-Delivery", delivery);
            add("X-Gogs-Event", event);
            if forge == Forge::Forgejo {
                add("X-Forgejo-Event", event);
                add("X-Forgejo-Delivery", delivery);
            }
            if let Some(h) = &hex_digest {
                add("X-Hub-Signature-256", &format!("sha256={h}"));
                add("X-Gitea-Signature", h);
                add("X-Gogs-Signature", h);
                if forge == Forge::Forgejo {
                    add("X-Forgejo-Signature", h);
                }
            }
        }
        Forge::Bitbucket => {
            add("User-Agent", "Bitbucket-Webhooks/2.0");
            add("X-Event-Key", event);
            add("X-Request-UUID", delivery);
            add("X-Hook-UUID", "d7d5e5a1-4b77-4a9f-9e6e-3a3c4c6e2f10");
            add("X-Attempt-Number", "1");
            if let Some(h) = &hex_digest {
                add("X-Hub-Signature", &format!("sha256={h}"));
            }
        }
    }
    headers
}

pub fn post_raw(url: &str, headers: &[(String, String)], body: &[u8]) -> HttpReply {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    http_post(url, &pairs, body)
}

/// Posts `payload` to the webhook as `forge` would, signed with `secret`.
pub fn deliver(
    hook: &Hook,
    forge: Forge,
    event: &str,
    delivery: &str,
    secret: &str,
    payload: &Value,
) -> HttpReply {
    let body = serde_json::to_vec(payload).unwrap();
    let headers = forge_headers(forge, event, delivery, Some(secret), &body);
    post_raw(&hook.payload_url, &headers, &body)
}

/// The outcome Kiln answered a delivery with, after checking the HTTP status.
pub fn outcome(reply: &HttpReply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.json()
}

pub struct Hook {
    pub payload_url: String,
    pub secret: String,
}

/// `aws codebuild create-webhook` with `filter_groups` (none when `Null`).
pub fn create_webhook(server: &KilnServer, project: &str, filter_groups: &Value) -> Hook {
    let mut args = vec!["codebuild", "create-webhook", "--project-name", project];
    let groups = filter_groups.to_string();
    if !filter_groups.is_null() {
        args.extend(["--filter-groups", &groups]);
    }
    let out = aws(server, &ACCOUNT_A, &args);
    let webhook = &out.ok()["webhook"];
    Hook {
        payload_url: webhook["payloadUrl"].as_str().unwrap().to_string(),
        secret: webhook["secret"].as_str().unwrap().to_string(),
    }
}
