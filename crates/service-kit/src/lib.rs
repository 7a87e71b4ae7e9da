//! axum plumbing shared by every service.
