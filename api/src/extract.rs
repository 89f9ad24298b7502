//! Request extractors with the API's error shape: a JSON body (unknown fields 400, a bad or
//! missing field 422 naming it, over the limit 413) and the caller (`Caller`, `MaybeCaller`)
//! from a `Bearer` access token.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;
use crate::users::{Role, UserStatus};

/// A JSON request body of type `T` (which should `deny_unknown_fields`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Parses `bytes` as `T` with the API's errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        // serde_json appends " at line L column C"; the field says where.
        let message = text.split(" at line ").next().unwrap_or(&text).to_string();
        match inner.classify() {
            serde_json::error::Category::Data if message.starts_with("unknown field") => {
                ApiError::BadRequest(message)
            }
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    message
                        .strip_prefix("missing field `")
                        .and_then(|rest| rest.split('`').next())
                        .unwrap_or("body")
                        .to_string()
                } else {
                    path
                };
                ApiError::invalid(&field, message)
            }
            _ => ApiError::BadRequest(format!("the body is not valid JSON: {message}")),
        }
    })?;
    de.end()
        .map_err(|_| ApiError::BadRequest("the body has data after its JSON value".into()))?;
    Ok(value)
}

/// Query parameters of type `T` (which should `deny_unknown_fields`); a bad query is 400.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))
    }
}

/// The client's address, as the server that accepted the connection recorded it in the
/// request's extensions (unspecified when it did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAddr>()
            .copied()
            .unwrap_or(ClientAddr(std::net::IpAddr::from([0, 0, 0, 0]))))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::BadRequest(
                "the body must be JSON (Content-Type: application/json)".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(format!(
                        "the body is over the {} byte limit",
                        crate::JSON_BODY_LIMIT
                    ))
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A signed-in caller (401 without a valid access token).
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Role, as the database says now (not as it was when the token was made).
    pub role: Role,
}

impl Caller {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The caller if a valid access token came, else anonymous. A token that is present but
/// invalid is still 401: a client with a stale token learns it at once.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

async fn caller_from(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized(
            "Authorization must be 'Bearer <access token>'",
        ))?;
    let user_id = state.tokens.verify_access(token.trim())?;
    match state.users.status(&state.db, &user_id).await? {
        Some(UserStatus {
            disabled: false,
            role,
            username,
        }) => Ok(Some(Caller {
            id: user_id,
            username,
            role,
        })),
        _ => Err(ApiError::Unauthorized("this account is disabled or gone")),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller_from(parts, state)
            .await?
            .ok_or(ApiError::Unauthorized(
                "sign in first (Authorization: Bearer <access token>)",
            ))
    }
}

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller_from(parts, state).await.map(MaybeCaller)
    }
}
