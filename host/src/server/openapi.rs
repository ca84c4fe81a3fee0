//! The OpenAPI document, generated from the handlers' annotations; the
//! webhook trigger's part ([`crate::triggers::HookApi`]) is merged in.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    access, components, events, executions, instance_state, instances, integrations, system,
};

/// Every route of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Weft", description = "Runs integration flows whose steps are sandboxed WebAssembly components."),
    paths(
        components::upload, components::list, components::show, components::delete,
        integrations::upload, integrations::list, integrations::show_latest, integrations::show, integrations::delete,
        access::create_tenant, access::list_tenants, access::delete_tenant, access::create_token, access::list_tokens,
        access::revoke_token,
        instances::create, instances::list, instances::show, instances::update, instances::delete,
        instances::enable, instances::disable, instance_state::show, instance_state::delete,
        executions::run_flow, executions::list, events::events, executions::show, executions::replay, executions::retry,
        system::healthz, system::readyz, system::metrics, system::openapi,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The whole document: the API's routes and the webhook trigger's.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::triggers::HookApi::openapi());
    doc
}

/// Declares the bearer-token scheme.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
