//! Accounts: register, sign in, refresh, sign out, profiles, roles.
//!
//! Routes (under `/api/v1`): `POST auth/register`, `POST auth/login`, `POST auth/refresh`,
//! `POST auth/logout`, `GET|PATCH users/me`, `GET users/{username}`, and for admins
//! `PATCH users/{username}` (role, disabled).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::auth::{self, REFRESH_TOKEN_LIFE};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, JsonBody};
use crate::state::AppState;
use crate::{Database, new_id, now_unix};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watches, marks and takes notes (the default).
    Viewer,
    /// Also uploads.
    Creator,
    /// Also moderates and sets roles.
    Admin,
}

impl Role {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Creator => "creator",
            Self::Admin => "admin",
        }
    }

    /// From the stored text (unknown text reads as the least privilege).
    pub fn parse(text: &str) -> Self {
        match text {
            "admin" => Self::Admin,
            "creator" => Self::Creator,
            _ => Self::Viewer,
        }
    }
}

/// What the request path needs to know about a user on every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatus {
    /// Username.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Disabled accounts' tokens stop working.
    pub disabled: bool,
}

/// User states by id, cached for a few seconds; every change made through the API drops the
/// entry at once.
#[derive(Clone)]
pub struct UserCache(moka::future::Cache<String, Option<UserStatus>>);

impl std::fmt::Debug for UserCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCache")
    }
}

impl Default for UserCache {
    fn default() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(5))
                .build(),
        )
    }
}

impl UserCache {
    /// The state of user `id` (`None`: no such user).
    pub async fn status(&self, db: &Database, id: &str) -> Result<Option<UserStatus>, ApiError> {
        let pool = db.pool().clone();
        let key = id.to_string();
        self.0
            .try_get_with(id.to_string(), async move {
                let row = sqlx::query("SELECT username, role, disabled FROM users WHERE id = ?")
                    .bind(&key)
                    .fetch_optional(&pool)
                    .await?;
                Ok::<_, sqlx::Error>(row.map(|r| UserStatus {
                    username: r.get("username"),
                    role: Role::parse(r.get::<&str, _>("role")),
                    disabled: r.get("disabled"),
                }))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("database: {e}")))
    }

    /// Drops user `id` (after a change).
    pub async fn forget(&self, id: &str) {
        self.0.invalidate(id).await;
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Only to the user themself and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Bio.
    pub bio: String,
    /// Role.
    pub role: Role,
    /// Disabled (shown to admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Unix seconds.
    pub created_at: i64,
}

const USER_COLUMNS: &str = "id, username, email, display_name, bio, role, disabled, created_at";

fn user_view(row: &sqlx::sqlite::SqliteRow, private: bool) -> UserView {
    UserView {
        id: row.get("id"),
        username: row.get("username"),
        email: private.then(|| row.get("email")),
        display_name: row.get("display_name"),
        bio: row.get("bio"),
        role: Role::parse(row.get::<&str, _>("role")),
        disabled: private.then(|| row.get("disabled")),
        created_at: row.get("created_at"),
    }
}

/// Checks a username: 3–32 of `a-z0-9_.-`.
pub fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "3 to 32 characters of a-z, 0-9, '_', '.' and '-'",
        ))
    }
}

/// Checks an email address's shape: one `@`, a local part, a dotted domain, no spaces.
pub fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("email", "not an email address"))
    }
}

/// Checks a password: 8 characters at least, 1024 bytes at most.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::invalid("password", "at least 8 characters"));
    }
    if password.len() > auth::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid("password", "at most 1024 bytes"));
    }
    Ok(())
}

/// Creates a user (the register endpoint and `lectern user create` both use it).
pub async fn create_user(
    db: &Database,
    username: &str,
    email: &str,
    password: &str,
    role: Role,
) -> Result<UserView, ApiError> {
    check_username(username)?;
    check_email(email)?;
    check_password(password)?;
    let password = password.to_string();
    let hash = auth::blocking(move || auth::hash_password(&password)).await??;
    let id = new_id()?;
    let result = sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, role, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(username)
    .bind(email)
    .bind(&hash)
    .bind(role.as_str())
    .bind(now_unix())
    .execute(db.pool())
    .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let what = if e.message().contains("email") {
                "email"
            } else {
                "username"
            };
            return Err(ApiError::Conflict(format!("that {what} is taken")));
        }
        Err(e) => return Err(e.into()),
    }
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(&id)
        .fetch_one(db.pool())
        .await?;
    Ok(user_view(&row, true))
}

/// `POST /auth/register` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    username: String,
    email: String,
    password: String,
}

/// `POST /auth/register`: 201 with the new user (a viewer).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = Register, responses((status = 201, description = "the new user", body = UserView), (status = 409, description = "taken", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Register>,
) -> ApiResult<impl IntoResponse> {
    let user = create_user(
        &state.db,
        &body.username,
        &body.email,
        &body.password,
        Role::Viewer,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Username or email.
    login: String,
    password: String,
}

/// Tokens handed out by login and refresh.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// Trade it at `/auth/refresh` for a new pair; it works once.
    pub refresh_token: String,
    /// The signed-in user.
    pub user: UserView,
}

async fn new_session(
    state: &AppState,
    user: UserView,
    family: Option<String>,
) -> Result<Session, ApiError> {
    let (access_token, _) = state.tokens.issue_access(&user.id)?;
    let (refresh_token, hash) = auth::new_refresh_token()?;
    let family = match family {
        Some(family) => family,
        None => new_id()?,
    };
    let now = now_unix();
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, user_id, family, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&hash)
    .bind(&user.id)
    .bind(&family)
    .bind(now + REFRESH_TOKEN_LIFE.as_secs() as i64)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok(Session {
        access_token,
        token_type: "Bearer".into(),
        expires_in: auth::ACCESS_TOKEN_LIFE.as_secs(),
        refresh_token,
        user,
    })
}

/// `POST /auth/login`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = Login, responses((status = 200, description = "signed in", body = Session), (status = 429, description = "too many failures", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    crate::extract::ClientAddr(peer): crate::extract::ClientAddr,
    JsonBody(body): JsonBody<Login>,
) -> ApiResult<axum::Json<Session>> {
    let address = peer.to_string();
    state.limiter.check(&body.login, &address)?;
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ? OR email = ?"
    ))
    .bind(&body.login)
    .bind(&body.login)
    .fetch_optional(state.db.pool())
    .await?;
    // Hash even for an unknown name, so timing does not tell which names exist.
    let hash = match &row {
        Some(r) => r.get("password_hash"),
        None => auth::blocking(auth::dummy_hash).await??,
    };
    let password = body.password.clone();
    let matches = body.password.len() <= auth::MAX_PASSWORD_BYTES
        && auth::blocking(move || auth::verify_password(&password, &hash)).await?;
    let Some(row) = row.filter(|_| matches) else {
        state.limiter.failed(&body.login, &address);
        return Err(ApiError::Unauthorized("wrong login or password"));
    };
    if row.get::<bool, _>("disabled") {
        return Err(ApiError::Unauthorized("this account is disabled"));
    }
    state.limiter.succeeded(&body.login);
    let user = user_view(&row, true);
    Ok(axum::Json(new_session(&state, user, None).await?))
}

/// `POST /auth/refresh` and `/auth/logout` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /auth/refresh`: a new pair for a live refresh token, which is spent. Presenting a
/// spent one revokes every token of its family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshBody, responses((status = 200, description = "a new pair", body = Session), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> ApiResult<axum::Json<Session>> {
    let hash = auth::refresh_hash(&body.refresh_token);
    let mut tx = state.db.pool().begin().await?;
    let row = sqlx::query(
        "SELECT user_id, family, expires_at, used, revoked FROM refresh_tokens WHERE hash = ?",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::Unauthorized("unknown refresh token"));
    };
    let family: String = row.get("family");
    if row.get::<bool, _>("used") || row.get::<bool, _>("revoked") {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?")
            .bind(&family)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(%family, "a spent refresh token was presented: family revoked");
        return Err(ApiError::Unauthorized(
            "this refresh token was already used; every session of that sign-in is revoked",
        ));
    }
    if row.get::<i64, _>("expires_at") <= now_unix() {
        return Err(ApiError::Unauthorized("the refresh token has expired"));
    }
    // Spend it only if nobody else did in the meantime (two refreshes racing: one wins).
    let spent = sqlx::query("UPDATE refresh_tokens SET used = 1 WHERE hash = ? AND used = 0")
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    if spent.rows_affected() != 1 {
        return Err(ApiError::Unauthorized(
            "this refresh token was already used",
        ));
    }
    let user_id: String = row.get("user_id");
    let user = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(&user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::Unauthorized("the account is gone"))?;
    tx.commit().await?;
    if user.get::<bool, _>("disabled") {
        return Err(ApiError::Unauthorized("this account is disabled"));
    }
    let user = user_view(&user, true);
    Ok(axum::Json(new_session(&state, user, Some(family)).await?))
}

/// `POST /auth/logout`: revokes the refresh token's family. 204, also for an unknown token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", request_body = RefreshBody, responses((status = 204, description = "revoked"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> ApiResult<StatusCode> {
    let hash = auth::refresh_hash(&body.refresh_token);
    sqlx::query(
        "UPDATE refresh_tokens SET revoked = 1
         WHERE family = (SELECT family FROM refresh_tokens WHERE hash = ?)",
    )
    .bind(&hash)
    .execute(state.db.pool())
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_by(
    db: &Database,
    column: &str,
    value: &str,
    private: bool,
) -> Result<UserView, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?"
    ))
    .bind(value)
    .fetch_optional(db.pool())
    .await?
    .ok_or(ApiError::NotFound("no such user"))?;
    Ok(user_view(&row, private))
}

/// `GET /users/me`.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "accounts", responses((status = 200, description = "the caller", body = UserView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<UserView>> {
    Ok(axum::Json(
        user_by(&state.db, "id", &caller.id, true).await?,
    ))
}

/// `PATCH /users/me` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    display_name: Option<String>,
    bio: Option<String>,
}

/// `PATCH /users/me`: display name (≤ 64 characters) and bio (≤ 2000).
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "accounts", request_body = ProfilePatch, responses((status = 200, description = "updated", body = UserView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn patch_me(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ProfilePatch>,
) -> ApiResult<axum::Json<UserView>> {
    if let Some(name) = &body.display_name
        && (name.chars().count() > 64 || name.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            "display_name",
            "at most 64 characters, no control characters",
        ));
    }
    if body
        .bio
        .as_ref()
        .is_some_and(|bio| bio.chars().count() > 2000)
    {
        return Err(ApiError::invalid("bio", "at most 2000 characters"));
    }
    sqlx::query(
        "UPDATE users SET display_name = COALESCE(?, display_name), bio = COALESCE(?, bio)
         WHERE id = ?",
    )
    .bind(body.display_name)
    .bind(body.bio)
    .bind(&caller.id)
    .execute(state.db.pool())
    .await?;
    Ok(axum::Json(
        user_by(&state.db, "id", &caller.id, true).await?,
    ))
}

/// `GET /users/{username}`: the public profile (admins also see email and state).
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "accounts", params(("username" = String, Path)), responses((status = 200, description = "a profile", body = UserView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    crate::extract::MaybeCaller(caller): crate::extract::MaybeCaller,
    Path(username): Path<String>,
) -> ApiResult<axum::Json<UserView>> {
    let private = caller
        .as_ref()
        .is_some_and(|c| c.is_admin() || c.username == username);
    Ok(axum::Json(
        user_by(&state.db, "username", &username, private).await?,
    ))
}

/// `PATCH /users/{username}` body (admins).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminPatch {
    role: Option<Role>,
    disabled: Option<bool>,
}

/// `PATCH /users/{username}`: an admin sets a role or disables an account (its sessions end).
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "accounts", params(("username" = String, Path)), request_body = AdminPatch, responses((status = 200, description = "updated", body = UserView), (status = 403, description = "admins only", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn admin_patch_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    JsonBody(body): JsonBody<AdminPatch>,
) -> ApiResult<axum::Json<UserView>> {
    if !caller.is_admin() {
        return Err(ApiError::Forbidden("only admins set roles"));
    }
    let target = user_by(&state.db, "username", &username, true).await?;
    if target.id == caller.id
        && (body.role.is_some_and(|r| r != Role::Admin) || body.disabled == Some(true))
    {
        return Err(ApiError::Conflict(
            "an admin cannot demote or disable themself".into(),
        ));
    }
    sqlx::query(
        "UPDATE users SET role = COALESCE(?, role), disabled = COALESCE(?, disabled) WHERE id = ?",
    )
    .bind(body.role.map(Role::as_str))
    .bind(body.disabled)
    .bind(&target.id)
    .execute(state.db.pool())
    .await?;
    if body.disabled == Some(true) {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?")
            .bind(&target.id)
            .execute(state.db.pool())
            .await?;
    }
    state.users.forget(&target.id).await;
    Ok(axum::Json(
        user_by(&state.db, "id", &target.id, true).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_emails_and_passwords_are_checked() {
        for good in [
            "abc",
            "a.b-c_d",
            "x23456789012345678901234567890123"[..32].as_ref(),
        ] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Abc", "a b", "ümlaut", "a/b", &"a".repeat(33)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        assert!(check_email("ada@example.org").is_ok());
        for bad in [
            "ada",
            "@x.org",
            "ada@x",
            "ada@@x.org",
            "a da@x.org",
            "ada@.org",
            "ada@x..org",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_password("12345678").is_ok());
        assert!(check_password("1234567").is_err());
    }
}
