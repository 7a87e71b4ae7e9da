//! axum plumbing shared by every service: settings, telemetry, problem+json errors,
//! request ids, common layers, health endpoints and serving with graceful shutdown.
//!
//! A binary uses it in this order:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use service_kit::{Env, Health, ReadinessCheck, Settings};
//! let settings = Settings::from_env(&Env::process())?;
//! let _ = service_kit::init_tracing(&settings.log);
//! let health = Health::new(service_kit::install_metrics()?)
//!     .with_check(ReadinessCheck::new("redis", || async { Ok::<(), String>(()) }));
//! let app = axum::Router::new() /* .merge(service routers) */ .merge(health.router());
//! let app = service_kit::layers::apply(app, settings.http);
//! service_kit::serve(app, &settings, service_kit::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! **Boundary**: no store types here. Readiness checks are closures the binary supplies.

pub mod env;
pub mod health;
pub mod json_fields;
pub mod layers;
pub mod problem;
pub mod process;
pub mod request_id;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod telemetry;

pub use env::{Env, EnvError};
pub use health::{Health, ReadinessCheck};
pub use problem::{ApiError, FieldError, Json, Path, Problem, ProblemType, Query};
pub use request_id::RequestId;
pub use secret::{Secret, SecretUrl};
pub use serve::{ServeError, Server, ThreadSetup, serve, serve_on_threads, shutdown_signal};
pub use settings::{HttpLimits, LogFormat, LogSettings, Settings};
pub use telemetry::{init_tracing, install_metrics};
