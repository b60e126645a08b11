//! The API's output shapes as Rust types: what the operations return and the JSON protocol
//! serialises, and what the console reads. A member renamed here is a compile error in every
//! page that shows it, not a blank.

pub mod build;
pub mod project;
pub mod webhook;

pub use build::{
    AutoRetryConfig, BatchGetBuildsOutput, Build, BuildOutput, BuildPhase, DebugSession,
    ListBuildsOutput, LogsLocation,
};
pub use project::{
    BatchGetProjectsOutput, DeleteProjectOutput, EnvironmentImage, EnvironmentLanguage,
    EnvironmentPlatform, ListCuratedEnvironmentImagesOutput, ListProjectsOutput, Project,
    ProjectBadge, ProjectOutput, UpdateProjectVisibilityOutput,
};
pub use webhook::Webhook;
