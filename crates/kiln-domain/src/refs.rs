//! What a source version names: a branch, a tag, a pull request or a commit.

/// A branch or tag a build is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum GitRef {
    Branch(String),
    Tag(String),
}

impl GitRef {
    /// `("branch", name)` or `("tag", name)`, as stored and queried for badges.
    pub fn kind_and_name(&self) -> (&'static str, &str) {
        match self {
            GitRef::Branch(name) => ("branch", name),
            GitRef::Tag(name) => ("tag", name),
        }
    }
}

/// True for a (possibly abbreviated) commit SHA: 7 to 40 hex digits.
pub fn looks_like_commit(version: &str) -> bool {
    (7..=40).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The branch a source version names, if it names one: `refs/heads/x` or a bare name that is
/// neither a commit, a tag ref nor a pull request.
pub fn branch_named_by(version: &str) -> Option<String> {
    if let Some(branch) = version.strip_prefix("refs/heads/") {
        return (!branch.is_empty()).then(|| branch.to_string());
    }
    if version.is_empty()
        || version.starts_with("refs/")
        || version.starts_with("pr/")
        || looks_like_commit(version)
    {
        return None;
    }
    Some(version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        assert_eq!(branch_named_by("main").as_deref(), Some("main"));
        assert_eq!(
            branch_named_by("refs/heads/feature/x").as_deref(),
            Some("feature/x")
        );
        assert_eq!(branch_named_by("feature/x").as_deref(), Some("feature/x"));
        assert_eq!(branch_named_by("refs/tags/v1"), None);
        assert_eq!(branch_named_by("pr/3"), None);
        assert_eq!(
            branch_named_by("0123abcd0123abcd0123abcd0123abcd0123abcd"),
            None
        );
        assert_eq!(branch_named_by(""), None);
    }
}
