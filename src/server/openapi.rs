//! The OpenAPI document of the service, served at `/openapi.json` and kept
//! in the repository as `schema/openapi.json` (a test compares them).
//!
//! The bodies of the library's own types refer to the JSON Schema documents
//! of [`crate::schema::documents`], which the service serves at
//! `/schema/{name}.json`; the service's own bodies (tokens, codes, residents'
//! ballots and ideas) are in the document's `components`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::api::{NewCodes, NewToken, ResidentBallot, ResidentIdea};

/// An external schema document of the library, as served.
fn doc(name: &str) -> Value {
    json!({ "$ref": format!("/schema/{name}.json") })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn answer(description: &str, schema: Option<Value>) -> Value {
    match schema {
        Some(schema) => json!({
            "description": description,
            "content": { "application/json": { "schema": schema } }
        }),
        None => json!({ "description": description }),
    }
}

fn html(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/html": { "schema": { "type": "string" } } }
    })
}

/// The problems every call may answer with.
fn problems(codes: &[(&str, &str)]) -> Map<String, Value> {
    codes
        .iter()
        .map(|(status, what)| ((*status).to_owned(), answer(what, Some(doc("problem")))))
        .collect()
}

fn responses(ok: &[(&str, Value)], problems_: &[(&str, &str)]) -> Value {
    let mut map = problems(problems_);
    for (status, v) in ok {
        map.insert((*status).to_owned(), v.clone());
    }
    Value::Object(map)
}

const OFFICIAL: &[(&str, &str)] = &[
    ("401", "No token, or an unknown or revoked one"),
    (
        "403",
        "The token is for another programme or its role does not allow this",
    ),
    ("404", "No such programme or year"),
];

fn programme_param() -> Value {
    json!({ "name": "programme", "in": "path", "required": true,
            "schema": { "type": "string", "format": "uuid" } })
}

fn year_param() -> Value {
    json!({ "name": "year", "in": "path", "required": true,
            "schema": { "type": "integer", "format": "int32" } })
}

/// A token as listed.
fn token_grant() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "role": { "type": "string", "enum": ["administrator", "official", "paper_entry"] },
            "programme": { "type": ["string", "null"], "format": "uuid" },
            "label": { "type": "string" }
        },
        "required": ["id", "role", "programme", "label"]
    })
}

/// The service's OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .with(|s| s.definitions_path = "/components/schemas/".into())
        .into_generator();
    let resident_ballot = generator.subschema_for::<ResidentBallot>().to_value();
    let resident_idea = generator.subschema_for::<ResidentIdea>().to_value();
    let new_token = generator.subschema_for::<NewToken>().to_value();
    let new_codes = generator.subschema_for::<NewCodes>().to_value();
    let schemas = generator.take_definitions(true);
    let bearer = json!([{ "token": [] }]);
    let grant = token_grant();
    let summary = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "area": { "type": "string" },
            "first_year": { "type": "integer" },
            "years": { "type": "integer" },
            "current_year": { "type": ["integer", "null"] },
            "step": { "type": ["string", "null"] }
        },
        "required": ["id", "area", "first_year", "years"]
    });
    let stored = json!({
        "type": "object",
        "properties": { "stored": { "const": true }, "retry": { "type": "boolean" } },
        "required": ["stored"]
    });
    let resident_problems: &[(&str, &str)] = &[
        ("400", "The body is not JSON of the right shape"),
        (
            "401",
            "The voting code is not valid for this programme and year",
        ),
        ("404", "No such programme"),
        (
            "409",
            "The programme's current year is not in the step that accepts this",
        ),
        (
            "422",
            "The rules refuse it (a ballot rule, a second ballot, …)",
        ),
        ("429", "Too many wrong codes: wait as Retry-After says"),
        ("503", "Too many writes waiting: retry as Retry-After says"),
    ];
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "medborgarbudget",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The reference service of the medborgarbudget crate: participatory budgeting as the Swedish association of municipalities describes it. Officials send `Authorization: Bearer <token>`; residents send their voting code in the body. Every refusal is a problem: `{\"code\",\"details\",\"message\"}` with a stable machine code."
        },
        "servers": [{ "url": "/" }],
        "components": {
            "securitySchemes": {
                "token": { "type": "http", "scheme": "bearer", "description": "An official's API token (`mbt_…`), scoped to one programme (or, for a server-wide administrator, to none)." }
            },
            "schemas": schemas
        },
        "paths": {
            "/api/programmes": {
                "get": {
                    "operationId": "listProgrammes",
                    "summary": "The programmes the token covers",
                    "security": bearer,
                    "responses": responses(
                        &[("200", answer("The programmes", Some(json!({
                            "type": "object",
                            "properties": { "programmes": { "type": "array", "items": summary } },
                            "required": ["programmes"]
                        }))))],
                        &OFFICIAL[..1]
                    )
                },
                "post": {
                    "operationId": "createProgramme",
                    "summary": "Establish a programme (a server-wide administrator's token)",
                    "description": "A retry with the same setup answers 200 with the programme; another setup under the same id is 409.",
                    "security": bearer,
                    "requestBody": body(json!({ "$ref": "/schema/programme_setup.json" })),
                    "responses": responses(
                        &[("201", answer("Established", Some(summary.clone()))),
                          ("200", answer("Established before, with the same setup", Some(summary.clone())))],
                        &[("400", "The body is not JSON of the right shape"),
                          ("401", "No token, or an unknown one"),
                          ("403", "Not a server-wide administrator's token"),
                          ("409", "The id is taken by another setup"),
                          ("422", "The setup breaks a rule (fewer than three years, …)")]
                    )
                }
            },
            "/api/programmes/{programme}": {
                "parameters": [programme_param()],
                "get": {
                    "operationId": "getProgramme",
                    "summary": "The programme's read model",
                    "security": bearer,
                    "responses": responses(&[("200", answer("The programme", Some(doc("programme"))))], OFFICIAL)
                }
            },
            "/api/programmes/{programme}/commands": {
                "parameters": [programme_param()],
                "post": {
                    "operationId": "sendCommand",
                    "summary": "One programme command; a year's command wrapped as {\"cycle\":{\"year\":…,\"command\":…}}",
                    "description": "An official's or administrator's token; a paper-entry token may send enter_paper_ballots only. A refused command changes nothing. Send an Idempotency-Key (any printable ASCII, at most 255 bytes, new for each command) to make a retry harmless: a command stored under the key before is not decided again but answered with the events it recorded then, with the header Idempotent-Replayed: true. Without a key a retry is decided again: one that names its own id (an idea, project or ballot) or step is refused, but add_funds, record_outreach, record_milestone and record_progress would be recorded twice.",
                    "security": bearer,
                    "parameters": [{
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": false,
                        "description": format!("The caller's id for this command (1 to {} printable ASCII bytes), remembered for the server's latest {} keyed commands, across restarts", super::MAX_KEY_LENGTH, super::REMEMBERED_KEYS),
                        "schema": { "type": "string", "minLength": 1, "maxLength": 255 }
                    }],
                    "requestBody": body(doc("programme_command")),
                    "responses": responses(
                        &[("200", answer("Accepted and stored (or, with Idempotent-Replayed: true, stored before under this Idempotency-Key): the events it recorded", Some(json!({
                            "type": "object",
                            "properties": { "events": { "type": "array", "items": doc("programme_event") } },
                            "required": ["events"]
                        }))))],
                        &[OFFICIAL, &[("400", "The body is not JSON of the right shape, or the Idempotency-Key is empty, too long or not printable ASCII"),
                          ("422", "The rules refuse the command, or the Idempotency-Key came with another command before (idempotency_key_reused)"),
                          ("503", "Too many writes waiting: retry as Retry-After says")]].concat()
                    )
                }
            },
            "/api/programmes/{programme}/years/{year}": {
                "parameters": [programme_param(), year_param()],
                "get": {
                    "operationId": "getYear",
                    "summary": "One year's cycle",
                    "security": bearer,
                    "responses": responses(&[("200", answer("The cycle", Some(doc("cycle"))))], OFFICIAL)
                }
            },
            "/api/programmes/{programme}/years/{year}/available": {
                "parameters": [programme_param(), year_param()],
                "get": {
                    "operationId": "getAvailable",
                    "summary": "What the year's step accepts, the command that leaves it and its unmet conditions",
                    "security": bearer,
                    "responses": responses(&[("200", answer("What can be done now", Some(doc("available"))))], OFFICIAL)
                }
            },
            "/api/programmes/{programme}/report": {
                "parameters": [programme_param(),
                    { "name": "lang", "in": "query", "required": false,
                      "schema": { "enum": ["sv", "en"], "default": "en" } }],
                "get": {
                    "operationId": "getReport",
                    "summary": "The programme's self-contained HTML report",
                    "security": bearer,
                    "responses": responses(&[("200", html("The report"))],
                        &[OFFICIAL, &[("422", "Nothing to report yet")]].concat())
                }
            },
            "/api/programmes/{programme}/tokens": {
                "parameters": [programme_param()],
                "post": {
                    "operationId": "createToken",
                    "summary": "A token for this programme (an administrator's token); the token is in this answer only",
                    "security": bearer,
                    "requestBody": body(new_token),
                    "responses": responses(&[("201", answer("The token", Some(json!({
                        "type": "object",
                        "properties": {
                            "token": { "type": "string" },
                            "id": { "type": "string", "format": "uuid" },
                            "programme": { "type": "string", "format": "uuid" }
                        },
                        "required": ["token", "id", "programme"]
                    }))))], OFFICIAL)
                },
                "get": {
                    "operationId": "listTokens",
                    "summary": "The programme's live tokens (an administrator's token): ids, roles and labels, never the tokens",
                    "security": bearer,
                    "responses": responses(&[("200", answer("The tokens", Some(json!({
                        "type": "object",
                        "properties": { "tokens": { "type": "array", "items": grant.clone() } },
                        "required": ["tokens"]
                    }))))], OFFICIAL)
                }
            },
            "/api/tokens/{token}": {
                "parameters": [{ "name": "token", "in": "path", "required": true,
                                 "description": "The token's id (not the token)",
                                 "schema": { "type": "string", "format": "uuid" } }],
                "delete": {
                    "operationId": "revokeToken",
                    "summary": "Revokes a token by id: a server-wide administrator any, a programme's administrator its programme's",
                    "security": bearer,
                    "responses": responses(&[("204", answer("Revoked", None))], &[
                        ("401", "No token, or an unknown or revoked one"),
                        ("403", "The caller is not an administrator"),
                        ("404", "No live token with this id that the caller may revoke")])
                }
            },
            "/api/programmes/{programme}/codes": {
                "parameters": [programme_param()],
                "post": {
                    "operationId": "createCodes",
                    "summary": "One voting code per eligible resident for a year (an official's token); the codes are in this answer only",
                    "security": bearer,
                    "requestBody": body(new_codes),
                    "responses": responses(&[("201", answer("The codes, in the residents' order", Some(json!({
                        "type": "object",
                        "properties": {
                            "year": { "type": "integer" },
                            "codes": { "type": "array", "items": {
                                "type": "object",
                                "properties": {
                                    "resident": { "type": "string", "format": "uuid" },
                                    "code": { "type": "string" }
                                },
                                "required": ["resident", "code"]
                            } }
                        },
                        "required": ["year", "codes"]
                    }))))], &[OFFICIAL, &[("409", "A resident has a code for this year already"),
                        ("413", "More residents than one request may hold")]].concat())
                }
            },
            "/api/programmes/{programme}/ballots": {
                "parameters": [programme_param()],
                "post": {
                    "operationId": "castBallot",
                    "summary": "A resident's ballot, with their voting code, in the current year's step 5",
                    "description": "A retry with the same ballot id answers 200 and is not counted twice; a second ballot with the same code is 422 `already_voted`.",
                    "security": [],
                    "requestBody": body(resident_ballot),
                    "responses": responses(
                        &[("201", answer("Stored", Some(stored.clone()))),
                          ("200", answer("Stored before (a retry)", Some(stored.clone())))],
                        resident_problems
                    )
                }
            },
            "/api/programmes/{programme}/ideas": {
                "parameters": [programme_param()],
                "post": {
                    "operationId": "submitIdea",
                    "summary": "A resident's idea, with their voting code, in the current year's step 3",
                    "security": [],
                    "requestBody": body(resident_idea),
                    "responses": responses(
                        &[("201", answer("Stored", Some(stored.clone()))),
                          ("200", answer("Stored before (a retry)", Some(stored)))],
                        resident_problems
                    )
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": { "200": { "description": "The OpenAPI document" } }
                }
            },
            "/schema/{name}": {
                "parameters": [{ "name": "name", "in": "path", "required": true,
                                 "schema": { "type": "string" } }],
                "get": {
                    "operationId": "getSchema",
                    "summary": "A JSON Schema document of the library (`command.json`, `programme.json`, …)",
                    "security": [],
                    "responses": { "200": { "description": "The schema" },
                                   "404": answer("No such schema", Some(doc("problem"))) }
                }
            }
        }
    })
}

/// `GET /openapi.json`.
pub(super) async fn serve() -> Json<Value> {
    Json(document())
}

/// `GET /schema/{name}.json`: one of [`crate::schema::documents`].
pub(super) async fn schema_file(Path(name): Path<String>) -> Response {
    let wanted = name.strip_suffix(".json").unwrap_or(&name);
    crate::schema::documents()
        .into_iter()
        .find(|(n, _)| *n == wanted)
        .map_or_else(
            || {
                super::api::problem(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no schema {name}"),
                )
            },
            |(_, schema)| Json(schema).into_response(),
        )
}
