//! Where a build's log is, by CodeBuild's names (docs/cloudwatch-logs.md): its CloudWatch Logs
//! group and stream (served by Kiln's Logs subset) and, with `logsConfig.s3Logs` enabled, the
//! gzip copy written to the artifact store at the end of the build.

use serde_json::{Map, Value};

use crate::build::BuildRecord;
use crate::project::{LogsConfig, LogsConfigEntry};
use crate::shapes::LogsLocation;
use crate::validate::Violations;

/// CodeBuild's log group of a project that names none.
pub fn default_group(project: &str) -> String {
    format!("/aws/codebuild/{project}")
}

/// The log group a project's builds write to, or `None` when its CloudWatch logs are disabled.
pub fn project_group(project: &str, config: Option<&LogsConfig>) -> Option<String> {
    let entry = config.and_then(|c| c.cloud_watch_logs.as_ref());
    if entry.is_some_and(|e| e.status.as_deref() == Some("DISABLED")) {
        return None;
    }
    Some(
        entry
            .and_then(|e| text_member(e, "groupName"))
            .map_or_else(|| default_group(project), str::to_owned),
    )
}

/// The build's CloudWatch Logs group and stream: `/aws/codebuild/<project>` and the build's
/// uuid, unless `cloudWatchLogs` names a group, or a stream, which CodeBuild uses as the prefix
/// of `<streamName>/<uuid>`. The uuid is always the stream's last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub group: String,
    pub stream: String,
}

/// Where `s3Logs` puts the build's log: `<bucket>/<prefix>/<uuid>.gz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3LogTarget {
    pub bucket: String,
    pub key: String,
}

impl S3LogTarget {
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}/{}", self.bucket, self.key)
    }
}

impl BuildRecord {
    /// The build's log stream, or `None` when its CloudWatch logs are disabled.
    pub fn log_stream(&self) -> Option<LogStream> {
        let config = self.settings.logs_config.as_ref();
        let group = project_group(&self.project_name, config)?;
        let prefix = config
            .and_then(|c| c.cloud_watch_logs.as_ref())
            .and_then(|e| text_member(e, "streamName"));
        let stream = match prefix {
            Some(prefix) => format!("{}/{}", prefix.trim_end_matches('/'), self.uuid),
            None => self.uuid.clone(),
        };
        Some(LogStream { group, stream })
    }

    /// Where the build's log is copied at its end, when `s3Logs` is enabled.
    pub fn s3_log_target(&self) -> Option<S3LogTarget> {
        let entry = self.settings.logs_config.as_ref()?.s3_logs.as_ref()?;
        if entry.status.as_deref() != Some("ENABLED") {
            return None;
        }
        let location = text_member(entry, "location")?;
        let location = location.strip_prefix("arn:aws:s3:::").unwrap_or(location);
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        let prefix = prefix.trim_matches('/');
        let name = format!("{}.gz", self.uuid);
        Some(S3LogTarget {
            bucket: bucket.to_owned(),
            key: if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            },
        })
    }

    /// The build's page in Kiln's console (its live log), under `public_url`.
    pub fn console_link(&self, public_url: &str) -> String {
        format!(
            "{public_url}/projects/{}/builds/{}",
            self.project_name, self.uuid
        )
    }

    /// The `LogsLocation` shape: the stream and its ARN, links to the build's log on this Kiln
    /// (`deepLink` its console page; `s3DeepLink` the console's whole-log page, as Kiln cannot
    /// know a browser URL of an S3-compatible store), and the configuration echoed.
    pub(crate) fn logs_api(&self, region: &str, public_url: &str) -> LogsLocation {
        let config = self.settings.logs_config.as_ref();
        let stream = self.log_stream();
        let s3_target = self.s3_log_target();
        LogsLocation {
            deep_link: self.console_link(public_url),
            cloud_watch_logs: config
                .and_then(|c| c.cloud_watch_logs.clone())
                .unwrap_or_else(|| entry_with_status("ENABLED")),
            cloud_watch_logs_arn: stream.as_ref().map(|LogStream { group, stream }| {
                format!(
                    "arn:aws:logs:{region}:{}:log-group:{group}:log-stream:{stream}",
                    self.account_id
                )
            }),
            group_name: stream.as_ref().map(|s| s.group.clone()),
            stream_name: stream.map(|s| s.stream),
            s3_logs: config
                .and_then(|c| c.s3_logs.clone())
                .unwrap_or_else(|| entry_with_status("DISABLED")),
            s3_logs_arn: s3_target.as_ref().map(S3LogTarget::arn),
            s3_deep_link: s3_target.map(|_| format!("{}/log", self.console_link(public_url))),
        }
    }
}

fn entry_with_status(status: &str) -> LogsConfigEntry {
    LogsConfigEntry {
        status: Some(status.to_owned()),
        rest: Map::new(),
    }
}

fn text_member<'a>(entry: &'a LogsConfigEntry, name: &str) -> Option<&'a str> {
    entry
        .rest
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `logsConfig` (or `logsConfigOverride`) checks: each status is required and known; an
/// enabled `s3Logs` needs a `location`; names must be valid CloudWatch Logs names.
pub fn validate_logs_config(v: &mut Violations, field: &str, logs: &LogsConfig) {
    for (name, entry) in [
        ("cloudWatchLogs", &logs.cloud_watch_logs),
        ("s3Logs", &logs.s3_logs),
    ] {
        let Some(entry) = entry else { continue };
        let name = format!("{field}.{name}");
        match entry.status.as_deref() {
            None => v.missing(&format!("{name}.status")),
            Some(st) => v.one_of(&format!("{name}.status"), st, crate::enums::LOGS_STATUS),
        }
    }
    if let Some(entry) = &logs.cloud_watch_logs {
        if let Some(group) = text_member(entry, "groupName")
            && !is_group_name(group)
        {
            v.add(
                &format!("{field}.cloudWatchLogs.groupName"),
                group,
                "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ and have length less than or equal to 512",
            );
        }
        if let Some(stream) = text_member(entry, "streamName")
            && (stream.len() > 400 || stream.contains([':', '*']))
        {
            v.add(
                &format!("{field}.cloudWatchLogs.streamName"),
                stream,
                "Member must not contain ':' or '*' and have length less than or equal to 400",
            );
        }
    }
    if let Some(entry) = &logs.s3_logs
        && entry.status.as_deref() == Some("ENABLED")
        && text_member(entry, "location").is_none()
    {
        v.missing(&format!("{field}.s3Logs.location"));
    }
}

/// CloudWatch Logs' `LogGroupName`: 1 to 512 of `[.\-_/#A-Za-z0-9]`.
pub fn is_group_name(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed step fails the test.
mod tests {
    use super::*;
    use crate::retry::NewBuild;
    use serde_json::json;

    fn build(logs: Value) -> BuildRecord {
        let settings = serde_json::from_value(json!({
            "source": {"type": "NO_SOURCE"}, "sourceVersion": null,
            "secondarySources": [], "artifacts": {"type": "NO_ARTIFACTS"},
            "secondaryArtifacts": [], "environment": {}, "serviceRole": null,
            "timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480,
            "buildspecOverride": null, "environmentVariablesOverride": [],
            "debugSessionEnabled": null, "logsConfig": logs
        }))
        .unwrap();
        BuildRecord::submitted(NewBuild {
            account_id: "123456789012",
            project_name: "demo",
            uuid: "3f0c1d2e-0000".into(),
            settings,
            source_epoch: 0,
            initiator: "alice".into(),
            now: 10.0,
        })
    }

    #[test]
    fn default_names_follow_codebuild() {
        let record = build(Value::Null);
        let stream = record.log_stream().unwrap();
        assert_eq!(stream.group, "/aws/codebuild/demo");
        assert_eq!(stream.stream, "3f0c1d2e-0000");
        let api =
            serde_json::to_value(record.logs_api("eu-west-1", "https://kiln.example")).unwrap();
        assert_eq!(
            api["cloudWatchLogsArn"],
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/codebuild/demo:log-stream:3f0c1d2e-0000"
        );
        assert_eq!(
            api["deepLink"],
            "https://kiln.example/projects/demo/builds/3f0c1d2e-0000"
        );
        assert_eq!(api["cloudWatchLogs"], json!({"status": "ENABLED"}));
        assert_eq!(api["s3Logs"], json!({"status": "DISABLED"}));
        assert!(api.get("s3LogsArn").is_none());
    }

    #[test]
    fn configured_names_and_s3_copy() {
        let record = build(json!({
            "cloudWatchLogs": {"status": "ENABLED", "groupName": "team", "streamName": "ci"},
            "s3Logs": {"status": "ENABLED", "location": "arn:aws:s3:::logs-bucket/build-log/", "encryptionDisabled": true}
        }));
        let stream = record.log_stream().unwrap();
        assert_eq!(
            (stream.group.as_str(), stream.stream.as_str()),
            ("team", "ci/3f0c1d2e-0000")
        );
        let target = record.s3_log_target().unwrap();
        assert_eq!(target.bucket, "logs-bucket");
        assert_eq!(target.key, "build-log/3f0c1d2e-0000.gz");
        let api = serde_json::to_value(record.logs_api("eu-west-1", "http://k")).unwrap();
        assert_eq!(
            api["s3LogsArn"],
            "arn:aws:s3:::logs-bucket/build-log/3f0c1d2e-0000.gz"
        );
        assert_eq!(api["s3Logs"]["encryptionDisabled"], true);
        assert_eq!(
            build(json!({"s3Logs": {"status": "ENABLED", "location": "b"}}))
                .s3_log_target()
                .unwrap()
                .key,
            "3f0c1d2e-0000.gz"
        );
    }

    #[test]
    fn disabled_cloud_watch_has_no_stream() {
        let record = build(json!({"cloudWatchLogs": {"status": "DISABLED"}}));
        assert_eq!(record.log_stream(), None);
        assert!(record.logs_api("r", "u").group_name.is_none());
    }

    #[test]
    fn validation() {
        let check = |logs: Value| {
            let mut v = Violations::new();
            validate_logs_config(&mut v, "logsConfig", &serde_json::from_value(logs).unwrap());
            v.is_empty()
        };
        assert!(check(
            json!({"s3Logs": {"status": "ENABLED", "location": "b/p"}})
        ));
        assert!(!check(json!({"s3Logs": {"status": "ENABLED"}})));
        assert!(!check(json!({"s3Logs": {"location": "b"}})));
        assert!(!check(json!({"cloudWatchLogs": {"status": "ON"}})));
        assert!(!check(
            json!({"cloudWatchLogs": {"status": "ENABLED", "groupName": "a b"}})
        ));
        assert!(!check(
            json!({"cloudWatchLogs": {"status": "ENABLED", "streamName": "a:b"}})
        ));
    }
}
