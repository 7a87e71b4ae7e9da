//! Accounts and sessions: register, log in, log out, who am I, and the
//! admin's decision on a claimed rider category.
//!
//! A new account is adult and verified, or claims another category of the
//! fare configuration (`student`, `exempt`) and starts `pending`: it rides
//! as adult until an admin verifies the claim.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use ledger::AccountId;
use projection::Verification;
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, Json, Path};
use store_pg::StoreError;
use store_pg::rider::{CategoryStatus, RiderAccount};
use store_pg::rider_login::{LoginRecord, NewSession};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Rider, RiderAdmin, SESSION_IDLE_TIMEOUT_S, SESSION_TTL_S};
use crate::http::{ClientIp, ProblemDoc, invalid_field, not_found};
use crate::login::Login;
use crate::password::Password;
use crate::problems;
use crate::ratelimit::{
    LOGIN_PER_IP, LOGIN_PER_LOGIN, REGISTER_PER_IP, REGISTER_PER_LOGIN, Subject,
};
use crate::state::AppState;
use crate::token::{SessionToken, random_uuid};

/// The category every account rides as until another is verified.
pub const DEFAULT_CATEGORY: &str = projection::setup::DEFAULT_CATEGORY_ID;

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// A Vietnamese mobile number (`0912345678`, `+84 912 345 678`) or an
    /// e-mail address.
    #[schema(example = "0912345678")]
    pub login: String,
    /// At least 8 characters.
    #[schema(example = "correct horse battery")]
    pub password: String,
    /// The rider category claimed (`adult` by default; others need an
    /// admin's verification).
    #[schema(example = "student")]
    pub category: Option<String>,
}

/// A rider category and where its verification stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// The category claimed.
    pub requested: String,
    /// `verified`, `pending` or `rejected`.
    pub status: String,
    /// The category fares are priced with now.
    pub effective: String,
}

/// The rider's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// The account id (also the wallet's ledger id).
    pub account_id: Uuid,
    /// The canonical login (`+84912345678` or a lower-case e-mail).
    pub login: String,
    /// `phone` or `email`.
    pub login_kind: String,
    /// The rider category.
    pub category: CategoryView,
}

/// `POST /v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The phone number or e-mail registered.
    pub login: String,
    /// The password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    /// The session's id.
    pub session_id: Uuid,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// It also ends after this many seconds without use.
    pub idle_timeout_s: i64,
}

/// `POST /v1/admin/riders/{id}/category`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryDecision {
    /// The category decided on (usually the one the rider claimed).
    pub category: String,
    /// `verified` or `rejected`.
    pub status: DecisionStatus,
}

/// An admin's decision.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionStatus {
    Verified,
    Rejected,
}

pub(crate) fn category_view(state: &AppState, account: &RiderAccount) -> CategoryView {
    let setup = state.projection.setup();
    let idx = setup.category_for(&account.category_id, verification(account.category_status));
    CategoryView {
        requested: account.category_id.clone(),
        status: account.category_status.as_str().to_owned(),
        effective: setup
            .engine()
            .category_id(idx)
            .unwrap_or(DEFAULT_CATEGORY)
            .to_owned(),
    }
}

pub(crate) fn verification(status: CategoryStatus) -> Verification {
    match status {
        CategoryStatus::Verified => Verification::Verified,
        CategoryStatus::Pending | CategoryStatus::Rejected => Verification::Unverified,
    }
}

/// The rider's account, or 404 when it is gone (it never is: accounts are
/// not deleted).
pub(crate) async fn rider_account(
    state: &AppState,
    account_id: AccountId,
) -> Result<RiderAccount, ApiError> {
    state
        .riders
        .account(account_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("account"))
}

/// Register an account.
#[utoipa::path(
    post, path = "/v1/accounts", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = AccountView),
        (status = 409, description = "`identifier_taken`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `invalid_body`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` (per IP and per login; see `Retry-After`)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    if let Some(ip) = ip {
        state
            .limiter
            .check(REGISTER_PER_IP, Subject::Ip(ip))
            .await?;
    }
    let login = Login::parse(&request.login).map_err(|e| invalid_field("login", e.to_string()))?;
    state
        .limiter
        .check(REGISTER_PER_LOGIN, Subject::Login(login.as_str()))
        .await?;
    let password =
        Password::new(&request.password).map_err(|e| invalid_field("password", e.to_string()))?;
    let category = request
        .category
        .unwrap_or_else(|| DEFAULT_CATEGORY.to_owned());
    if state
        .projection
        .setup()
        .engine()
        .category(&category)
        .is_none()
    {
        return Err(invalid_field(
            "category",
            "not a rider category of the fare configuration",
        ));
    }
    let status = if category == DEFAULT_CATEGORY {
        CategoryStatus::Verified
    } else {
        CategoryStatus::Pending
    };
    let taken = || {
        ApiError::conflict(
            problems::IDENTIFIER_TAKEN,
            "An account with this login exists; log in instead.",
        )
    };
    if state
        .logins
        .identifier_taken(login.as_str())
        .await
        .map_err(ApiError::internal)?
    {
        return Err(taken());
    }
    let password_hash = state
        .passwords
        .hash(&password)
        .await
        .map_err(ApiError::internal)?;
    let account_id = AccountId::new(random_uuid(&state.rng).map_err(ApiError::internal)?)
        .map_err(ApiError::internal)?;
    let now = state.now();
    let account = state
        .riders
        .create_account(account_id, &category, status, now)
        .await
        .map_err(ApiError::internal)?;
    let record = LoginRecord {
        account_id,
        identifier_kind: login.kind().as_str().to_owned(),
        identifier: login.as_str().to_owned(),
        password_hash,
    };
    match state.logins.insert_login(&record, now).await {
        Ok(()) => {}
        // Lost a race with a registration of the same login: that one owns
        // it; our fresh account stays empty and unreachable.
        Err(StoreError::Duplicate { constraint }) if constraint == "login_identifier_key" => {
            return Err(taken());
        }
        Err(error) => return Err(ApiError::internal(error)),
    }
    tracing::info!(account_id = %account_id, kind = login.kind().as_str(), "account registered");
    Ok((
        StatusCode::CREATED,
        Json(AccountView {
            account_id: account_id.as_uuid(),
            login: record.identifier,
            login_kind: record.identifier_kind,
            category: category_view(&state, &account),
        }),
    ))
}

/// Log in: a session token for the app.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in", body = SessionView),
        (status = 401, description = "`unauthorized`: wrong login or password", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` (per IP and per login; see `Retry-After`)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<LoginRequest>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    if let Some(ip) = ip {
        state.limiter.check(LOGIN_PER_IP, Subject::Ip(ip)).await?;
    }
    let login = Login::parse(&request.login).ok();
    // Count unparseable logins too, under their own text, so junk cannot
    // bypass the per-login limit.
    let subject = login.as_ref().map_or_else(
        || request.login.trim().to_ascii_lowercase(),
        |l| l.as_str().to_owned(),
    );
    state
        .limiter
        .check(LOGIN_PER_LOGIN, Subject::Login(&subject))
        .await?;
    let record = match &login {
        Some(login) => state
            .logins
            .login(login.as_str())
            .await
            .map_err(ApiError::internal)?,
        None => None,
    };
    let matches = state
        .passwords
        .verify(
            &request.password,
            record.as_ref().map(|r| r.password_hash.as_str()),
        )
        .await
        .map_err(ApiError::internal)?;
    let Some(record) = record.filter(|_| matches) else {
        return Err(ApiError::Unauthorized {
            detail: "The login or the password is wrong.".to_owned(),
        });
    };
    let token = SessionToken::generate(&state.rng).map_err(ApiError::internal)?;
    let now = state.now();
    let session = state
        .logins
        .create_session(
            &NewSession {
                session_id: random_uuid(&state.rng).map_err(ApiError::internal)?,
                account_id: record.account_id,
                token_sha256: token.hash().0,
                expires_at: now + Duration::seconds(SESSION_TTL_S),
            },
            now,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(SessionView {
            token: token.as_str().to_owned(),
            session_id: session.session_id,
            expires_at: session.expires_at,
            idle_timeout_s: SESSION_IDLE_TIMEOUT_S,
        }),
    ))
}

/// Log out: the session's token stops working at once.
#[utoipa::path(
    delete, path = "/v1/sessions/current", tag = "accounts",
    security(("session" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn logout(State(state): State<AppState>, rider: Rider) -> Result<StatusCode, ApiError> {
    state
        .logins
        .revoke_session(rider.session_id, state.now())
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The rider's account.
#[utoipa::path(
    get, path = "/v1/me", tag = "accounts",
    security(("session" = [])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "`unauthorized`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    rider: Rider,
) -> Result<Json<AccountView>, ApiError> {
    let account = rider_account(&state, rider.account_id).await?;
    let login = state
        .logins
        .login_of(rider.account_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found("account"))?;
    Ok(Json(AccountView {
        account_id: rider.account_id.as_uuid(),
        login: login.identifier,
        login_kind: login.identifier_kind,
        category: category_view(&state, &account),
    }))
}

/// Verify or reject a rider's category (admin API key with the `riders` scope).
#[utoipa::path(
    post, path = "/v1/admin/riders/{id}/category", tag = "admin",
    security(("admin_key" = [])),
    params(("id" = Uuid, Path, description = "The rider's account id")),
    request_body = CategoryDecision,
    responses(
        (status = 200, description = "Decided", body = CategoryView),
        (status = 401, description = "`unauthorized`: no or unknown API key", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the key lacks the `riders` scope", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn decide_category(
    State(state): State<AppState>,
    admin: RiderAdmin,
    Path(id): Path<Uuid>,
    Json(decision): Json<CategoryDecision>,
) -> Result<Json<CategoryView>, ApiError> {
    if state
        .projection
        .setup()
        .engine()
        .category(&decision.category)
        .is_none()
    {
        return Err(invalid_field(
            "category",
            "not a rider category of the fare configuration",
        ));
    }
    let account_id = AccountId::new(id).map_err(|_| not_found("rider"))?;
    let status = match decision.status {
        DecisionStatus::Verified => CategoryStatus::Verified,
        DecisionStatus::Rejected => CategoryStatus::Rejected,
    };
    let found = state
        .logins
        .set_category(account_id, &decision.category, status, state.now())
        .await
        .map_err(ApiError::internal)?;
    if !found {
        return Err(not_found("rider"));
    }
    tracing::info!(account_id = %account_id, key_id = %admin.0.key_id, status = status.as_str(), "rider category decided");
    let account = rider_account(&state, account_id).await?;
    Ok(Json(category_view(&state, &account)))
}
