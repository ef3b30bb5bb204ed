//! The two OpenAPI documents, each served with Swagger UI by the listener
//! whose routes it describes: `/openapi.json` and `/docs` on the public
//! listener, and the same on the internal one (the listing and user
//! services), so "Try it out" always calls a listener that has the route.
//!
//! Routes and their documentation are registered together (utoipa-axum's
//! `OpenApiRouter` and `routes!`, in each feature's `router()`); this
//! module holds each document's frame (title, tags, security schemes,
//! servers) and [`finish`], which gives every operation the error answers
//! that the layers around it produce, in its error schema.

use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{RefOr, Response, ResponseBuilder, Server, content::Content};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

/// The public document's frame.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercato",
        description = "Product catalog with offers and price history, stock quotes, listings, and product-feed ingestion. Errors are `{\"code\", \"msg\"}` (`ErrorBody`), but under `/public-api`, which keeps seed 004's `{\"result\", \"errors\"}` envelope (`Failure`)."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(platform::error::ErrorBody)),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "products", description = "The product catalog and the offers polled from the Offers service. Reads are public, writes need an admin"),
        (name = "ingestion", description = "Product feeds of any size, each body accepted once per dedupe window (DEDUPE_WINDOW_SECS) across every replica, then applied to the catalog by sku in the background"),
        (name = "quotes", description = "Stock quotes from stooq, through quote-worker over the broker"),
        (name = "accounts", description = "Logging in and creating accounts. Protected routes take HTTP Basic credentials or a Bearer token from /login"),
        (name = "public API", description = "Seed 004's public API layer: listings with their users. Its envelope is seed 004's `{\"result\", ...}`, not `{\"code\",\"msg\"}`"),
    )
)]
pub struct PublicDoc;

/// The internal listener's document's frame.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercato internal services",
        description = "Seed 004's listing and user services, served on INTERNAL_ADDR for the public API layer (and operators) only. Inputs are form-encoded; answers use seed 004's `{\"result\", ...}` envelope."
    ),
    components(schemas(platform::error::ErrorBody)),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "listing service (internal)", description = "Listings; form-encoded inputs"),
        (name = "user service (internal)", description = "Users; form-encoded inputs"),
    )
)]
pub struct InternalDoc;

/// The two credentials every protected route accepts.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
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

/// The router a listener's routes are registered on, with its frame.
pub fn public_frame() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(PublicDoc::openapi())
}

/// See [`public_frame`].
pub fn internal_frame() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(InternalDoc::openapi())
}

/// Splits `routes` into the router and its finished document, and adds
/// `/openapi.json` and `/docs` serving that document.
pub fn with_docs(routes: OpenApiRouter<AppState>) -> Router<AppState> {
    let (router, mut doc) = routes.split_for_parts();
    finish(&mut doc);
    router.merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
}

/// The document `routes` are served with.
pub fn document(routes: OpenApiRouter<AppState>) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes.split_for_parts();
    finish(&mut doc);
    doc
}

/// The error schemas: `ErrorBody` everywhere but seed 004's services,
/// which answer in their `Failure` envelope.
const ERROR_SCHEMAS: [&str; 2] = ["ErrorBody", "Failure"];

/// Completes a document: relative `servers` (the listener that served it,
/// so Swagger UI and generated clients call the same one), and on every
/// operation the error answers of the layers around every handler, in the
/// operation's error schema (the one its own error answers use):
///
/// - 400 where it takes parameters or a body (they are parsed before the
///   handler), 413 where it takes a body (`HTTP_BODY_MAX_BYTES`);
/// - 401 where it needs credentials;
/// - 500 on every operation (a failure of ours, or a handler's panic).
///
/// An error answer documented without a body gets the schema too, and an
/// answer without a description its status's reason phrase.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    doc.servers = Some(vec![Server::new("/")]);
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete_errors(operation);
        }
    }
}

fn complete_errors(operation: &mut Operation) {
    let schema = error_schema(operation);
    let error = |description: &str| -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", json_of(&schema))
            .build()
            .into()
    };
    let takes_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let takes_body = operation.request_body.is_some();
    let needs_credentials = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    };
    if takes_parameters || takes_body {
        add(
            "400",
            "The parameters or the body are malformed; `msg` says how",
        );
    }
    if takes_body {
        add("413", "The body is over the limit (HTTP_BODY_MAX_BYTES)");
    }
    if needs_credentials {
        add("401", "Missing or wrong credentials");
    }
    add(
        "500",
        "An internal failure; its cause is logged, never shown",
    );
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        // OpenAPI 3.1 requires a description, which utoipa leaves out
        // when the annotation gives none.
        if response.description.is_empty() {
            response.description = axum::http::StatusCode::from_bytes(status.as_bytes())
                .ok()
                .and_then(|code| code.canonical_reason())
                .unwrap_or("Answer")
                .to_owned();
        }
        if is_error(status) && response.content.is_empty() {
            response
                .content
                .insert("application/json".to_owned(), RefOr::T(json_of(&schema)));
        }
    }
}

/// The error schema an operation's documented error answers already use,
/// else `ErrorBody`. (`/readyz` answers its 503 with its own body, which is
/// not an error schema.)
fn error_schema(operation: &Operation) -> String {
    operation
        .responses
        .responses
        .iter()
        .filter(|(status, _)| is_error(status))
        .filter_map(|(_, response)| match response {
            RefOr::T(response) => schema_name(response),
            RefOr::Ref(_) => None,
        })
        .find(|name| ERROR_SCHEMAS.contains(name))
        .unwrap_or(ERROR_SCHEMAS[0])
        .to_owned()
}

fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

/// A JSON body of the schema named `schema`.
fn json_of(schema: &str) -> Content {
    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
        schema,
    ))))
}

/// The name of the schema a response's JSON body refers to, if any.
fn schema_name(response: &Response) -> Option<&str> {
    let RefOr::T(content) = response.content.get("application/json")? else {
        return None;
    };
    match content.schema.as_ref()? {
        RefOr::Ref(reference) => reference.ref_location.rsplit('/').next(),
        RefOr::T(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use platform::Services;

    use super::*;
    use crate::app::routes::{internal_routes, public_routes};

    fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, &Operation)> {
        doc.paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("DELETE", &item.delete),
                    ("PATCH", &item.patch),
                ]
                .into_iter()
                .filter_map(move |(method, operation)| {
                    operation.as_ref().map(|o| (format!("{method} {path}"), o))
                })
            })
            .collect()
    }

    #[test]
    fn every_operation_has_a_unique_id_and_documents_its_errors_in_an_error_schema() {
        let all = "public,listings,users"
            .parse::<Services>()
            .expect("services");
        for doc in [document(public_routes()), document(internal_routes(all))] {
            let operations = operations(&doc);
            assert!(!operations.is_empty());
            let mut ids = HashSet::new();
            for (name, operation) in operations {
                let id = operation.operation_id.clone().unwrap_or_default();
                assert!(ids.insert(id.clone()), "{name}: operationId {id} twice");
                let responses = &operation.responses.responses;
                assert!(responses.contains_key("500"), "{name} documents no 500");
                for (status, response) in responses {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    assert!(!response.description.is_empty(), "{name} {status}");
                    if is_error(status) && !(name == "GET /readyz" && status == "503") {
                        let schema = schema_name(response);
                        assert!(
                            matches!(schema, Some("ErrorBody" | "Failure")),
                            "{name} {status} answers {schema:?}"
                        );
                    }
                }
            }
            assert_eq!(doc.servers.as_ref().map(Vec::len), Some(1));
        }
    }

    #[test]
    fn each_listener_documents_only_its_own_routes() {
        let all = "public,listings,users"
            .parse::<Services>()
            .expect("services");
        let public = document(public_routes());
        let internal = document(internal_routes(all));

        assert!(public.paths.paths.contains_key("/public-api/listings"));
        assert!(!public.paths.paths.contains_key("/listings"));
        assert!(internal.paths.paths.contains_key("/listings"));
        assert!(!internal.paths.paths.contains_key("/products"));
    }
}
