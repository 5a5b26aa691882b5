//! The endpoints, and what every request passes through: a request id, a log line and a count; for `/v1` and `/mcp`,
//! the tenant's key and its concurrency cap.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use isobox_capabilities::Interface;
use isobox_connectors::LimitsConfig;
use isobox_connectors::serving::limit_above;
use isobox_core::Outcome;
use isobox_core::approval::{ApprovalError, Approvals, Decision};
use isobox_core::fit::{self, FittedOutcome};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::State as Shared;
use crate::error::ApiError;
use crate::tenants::Tenant;

type AppState = Arc<Shared>;

pub fn router(state: AppState) -> Router {
    let tenants_only = Router::new()
        .route("/v1/execute", post(execute))
        .route("/v1/runs/{run_id}", get(pending_run))
        .route("/v1/runs/{run_id}/approve", post(approve))
        .route("/v1/runs/{run_id}/deny", post(deny))
        .route("/v1/types", get(types))
        .route("/v1/search", get(search))
        .route("/mcp", any(mcp))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), authenticate));
    Router::new()
        .route("/healthz", get(|| async { json_response(StatusCode::OK, &json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(tenants_only)
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint takes another method")
        })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

/// The header a request id travels in, both ways.
const REQUEST_ID: &str = "x-request-id";

/// The tenant a response was for, for the log line.
#[derive(Clone)]
struct TenantName(String);

/// Gives every request an id (the client's `x-request-id` when it is a sensible one), echoes it, counts the request
/// and logs it.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id.as_bytes().iter().all(|&byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()).expect("a uuid is a header value")
        });
    let endpoint = endpoint(request.uri().path());
    let method = request.method().clone();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.request(endpoint, status);
    let tenant = response.extensions().get::<TenantName>().map(|tenant| tenant.0.clone());
    tracing::info!(
        request_id = id.to_str().unwrap_or(""),
        %method,
        endpoint,
        status,
        tenant = tenant.as_deref().unwrap_or("-"),
        duration_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// A bounded name for a path, for counting.
fn endpoint(path: &str) -> &'static str {
    match path {
        "/v1/execute" => "execute",
        "/v1/types" => "types",
        "/v1/search" => "search",
        "/mcp" => "mcp",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        _ => "other",
    }
}

/// The tenant the request's API key names, admitted within its concurrency cap (held until the response is made).
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(authorization) = request.headers().get(header::AUTHORIZATION) else {
        return ApiError::unauthorized("send the API key as `Authorization: Bearer KEY`").into_response();
    };
    let Some(tenant) = authorization.to_str().ok().and_then(|value| state.tenants.authenticate(value)) else {
        return ApiError::unauthorized("the API key is not valid").into_response();
    };
    let tenant = Arc::clone(tenant);
    let Some(_permit) = tenant.admit() else {
        let message =
            format!("tenant `{}` has {} requests running, its most at once", tenant.name, tenant.max_concurrent);
        let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message).into_response();
        response.extensions_mut().insert(TenantName(tenant.name.clone()));
        return response;
    };
    request.extensions_mut().insert(Arc::clone(&tenant));
    let mut response = next.run(request).await;
    response.extensions_mut().insert(TenantName(tenant.name.clone()));
    response
}

/// The body, up to the configured size: 413 beyond it.
async fn read_body(state: &Shared, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the body is larger than {limit} bytes"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let beyond = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
            || error.to_string().contains("length limit");
        if beyond { too_large() } else { ApiError::invalid(format!("reading the body: {error}")) }
    })
}

/// `POST /v1/execute`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Execute {
    /// The program: the body of an async function (JavaScript, or TypeScript with `typescript` or in a code fence).
    code: String,
    input: Option<Value>,
    #[serde(default)]
    typescript: bool,
    /// Capabilities to grant, each one the tenant may be granted; none named: all of the tenant's.
    grants: Option<Vec<String>>,
    /// Limits within the tenant's ceilings; none named: the ceilings.
    #[serde(default)]
    limits: LimitsConfig,
    /// Fit the result and logs to this many tokens (`isobox run --result-tokens`); none: the whole output.
    #[serde(rename = "result-tokens", alias = "result_tokens")]
    result_tokens: Option<usize>,
}

async fn execute(
    State(state): State<AppState>,
    Extension(tenant): Extension<Arc<Tenant>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&state, &headers, body).await?;
    let execute: Execute = serde_json::from_slice(&body)
        .map_err(|error| ApiError::invalid(format!("the body is not an execute request: {error}")))?;
    let grants = match execute.grants {
        Some(grants) => {
            check_grants(&tenant, grants.iter().map(String::as_str))?;
            grants
        }
        None => tenant.grants.clone(),
    };
    let limits = execute.limits.over(&tenant.ceiling).map_err(ApiError::invalid)?;
    if let Some(above) = limit_above(&limits, &tenant.ceiling) {
        return Err(ApiError::forbidden(above));
    }
    if execute.result_tokens.is_some_and(|tokens| !(1..=fit::MAX_TOKENS).contains(&tokens)) {
        return Err(ApiError::invalid(format!("`result-tokens` must be from 1 to {}", fit::MAX_TOKENS)));
    }
    let typescript = execute.typescript || isobox_typescript::is_fenced(&execute.code);
    let backend = if typescript { &state.typescript } else { &state.backend };
    let request = isobox_core::Request {
        code: execute.code,
        input: execute.input,
        options: isobox_core::RunOptions { limits, grants, tenant: Some(tenant.name.clone()) },
        replay: None,
    };
    let outcome = match &state.approvals {
        Some(approvals) if state.capabilities.needs_approval(&request.options.grants) => {
            approvals.run(backend.as_ref(), request).await
        }
        _ => backend.run(&request).await,
    };
    outcome_response(&outcome, execute.result_tokens)
}

/// An outcome as `/v1/execute` answers it: the JSON of `isobox run --json`, fitted to `result_tokens` if given.
fn outcome_response(outcome: &Outcome, result_tokens: Option<usize>) -> Result<Response, ApiError> {
    let report = match result_tokens {
        Some(tokens) => FittedOutcome::new(outcome, tokens),
        None => FittedOutcome::whole(outcome),
    };
    let text = serde_json::to_string(&report).map_err(|error| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the outcome did not serialise: {error}"))
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// A decision's error as an answer: 404 for no such run, 409 for the wrong backend, 503 when the store failed.
fn approval_error(error: ApprovalError) -> ApiError {
    let status = match &error {
        ApprovalError::NotFound { .. } => StatusCode::NOT_FOUND,
        ApprovalError::WrongBackend { .. } => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, error.kind(), error.to_string())
}

fn approvals(state: &Shared) -> Result<&Approvals, ApiError> {
    state.approvals.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no capability here needs approval: no run waits for one")
    })
}

/// `GET /v1/runs/RUN_ID`: the call the run stopped at.
async fn pending_run(
    State(state): State<AppState>,
    Extension(tenant): Extension<Arc<Tenant>>,
    Path(run_id): Path<String>,
) -> Result<Response, ApiError> {
    let pending = approvals(&state)?.pending(Some(&tenant.name), &run_id).await.map_err(approval_error)?;
    let args: Value = serde_json::from_str(&pending.call.args).unwrap_or(Value::Null);
    let answer = json!({
        "run_id": run_id,
        "capability": pending.call.capability,
        "method": pending.call.method,
        "args": args,
        "grants": pending.grants,
        "backend": pending.backend,
    });
    Ok(json_response(StatusCode::OK, &answer))
}

/// `POST /v1/runs/…/deny`'s body.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deny {
    reason: Option<String>,
}

/// `POST /v1/runs/RUN_ID/approve`: continues the run, making the call it stopped at.
async fn approve(
    State(state): State<AppState>,
    Extension(tenant): Extension<Arc<Tenant>>,
    Path(run_id): Path<String>,
) -> Result<Response, ApiError> {
    decide(&state, &tenant, &run_id, Decision::Approve).await
}

/// `POST /v1/runs/RUN_ID/deny` (`{reason?}`): continues the run, the call it stopped at throwing an `Error`.
async fn deny(
    State(state): State<AppState>,
    Extension(tenant): Extension<Arc<Tenant>>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&state, &headers, body).await?;
    let deny: Deny = if body.is_empty() {
        Deny::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| ApiError::invalid(format!("the body is not `{{reason?}}`: {error}")))?
    };
    decide(&state, &tenant, &run_id, Decision::Deny { reason: deny.reason }).await
}

async fn decide(state: &Shared, tenant: &Tenant, run_id: &str, decision: Decision) -> Result<Response, ApiError> {
    let approvals = approvals(state)?;
    let outcome =
        approvals.decide(state.backend.as_ref(), Some(&tenant.name), run_id, decision).await.map_err(approval_error)?;
    outcome_response(&outcome, None)
}

/// Refuses a grant the tenant may not have.
fn check_grants<'a>(tenant: &Tenant, grants: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
    for grant in grants {
        if !tenant.grants.iter().any(|allowed| allowed == grant) {
            return Err(ApiError::forbidden(format!(
                "tenant `{}` may not be granted `{}` (its grants: {})",
                tenant.name,
                grant.chars().take(100).collect::<String>(),
                tenant.grants.join(", ")
            )));
        }
    }
    Ok(())
}

/// The tenant's interfaces that `grants` (comma-separated) names, else all of them.
fn granted(tenant: &Tenant, grants: Option<&str>) -> Result<Vec<Interface>, ApiError> {
    let Some(grants) = grants.filter(|grants| !grants.is_empty()) else {
        return Ok(tenant.interfaces.clone());
    };
    let names: Vec<&str> = grants.split(',').map(str::trim).collect();
    check_grants(tenant, names.iter().copied())?;
    Ok(tenant.interfaces.iter().filter(|interface| names.contains(&interface.name.as_str())).cloned().collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypesQuery {
    grants: Option<String>,
}

async fn types(
    Extension(tenant): Extension<Arc<Tenant>>,
    query: Result<Query<TypesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::invalid(error.body_text()))?;
    let interfaces = granted(&tenant, query.grants.as_deref())?;
    let text = isobox_capabilities::declarations(&interfaces);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    budget: Option<usize>,
    grants: Option<String>,
}

async fn search(
    Extension(tenant): Extension<Arc<Tenant>>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::invalid(error.body_text()))?;
    let budget = query.budget.unwrap_or(isobox_mcp::DEFAULT_SEARCH_BUDGET as usize);
    if !(200..=100_000).contains(&budget) {
        return Err(ApiError::invalid("`budget` must be a number of bytes from 200 to 100000"));
    }
    let interfaces = granted(&tenant, query.grants.as_deref())?;
    let text = isobox_mcp::search(&interfaces, query.q.as_deref(), budget);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The tenant's MCP server over Streamable HTTP.
async fn mcp(
    State(state): State<AppState>,
    Extension(tenant): Extension<Arc<Tenant>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(&state, &parts.headers, body).await?;
    let response = tenant.mcp.handle(axum::http::Request::from_parts(parts, Body::from(body))).await;
    Ok(response.map(Body::new))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "draining"}));
    }
    let Some(readiness) = &state.readiness else {
        return json_response(StatusCode::OK, &json!({"status": "ready"}));
    };
    match tokio::time::timeout(Duration::from_secs(2), readiness()).await {
        Ok(Ok(())) => json_response(StatusCode::OK, &json!({"status": "ready"})),
        Ok(Err(message)) => {
            json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "unavailable", "message": message}))
        }
        Err(_) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "unavailable", "message": "the store did not answer within 2 s"}),
        ),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}
