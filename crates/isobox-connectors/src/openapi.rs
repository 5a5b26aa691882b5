//! OpenAPI connectors: each operation of an OpenAPI 3.0 or 3.1 document becomes a method of the connector's global,
//! taking one object with the operation's path, query and header parameters by name and `body` for the request body.
//!
//! The host makes the request, to the base URL only (redirects too), with the configured headers, which the program
//! can neither read nor replace; a 2xx answer resolves to its JSON body (or its text), any other rejects with an
//! `Error` whose `data` is `{ status, body }`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use isobox_capabilities::schema::SchemaConverter;
use isobox_capabilities::types::{Object, Property, ValueType};
use isobox_capabilities::{CallError, Capability, Function, Interface, Param, camel_case, identifier, unique};
use isobox_http::{HttpClient, HttpConfig, is_reserved_header};
use serde_json::{Map, Value, json};
use url::Url;

use crate::config::{ConfigError, ConnectorConfig, expand_env};

/// The largest OpenAPI document read, in bytes.
pub const MAX_DOCUMENT_BYTES: u64 = 128 << 20;
/// The most operations one document may offer.
pub const MAX_OPERATIONS: usize = 10_000;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// An OpenAPI document read and turned into a capability's functions, with how to call each.
pub struct OpenApi {
    interface: Interface,
    operations: Vec<Operation>,
    base_url: Url,
    headers: Vec<(String, String)>,
}

/// How to make one operation's request.
#[derive(Clone, Debug)]
struct Operation {
    method: &'static str,
    /// The path template, such as `/repos/{owner}/{repo}/pulls`.
    path: String,
    parameters: Vec<Parameter>,
    /// The request body's media type, when the operation takes one.
    body: Option<String>,
}

#[derive(Clone, Debug)]
struct Parameter {
    name: String,
    location: Location,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Location {
    Path,
    Query,
    Header,
}

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are credentials: only their names are shown.
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OpenApi")
            .field("name", &self.interface.name)
            .field("base_url", &self.base_url.as_str())
            .field("operations", &self.operations.len())
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}

impl OpenApi {
    /// Reads the document `config.openapi` for connector `name`.
    ///
    /// # Errors
    /// An unreadable or oversized document, one that is neither JSON nor YAML or not OpenAPI 3, no base URL (none
    /// configured and no `servers` in the document), or a header naming a `${VAR}` that is not set.
    pub fn load(name: &str, config: &ConnectorConfig) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError::connector(name, message);
        let path = config.openapi.as_deref().ok_or_else(|| error("no `openapi` document".into()))?;
        let document = read_document(path).map_err(|message| error(format!("{}: {message}", path.display())))?;
        let headers = config
            .headers
            .iter()
            .map(|(header, value)| {
                expand_env(value)
                    .map(|value| (header.clone(), value))
                    .map_err(|message| error(format!("header `{header}`: {message}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_document(name, &document, config.base_url.as_deref(), headers)
    }

    /// The operations of `document` (an OpenAPI document as JSON), for connector `name`, sending requests to
    /// `base_url` (default: the document's first server) with `headers` added.
    ///
    /// # Errors
    /// A document that is not OpenAPI 3, has more than [`MAX_OPERATIONS`] operations, or gives no usable base URL.
    pub fn from_document(
        name: &str,
        document: &Value,
        base_url: Option<&str>,
        headers: Vec<(String, String)>,
    ) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError::connector(name, message);
        let version = document.get("openapi").and_then(Value::as_str).unwrap_or("");
        if !version.starts_with("3.") {
            return Err(error(format!(
                "not an OpenAPI 3 document (its `openapi` field is `{version}`; Swagger 2.0 is not supported)"
            )));
        }
        let base = match base_url {
            Some(base) => base.to_string(),
            None => {
                let server = document.pointer("/servers/0");
                let url = server
                    .and_then(|server| server.get("url"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| error("the document names no server: set `base-url`".into()))?;
                with_defaults(url, server.and_then(|server| server.get("variables")))
            }
        };
        let base_url = Url::parse(&base).map_err(|e| error(format!("base URL `{base}`: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.query().is_some() {
            return Err(error(format!("base URL `{base}`: an http or https URL without a query is needed")));
        }
        for (header, value) in &headers {
            let valid = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(value).is_ok();
            if !valid || is_reserved_header(header) {
                return Err(error(format!("header `{header}` cannot be sent")));
            }
        }

        let mut converter = SchemaConverter::new(document);
        let mut functions = Vec::new();
        let mut operations = Vec::new();
        let mut methods_taken = HashSet::new();
        let paths = document.get("paths").and_then(Value::as_object).into_iter().flatten();
        for (path, item) in paths {
            let item = resolve(document, item);
            for method in METHODS {
                let Some(operation) = item.get(method).filter(|operation| operation.is_object()) else { continue };
                if operations.len() == MAX_OPERATIONS {
                    return Err(error(format!("more than {MAX_OPERATIONS} operations")));
                }
                let (function, call) =
                    operation_function(document, &mut converter, &mut methods_taken, path, method, item, operation);
                functions.push(function);
                operations.push(call);
            }
        }
        let info = document.get("info");
        let docs = info
            .and_then(|info| info.get("description").or_else(|| info.get("title")))
            .and_then(Value::as_str)
            .map(|text| first_sentence(text, 300));
        let interface = Interface { name: name.to_string(), global: camel_case(name), docs, functions };
        let headers = headers.into_iter().collect();
        Ok(Self { interface, operations, base_url, headers })
    }

    /// The connector's shape: one function per operation.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// The capability, making requests with `http` (whose allowed origin must be the base URL's: see
    /// [`http_config`](Self::http_config)).
    pub fn capability(&self, http: HttpClient) -> Capability {
        let shared = Arc::new(Shared { base_url: self.base_url.clone(), headers: self.headers.clone(), http });
        let mut capability = Capability::new(self.interface.clone());
        for (function, operation) in self.interface.functions.iter().zip(&self.operations) {
            let (shared, operation) = (Arc::clone(&shared), operation.clone());
            capability = capability.handler(&function.name, move |_context, args| {
                let (shared, operation) = (Arc::clone(&shared), operation.clone());
                async move { shared.call(&operation, args).await }
            });
        }
        capability
    }

    /// The WIT names of the operations that may change something: every method but `GET`, `HEAD` and `OPTIONS`.
    pub fn writes(&self) -> Vec<String> {
        let functions = self.interface.functions.iter().zip(&self.operations);
        let writes = functions.filter(|(_, operation)| !matches!(operation.method, "get" | "head" | "options"));
        writes.map(|(function, _)| function.name.clone()).collect()
    }

    /// The HTTP client settings for this connector: its base URL's origin, and nowhere else.
    pub fn http_config(&self, config: &ConnectorConfig) -> HttpConfig {
        HttpConfig {
            allowed_origins: vec![self.base_url.origin().ascii_serialization()],
            timeout: config.timeout(),
            max_response_bytes: config.max_response_bytes(),
            allow_private_addresses: config.allow_private_addresses,
            ..HttpConfig::default()
        }
    }
}

struct Shared {
    base_url: Url,
    headers: Vec<(String, String)>,
    http: HttpClient,
}

impl Shared {
    async fn call(&self, operation: &Operation, args: Value) -> Result<Value, CallError> {
        let arguments = match args {
            Value::Array(mut args) if !args.is_empty() => args.swap_remove(0),
            _ => Value::Null,
        };
        let arguments = match arguments {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut path = operation.path.clone();
        let mut query = Vec::new();
        let mut headers = self.headers.clone();
        for parameter in &operation.parameters {
            let Some(value) = arguments.get(&parameter.name).filter(|value| !value.is_null()) else { continue };
            match parameter.location {
                Location::Path => {
                    let text = scalar_text(value);
                    if text.is_empty() || text == "." || text == ".." {
                        return Err(CallError::new(format!("path parameter `{}` may not be `{text}`", parameter.name)));
                    }
                    path = path.replace(&format!("{{{}}}", parameter.name), &encode_segment(&text));
                }
                Location::Query => match value {
                    Value::Array(items) => {
                        query.extend(items.iter().map(|item| (parameter.name.clone(), scalar_text(item))))
                    }
                    value => query.push((parameter.name.clone(), scalar_text(value))),
                },
                Location::Header => {
                    // The configured headers are the host's: a program's parameter never replaces one.
                    if !self.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(&parameter.name))
                        && !is_reserved_header(&parameter.name)
                    {
                        headers.push((parameter.name.clone(), scalar_text(value)));
                    }
                }
            }
        }
        let mut url = self.base_url.clone();
        let joined = format!("{}{}", self.base_url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(&query);
        }
        let body = match (&operation.body, arguments.get("body")) {
            (Some(media), Some(body)) if !body.is_null() => {
                headers.push(("content-type".into(), media.clone()));
                Some(match body {
                    Value::String(text) if !media.contains("json") => text.clone().into_bytes(),
                    body => body.to_string().into_bytes(),
                })
            }
            _ => None,
        };
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("accept")) {
            headers.push(("accept".into(), "application/json".into()));
        }
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("user-agent")) {
            headers.push(("user-agent".into(), "isobox".into()));
        }
        let method = operation.method.to_ascii_uppercase();
        let response = self.http.send(&method, url, headers, body).await?;
        let json = response.header("content-type").is_some_and(|media| media.contains("json"));
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice::<Value>(&response.body) {
                Ok(value) if json || !response.body.starts_with(b"\"") => value,
                _ => Value::String(String::from_utf8_lossy(&response.body).into_owned()),
            }
        };
        if (200..300).contains(&response.status) {
            Ok(body)
        } else {
            let message = format!("{method} {} answered {}", operation.path, response.status);
            Err(CallError::with_data(message, json!({ "status": response.status, "body": body })))
        }
    }
}

/// A server URL with its `{variables}` set to their defaults (`https://{host}/api/v3`).
fn with_defaults(url: &str, variables: Option<&Value>) -> String {
    let mut url = url.to_string();
    for (name, variable) in variables.and_then(Value::as_object).into_iter().flatten() {
        if let Some(default) = variable.get("default").and_then(Value::as_str) {
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    url
}

/// One operation as a function, and how to call it.
fn operation_function(
    document: &Value,
    converter: &mut SchemaConverter,
    taken: &mut HashSet<String>,
    path: &str,
    method: &'static str,
    item: &Value,
    operation: &Value,
) -> (Function, Operation) {
    // Path-level parameters, unless the operation redefines them (same name and place).
    let mut declared: Vec<&Value> = Vec::new();
    let own = operation.get("parameters").and_then(Value::as_array).into_iter().flatten();
    let shared = item.get("parameters").and_then(Value::as_array).into_iter().flatten();
    for parameter in own.chain(shared) {
        let parameter = resolve(document, parameter);
        let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
        if !declared.iter().any(|known| key(known) == key(parameter)) {
            declared.push(parameter);
        }
    }
    let mut properties = Vec::new();
    let mut parameters = Vec::new();
    for parameter in declared {
        let (Some(name), Some(location)) = (parameter.get("name").and_then(Value::as_str), parameter.get("in")) else {
            continue;
        };
        let location = match location.as_str() {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            // Cookies are the host's business.
            _ => continue,
        };
        if properties.iter().any(|property: &Property| property.name == name) || name == "body" {
            continue;
        }
        let schema = parameter.get("schema").unwrap_or(&Value::Bool(true));
        properties.push(Property {
            name: name.to_string(),
            docs: SchemaConverter::docs(parameter).map(|docs| first_sentence(&docs, 200)),
            ty: converter.convert(schema),
            required: location == Location::Path || parameter.get("required") == Some(&Value::Bool(true)),
        });
        parameters.push(Parameter { name: name.to_string(), location });
    }
    let request_body = operation.get("requestBody").map(|body| resolve(document, body));
    let mut body_media = None;
    if let Some(request_body) = request_body {
        let content = request_body.get("content").and_then(Value::as_object);
        let chosen = content.and_then(|content| {
            content.iter().find(|(media, _)| media.contains("json")).or_else(|| content.iter().next())
        });
        let (media, schema) = chosen.map_or(("application/json".to_string(), Value::Bool(true)), |(media, entry)| {
            (media.clone(), entry.get("schema").cloned().unwrap_or(Value::Bool(true)))
        });
        properties.push(Property {
            name: "body".into(),
            docs: SchemaConverter::docs(request_body).map(|docs| first_sentence(&docs, 200)),
            ty: converter.convert(&schema),
            required: request_body.get("required") == Some(&Value::Bool(true)),
        });
        body_media = Some(media);
    }

    let result = success_schema(document, operation).map_or(ValueType::Any, |schema| converter.convert(schema));
    let error_data = Object {
        properties: vec![
            Property { name: "status".into(), docs: None, ty: integer(), required: true },
            Property { name: "body".into(), docs: None, ty: ValueType::Any, required: true },
        ],
        additional: None,
    };
    let result = ValueType::Result {
        ok: Some(Box::new(ValueType::Declared(Box::new(result)))),
        err: Some(Box::new(ValueType::Object(Arc::new(error_data)))),
    };

    let params = if properties.is_empty() {
        Vec::new()
    } else {
        let any_required = properties.iter().any(|property| property.required);
        let object = ValueType::Object(Arc::new(Object { properties, additional: None }));
        let ty = if any_required { object } else { ValueType::Option(Box::new(object)) };
        vec![Param { name: "params".into(), ty }]
    };
    let name = method_name(operation.get("operationId").and_then(Value::as_str), method, path, taken);
    let summary = operation.get("summary").and_then(Value::as_str).map(|text| first_sentence(text, 200));
    let mut docs = summary.unwrap_or_default();
    if !docs.is_empty() {
        docs.push('\n');
    }
    docs.push_str(&format!("{} {path}", method.to_ascii_uppercase()));
    if operation.get("deprecated") == Some(&Value::Bool(true)) {
        docs.push_str("\n@deprecated");
    }
    let function = Function { name: name.clone(), method: name, docs: Some(docs), params, result: Some(result) };
    let call = Operation { method, path: path.to_string(), parameters, body: body_media };
    (function, call)
}

/// The schema of the first 2xx (else `default`) response's JSON content.
fn success_schema<'a>(document: &'a Value, operation: &'a Value) -> Option<&'a Value> {
    let responses = operation.get("responses")?.as_object()?;
    let response = responses
        .iter()
        .find(|(status, _)| status.starts_with('2'))
        .or_else(|| responses.get_key_value("default"))
        .map(|(_, response)| resolve(document, response))?;
    let content = response.get("content")?.as_object()?;
    let (_, entry) = content.iter().find(|(media, _)| media.contains("json")).or_else(|| content.iter().next())?;
    entry.get("schema")
}

/// `pulls/list` → `pullsList`; without an operation id, the method and path (`getReposOwnerRepo`). Unique.
fn method_name(operation_id: Option<&str>, method: &str, path: &str, taken: &mut HashSet<String>) -> String {
    let source = operation_id.map_or_else(|| format!("{method} {path}"), str::to_string);
    unique(identifier(&source, method), taken)
}

/// A `$ref` to something in the document, followed (a few steps at most); anything else as is.
fn resolve<'a>(document: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match value.get("$ref").and_then(Value::as_str).and_then(|reference| reference.strip_prefix('#')) {
            Some(pointer) => value = document.pointer(pointer).unwrap_or(&Value::Null),
            None => break,
        }
    }
    value
}

fn integer() -> ValueType {
    ValueType::Integer {
        min: -isobox_capabilities::types::MAX_SAFE_INTEGER,
        max: isobox_capabilities::types::MAX_SAFE_INTEGER,
        wit: "integer",
    }
}

/// A parameter's value as text: strings as they are, other values as JSON.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` as one path segment: everything but unreserved characters percent-encoded, `/` included.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The first sentence (or line) of `text`, at most `max` bytes.
fn first_sentence(text: &str, max: usize) -> String {
    let line = text.trim().lines().next().unwrap_or("");
    let sentence = line.find(". ").map_or(line, |end| &line[..=end]);
    isobox_core::output::shorten(sentence.trim(), max)
}

/// The document at `path`: JSON, or YAML if it is not JSON.
fn read_document(path: &Path) -> Result<Value, String> {
    let size = std::fs::metadata(path).map_err(|error| error.to_string())?.len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'{') {
        return serde_json::from_slice(&bytes).map_err(|error| format!("not valid JSON: {error}"));
    }
    let yaml: serde_yaml::Value =
        serde_yaml::from_slice(&bytes).map_err(|error| format!("neither JSON nor valid YAML: {error}"))?;
    Ok(yaml_to_json(yaml))
}

/// YAML as JSON: keys that are not strings (`200:` in `responses`) become their text; tags are dropped.
fn yaml_to_json(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(flag) => Value::Bool(flag),
        Yaml::Number(number) => serde_json::to_value(&number).unwrap_or(Value::Null),
        Yaml::String(text) => Value::String(text),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        Yaml::String(text) => text,
                        Yaml::Number(number) => number.to_string(),
                        Yaml::Bool(flag) => flag.to_string(),
                        other => serde_yaml::to_string(&other).unwrap_or_default().trim().to_string(),
                    };
                    (key, yaml_to_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn api(document: Value, base_url: Option<&str>) -> Result<OpenApi, ConfigError> {
        OpenApi::from_document("api", &document, base_url, Vec::new())
    }

    #[test]
    fn the_base_url_is_the_first_server_with_its_variables_defaulted() {
        let document = json!({ "openapi": "3.1.0", "paths": {},
            "servers": [{ "url": "https://{host}/api/{version}", "variables": {
                "host": { "default": "ghe.example.com" }, "version": { "default": "v3", "enum": ["v3"] } } }] });
        assert_eq!(api(document.clone(), None).unwrap().base_url.as_str(), "https://ghe.example.com/api/v3");
        assert_eq!(api(document, Some("http://127.0.0.1:1/x")).unwrap().base_url.as_str(), "http://127.0.0.1:1/x");
        let error = api(json!({ "openapi": "3.0.0", "paths": {} }), None).err().unwrap().to_string();
        assert_eq!(error, "connector `api`: the document names no server: set `base-url`");
        let error = api(json!({ "swagger": "2.0" }), Some("https://a.example")).err().unwrap().to_string();
        assert!(error.contains("Swagger 2.0 is not supported"), "{error}");
    }

    #[test]
    fn methods_are_named_from_operation_ids_or_method_and_path() {
        let document = json!({ "openapi": "3.0.0", "paths": {
            "/repos/{owner}/{repo}": { "get": { "operationId": "repos/get" }, "delete": {} },
            "/x": { "get": { "operationId": "repos/get" }, "post": { "operationId": "2fa.enable" } } } });
        let api = api(document, Some("https://a.example")).unwrap();
        let mut methods: Vec<&str> = api.interface().functions.iter().map(|f| f.method.as_str()).collect();
        methods.sort();
        assert_eq!(methods, ["_2faEnable", "deleteReposOwnerRepo", "reposGet", "reposGet2"]);
    }
}
