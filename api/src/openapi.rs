//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, served at `GET /api/v1/openapi.json`.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{comments, error, export, jobs, marks, notes, state, uploads, users, videos};

/// Adds the bearer-token scheme.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Lectern learning API", description = "Accounts, videos, marks, notes, comments, exports and resumable uploads. Errors are {\"error\": {\"code\", \"message\", \"field\"?}}."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        users::register, users::login, users::refresh, users::logout, users::me, users::patch_me,
        users::get_user, users::admin_patch_user,
        videos::list, videos::get, videos::patch, videos::delete, videos::get_position,
        videos::put_position, jobs::events, uploads::multipart,
        marks::list, marks::create, marks::patch, marks::delete, marks::list_annotations,
        marks::create_annotation, marks::patch_annotation, marks::delete_annotation,
        notes::list, notes::create, notes::patch, notes::delete,
        comments::list, comments::create, comments::delete,
        export::one, export::all,
        uploads::options, uploads::create, uploads::head, uploads::patch, uploads::delete,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, state::Playback))
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_router_is_documented() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        let paths = doc["paths"].as_object().expect("paths");
        let router = include_str!("lib.rs");
        let routes: Vec<&str> = router
            .split(".route(")
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
            .filter(|r| *r != "/openapi.json")
            .collect();
        assert!(routes.len() >= 20, "{routes:?}");
        for route in routes {
            assert!(
                paths.contains_key(&format!("/api/v1{route}")),
                "{route} is not in the OpenAPI document"
            );
        }
        let errors = &doc["components"]["schemas"]["ErrorBody"];
        assert!(errors.is_object(), "the error shape is described");
    }
}
