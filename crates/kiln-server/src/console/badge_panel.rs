//! The build badge panel of a project's page: the badge of a branch or a tag, in a style,
//! with its address and Markdown to copy (console.js rewrites them as the choice changes).

use std::collections::BTreeSet;

use kiln_badge::Style;
use kiln_domain::build::BuildRecord;
use kiln_domain::shapes::Project;

use super::reports::{self, ReportBadge};
use super::visibility::public_page;

/// The badge asked for in the page's address: `branch` names the branch or tag (the
/// parameter keeps its name so earlier links work), `ref_type` says which, `style` the look.
#[derive(Debug, Clone, Default)]
pub struct BadgeChoice {
    pub name: String,
    pub tag: bool,
    pub style: String,
}

impl BadgeChoice {
    pub fn new(name: &str, ref_type: &str, style: &str) -> BadgeChoice {
        BadgeChoice {
            name: name.trim().to_string(),
            tag: ref_type == "tag",
            style: style.to_string(),
        }
    }

    /// The style chosen; a style the badges do not know is the default one.
    fn style(&self) -> Style {
        self.style.parse().unwrap_or_default()
    }
}

/// A style of the picker.
pub struct StyleChoice {
    pub value: &'static str,
    pub selected: bool,
}

pub struct BadgeView {
    /// The badge URL for the choice (the project's default when nothing is chosen).
    pub url: String,
    pub markdown: String,
    /// The project's own `badgeRequestUrl`.
    pub default_url: String,
    /// The URL without a branch, tag or style, which the picker adds to.
    pub base_url: String,
    /// The branch or tag name.
    pub branch: String,
    pub tag: bool,
    pub styles: Vec<StyleChoice>,
    /// Branches seen in the build history, offered by the picker.
    pub branches: Vec<String>,
    /// The test and coverage report badges for the same choice.
    pub reports: Vec<ReportBadge>,
}

/// `<base>/badges?uuid=<token>[&branch=…|&tag=…][&style=…]`, as the badge endpoint reads it.
pub fn badge_url(public_url: &str, token: &str, choice: &BadgeChoice) -> String {
    let mut url = kiln_domain::token::badge_url(public_url, token, None);
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !choice.name.is_empty() {
        query.append_pair(if choice.tag { "tag" } else { "branch" }, &choice.name);
    }
    let style = choice.style();
    if style != Style::default() {
        query.append_pair("style", style.as_str());
    }
    let extra = query.finish();
    if !extra.is_empty() {
        url.push('&');
        url.push_str(&extra);
    }
    url
}

/// The panel of `project` on a Kiln at `public_url` for `choice`; `None` when the badge is off.
pub fn badge_view(
    public_url: &str,
    project: &Project,
    choice: &BadgeChoice,
    builds: &[BuildRecord],
) -> Option<BadgeView> {
    let default_url = project.badge.badge_request_url.clone()?;
    let token = default_url.split_once('?').and_then(|(_, query)| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "uuid")
            .map(|(_, v)| v.into_owned())
    })?;
    let chosen = badge_url(public_url, &token, choice);
    let report_badges = reports::report_badges(&chosen);
    let base_url = kiln_domain::token::badge_url(public_url, &token, None);
    let url = if chosen == base_url {
        default_url.clone()
    } else {
        chosen
    };
    let branches: BTreeSet<String> = builds
        .iter()
        .filter_map(|b| {
            b.settings
                .source_version
                .as_deref()
                .and_then(kiln_domain::refs::branch_named_by)
        })
        .chain(
            project
                .settings
                .source_version
                .as_deref()
                .and_then(kiln_domain::refs::branch_named_by),
        )
        .collect();
    let style = choice.style();
    Some(BadgeView {
        reports: report_badges,
        markdown: kiln_domain::token::badge_markdown(
            &url,
            public_page(public_url, project).as_deref(),
        ),
        url,
        base_url,
        default_url,
        branch: choice.name.clone(),
        tag: choice.tag,
        styles: Style::ALL
            .into_iter()
            .map(|s| StyleChoice {
                value: s.as_str(),
                selected: s == style,
            })
            .collect(),
        branches: branches.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use kiln_domain::shapes::ProjectBadge;
    use kiln_domain::visibility::ProjectVisibility;

    use super::*;
    use crate::console::projects::tests::sample_project;

    #[test]
    fn the_panel_shows_the_chosen_badge_linked_to_the_public_page() {
        let mut project = sample_project();
        project.settings.source_version = Some("refs/heads/main".into());
        let view = badge_view("http://k:1", &project, &BadgeChoice::default(), &[]).unwrap();
        assert_eq!(view.default_url, "http://k:1/badges?uuid=tok");
        assert_eq!(
            (view.url.as_str(), view.base_url.as_str()),
            (view.default_url.as_str(), "http://k:1/badges?uuid=tok")
        );
        assert_eq!(view.branches, ["main"]);
        assert_eq!(view.markdown, "![Build Status](http://k:1/badges?uuid=tok)");

        project.project_visibility = ProjectVisibility::PublicRead;
        project.public_project_alias = Some("alias".into());
        let tag = BadgeChoice::new("v1", "tag", "");
        let view = badge_view("http://k:1", &project, &tag, &[]).unwrap();
        assert_eq!(view.url, "http://k:1/badges?uuid=tok&tag=v1");
        assert_eq!(
            view.markdown,
            "[![Build Status](http://k:1/badges?uuid=tok&tag=v1)](http://k:1/project/alias)"
        );

        project.badge = ProjectBadge::default();
        assert!(badge_view("http://k:1", &project, &tag, &[]).is_none());
    }

    #[test]
    fn the_choice_becomes_the_badge_address() {
        let url = |name: &str, ref_type: &str, style: &str| {
            badge_url(
                "http://k:1",
                "tok",
                &BadgeChoice::new(name, ref_type, style),
            )
        };
        assert_eq!(url("", "branch", ""), "http://k:1/badges?uuid=tok");
        assert_eq!(
            url(" feature/x ", "branch", "flat"),
            "http://k:1/badges?uuid=tok&branch=feature%2Fx"
        );
        assert_eq!(
            url("v1.0", "tag", "for-the-badge"),
            "http://k:1/badges?uuid=tok&tag=v1.0&style=for-the-badge"
        );
        // A style the badges do not know is the default look.
        assert_eq!(url("", "tag", "comic"), "http://k:1/badges?uuid=tok");
        assert_eq!(
            url("", "branch", "social"),
            "http://k:1/badges?uuid=tok&style=social"
        );
    }
}
