//! Building images from Containerfiles and Dockerfiles (podman build,
//! buildah, `docker build` with BuildKit's features).
//!
//! - `containerfile`: the file, parsed into stages of instructions with
//!   their line numbers (the syntax is parse-dockerfile's).
//! - `expand`: variable substitution with docker's rules, and the
//!   `KEY=VALUE` words of ENV, LABEL and ARG.
//! - `builder`: the stages run step by step through the engine, an
//!   image per step.
//! - `ignore`: `.dockerignore` / `.containerignore` patterns, docker's rules.
//! - `run_mounts`: RUN `--mount` flags, BuildKit's syntax.
//! - `scratch`: a build's private directory under the runroot, swept
//!   when a build was killed.

pub mod builder;
pub mod containerfile;
pub mod expand;
mod heredoc;
pub mod ignore;
pub mod run_mounts;
pub mod scratch;
