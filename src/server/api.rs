//! The JSON API: officials' commands and read models, tokens and codes, and
//! residents' ballots and ideas by voting code.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::receipts::{BadKey, RequestKey};
use super::{Busy, MAX_KEY_LENGTH, Outcome, RETRY_AFTER, Role, Service, TokenGrant};
use crate::area::Resident;
use crate::ballot::{BallotSubmission, Choices};
use crate::idea::IdeaSubmission;
use crate::ids::{BallotId, IdeaId, ProgrammeId, ResidentId};
use crate::money::Money;
use crate::part::PartId;
use crate::process::{
    Command, CycleError, Programme, ProgrammeCommand, ProgrammeError, ProgrammeEvent,
    ProgrammeSetup, Step,
};
use crate::store::{RepositoryError, StoreError, StreamId};
use crate::text::LocalText;
use crate::wire::Problem;

/// A problem as a response: `{"code","details","message"}` with `status`.
pub(super) fn problem(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut p = Problem::of(&NoDetails);
    p.code = code.to_owned();
    p.message = message.into();
    (status, Json(p)).into_response()
}

#[derive(Serialize)]
struct NoDetails;

impl std::fmt::Display for NoDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("")
    }
}

fn refused(p: Problem) -> Response {
    let status = if p.code == "invalid_json" {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(p)).into_response()
}

pub(super) fn busy() -> Response {
    let mut r = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the service has too many writes waiting; try again shortly",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER.as_secs()),
    );
    r
}

/// 500 `store_failed`: the store (or a task reading it) failed.
fn store_failed(e: impl std::fmt::Display) -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store_failed",
        e.to_string(),
    )
}

/// A repository failure as a response.
pub(super) fn failed(e: &RepositoryError<ProgrammeError, ProgrammeError>) -> Response {
    match e {
        RepositoryError::NotFound { stream } => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no programme in stream {stream}"),
        ),
        RepositoryError::Rejected(e) => refused(Problem::of(e)),
        other => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_failed",
            crate::error_chain(other),
        ),
    }
}

/// `Authorization: Bearer …`, if sent.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// What an official needs for a request.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Any live token covering the programme.
    Read,
    /// An official or administrator covering the programme.
    Official,
    /// An administrator covering the programme (or, with no programme, a
    /// server-wide one).
    Administrator,
}

/// The caller's live token, or 401.
fn token_grant(service: &Service, headers: &HeaderMap) -> Result<TokenGrant, Response> {
    bearer(headers)
        .and_then(|token| service.access().token(token))
        .ok_or_else(|| {
            let mut r = problem(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send an official's token as `Authorization: Bearer <token>`",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        })
}

/// The caller's grant, or 401 (no or unknown token) / 403 (not enough).
fn authorize(
    service: &Service,
    headers: &HeaderMap,
    programme: Option<ProgrammeId>,
    need: Need,
) -> Result<TokenGrant, Response> {
    let grant = token_grant(service, headers)?;
    let forbidden = |why: &str| problem(StatusCode::FORBIDDEN, "forbidden", why.to_owned());
    match programme {
        Some(p) if !grant.covers(p) => {
            return Err(forbidden("the token is for another programme"));
        }
        None if grant.programme.is_some() => {
            return Err(forbidden("the token is for one programme only"));
        }
        _ => {}
    }
    let enough = match need {
        Need::Read => true,
        Need::Official => matches!(grant.role, Role::Official | Role::Administrator),
        Need::Administrator => grant.role == Role::Administrator,
    };
    if enough {
        Ok(grant)
    } else {
        Err(forbidden("the token's role does not allow this"))
    }
}

/// Any unknown route.
pub(super) async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// `GET /api/programmes`: the programmes the token covers.
pub(super) async fn list(State(s): State<Service>, headers: HeaderMap) -> Response {
    // Any live token: a programme's lists its own programme.
    let grant = match token_grant(&s, &headers) {
        Ok(grant) => grant,
        Err(r) => return r,
    };
    let ids = match programme_ids(&s).await {
        Ok(ids) => ids,
        Err(e) => return store_failed(e),
    };
    let mut out = Vec::new();
    for id in ids.into_iter().filter(|id| grant.covers(*id)) {
        if let Ok(summary) = s.with_programme(id, summary).await {
            out.push(summary);
        }
    }
    Json(json!({ "programmes": out })).into_response()
}

/// The ids of the programmes in the store.
pub(super) async fn programme_ids(s: &Service) -> Result<Vec<ProgrammeId>, String> {
    let store = s.inner.store.clone();
    tokio::task::spawn_blocking(move || {
        store
            .streams()
            .map(|streams| {
                streams
                    .iter()
                    .filter_map(|i| i.stream.programme_id())
                    .collect()
            })
            .map_err(|e| crate::error_chain(&e))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

/// A programme in a list.
pub(super) fn summary(p: &Programme) -> serde_json::Value {
    let current = p.cycles().last();
    json!({
        "id": p.id(),
        "area": p.setup().area.name(),
        "first_year": p.setup().first_year,
        "years": p.setup().years,
        "current_year": current.map(crate::process::AnyCycle::year),
        "step": current.map(|c| c.step()),
    })
}

/// `POST /api/programmes`: establishes a programme (a server-wide
/// administrator only). A retry with the same setup answers 200 with the
/// programme; another setup under the same id is 409.
pub(super) async fn create(State(s): State<Service>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&s, &headers, None, Need::Administrator) {
        return r;
    }
    let setup: ProgrammeSetup = match read(&body) {
        Ok(setup) => setup,
        Err(r) => return r,
    };
    if let Err(e) = Programme::new(setup.clone()) {
        return refused(Problem::of(&e));
    }
    let id = setup.id;
    let this = s.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut repo = this.repo();
        let existed = repo
            .store()
            .head(&StreamId::programme(id))
            .map(|h| h.is_some());
        match existed {
            Ok(existed) => repo
                .open_or_create(id, ProgrammeEvent::Established(setup))
                .map(|p| (existed, summary(p))),
            Err(e) => Err(e.into()),
        }
    })
    .await;
    match outcome {
        Ok(Ok((existed, summary))) => {
            let status = if existed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut r = (status, Json(summary)).into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/programmes/{id}")) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            r
        }
        Ok(Err(RepositoryError::Store(StoreError::AlreadyExists { .. }))) => problem(
            StatusCode::CONFLICT,
            "already_exists",
            format!("programme {id} exists with another setup"),
        ),
        Ok(Err(e)) => failed(&e),
        Err(e) => store_failed(e),
    }
}

/// A JSON body, or 400/422 with the problem.
fn read<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    let text = std::str::from_utf8(body).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not UTF-8: {e}"),
        )
    })?;
    Problem::read(text).map_err(refused)
}

/// `GET /api/programmes/{programme}`: the programme's read model.
pub(super) async fn programme(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Read) {
        return r;
    }
    match s
        .with_programme(id, |p| serde_json::to_value(p).map_err(|e| e.to_string()))
        .await
    {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => store_failed(e),
        Err(e) => failed(&e),
    }
}

/// `GET /api/programmes/{programme}/years/{year}`: one year's cycle.
pub(super) async fn year(
    State(s): State<Service>,
    Path((id, year)): Path<(ProgrammeId, i32)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Read) {
        return r;
    }
    match s
        .with_programme(id, move |p| p.cycle(year).map(serde_json::to_value))
        .await
    {
        Ok(Some(Ok(v))) => Json(v).into_response(),
        Ok(Some(Err(e))) => store_failed(e),
        Ok(None) => no_year(year),
        Err(e) => failed(&e),
    }
}

fn no_year(year: i32) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(Problem::of(&ProgrammeError::NoCycle { year })),
    )
        .into_response()
}

/// `GET /api/programmes/{programme}/years/{year}/available`: the commands the
/// year's step accepts, the one that leaves it, and its unmet conditions.
pub(super) async fn available(
    State(s): State<Service>,
    Path((id, year)): Path<(ProgrammeId, i32)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Read) {
        return r;
    }
    let now = crate::store::now();
    match s
        .with_programme(id, move |p| p.cycle(year).map(|c| c.available(now)))
        .await
    {
        Ok(Some(a)) => Json(a).into_response(),
        Ok(None) => no_year(year),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub(super) struct Lang {
    lang: Option<String>,
}

/// `GET /api/programmes/{programme}/report?lang=sv|en`: the HTML report.
pub(super) async fn report(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    Query(lang): Query<Lang>,
    headers: HeaderMap,
) -> Response {
    use crate::report::{Language, Report};
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Read) {
        return r;
    }
    let language = match lang.lang.as_deref() {
        None | Some("en") => Language::English,
        Some("sv") => Language::Swedish,
        Some(other) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad_language",
                format!("lang is {other:?}; give sv or en"),
            );
        }
    };
    match s
        .with_programme(id, move |p| {
            Report::programme(p).map(|r| r.in_language(language).to_html())
        })
        .await
    {
        Ok(Ok(html)) => Html(html).into_response(),
        Ok(Err(e)) => problem(StatusCode::UNPROCESSABLE_ENTITY, "no_report", e.to_string()),
        Err(e) => failed(&e),
    }
}

/// `POST /api/programmes/{programme}/commands`: one programme command
/// (a cycle's wrapped as `{"cycle":{"year":…,"command":…}}`).
pub(super) async fn command(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let grant = match authorize(&s, &headers, Some(id), Need::Read) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let command: ProgrammeCommand = match read(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !grant.role.may_send(command.name()) {
        return problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {:?} token may not send {}", grant.role, command.name()),
        );
    }
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => match value
            .to_str()
            .map_err(|_| BadKey::Character)
            .and_then(|key| RequestKey::new(key, &command))
        {
            Ok(key) => Some(key),
            Err(bad) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    match bad {
                        BadKey::Length(n) => format!(
                            "the Idempotency-Key header is {n} bytes long; give 1 to {MAX_KEY_LENGTH}"
                        ),
                        BadKey::Character => {
                            "the Idempotency-Key header holds a character outside printable ASCII"
                                .to_owned()
                        }
                    },
                );
            }
        },
    };
    respond(id, s.execute(id, command, key).await)
}

/// The header that makes a command's retry harmless.
pub(super) const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn respond(id: ProgrammeId, outcome: Result<super::Outcome, Busy>) -> Response {
    match outcome {
        Err(Busy) => busy(),
        Ok(Outcome::NoProgramme) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no programme {id}"),
        ),
        Ok(Outcome::Failed(message)) => store_failed(message),
        Ok(Outcome::Decided(Ok(events))) => Json(json!({ "events": events })).into_response(),
        Ok(Outcome::Decided(Err(e))) => refused(Problem::of(&e)),
        Ok(Outcome::Replayed(events)) => {
            let mut r = Json(json!({ "events": events })).into_response();
            r.headers_mut().insert(
                HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            r
        }
        Ok(Outcome::KeyReused) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was sent before with another command; use a new key for a new command",
        ),
    }
}

/// A request for a programme's token.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Its role.
    pub role: Role,
    /// Whom it is for (kept with its hash, at most 200 characters).
    #[serde(default)]
    pub label: String,
}

/// `POST /api/programmes/{programme}/tokens`: a token for this programme
/// (an administrator's). The token is in the answer only.
pub(super) async fn token(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Administrator) {
        return r;
    }
    let asked: NewToken = match read(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let access = s.inner.access.clone();
    match tokio::task::spawn_blocking(move || {
        access.issue_token(asked.role, Some(id), &asked.label)
    })
    .await
    {
        Ok(Ok((token, token_id))) => (
            StatusCode::CREATED,
            Json(json!({ "token": token, "id": token_id, "programme": id })),
        )
            .into_response(),
        Ok(Err(e)) => store_failed(e),
        Err(e) => store_failed(e),
    }
}

/// A token as listed: never the token itself.
fn grant_json(g: &TokenGrant) -> serde_json::Value {
    json!({ "id": g.id, "role": g.role, "programme": g.programme, "label": g.label })
}

/// `GET /api/programmes/{programme}/tokens`: the programme's live tokens
/// (an administrator's), ids, roles and labels only.
pub(super) async fn tokens(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Administrator) {
        return r;
    }
    let mut grants: Vec<_> = s
        .access()
        .grants()
        .into_iter()
        .filter(|g| g.programme == Some(id))
        .collect();
    grants.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
    Json(json!({ "tokens": grants.iter().map(grant_json).collect::<Vec<_>>() })).into_response()
}

/// `DELETE /api/tokens/{token}`: revokes a token by id. A server-wide
/// administrator may revoke any; a programme's administrator, that
/// programme's. A token it may not see is "not found", as is one revoked
/// already.
pub(super) async fn revoke(
    State(s): State<Service>,
    Path(token): Path<uuid::Uuid>,
    headers: HeaderMap,
) -> Response {
    let caller = match token_grant(&s, &headers) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if caller.role != Role::Administrator {
        return problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an administrator may revoke tokens",
        );
    }
    let visible = s
        .access()
        .grant(token)
        .filter(|target| match caller.programme {
            None => true,
            Some(p) => target.programme == Some(p),
        });
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no live token {token}"),
        )
    };
    if visible.is_none() {
        return not_found();
    }
    let access = s.inner.access.clone();
    match tokio::task::spawn_blocking(move || access.revoke_token(token)).await {
        Ok(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(false)) => not_found(),
        Ok(Err(e)) => store_failed(e),
        Err(e) => store_failed(e),
    }
}

/// A request for voting codes.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCodes {
    /// The year they are good for.
    pub year: i32,
    /// The eligible residents, one code each.
    pub residents: Vec<Resident>,
    /// Make new codes in place of the residents' codes for the year (lost,
    /// or their answer never arrived): the earlier codes stop working.
    /// Without it a resident who has a code for the year is refused (409).
    #[serde(default)]
    pub replace: bool,
}

/// `POST /api/programmes/{programme}/codes`: one voting code per resident
/// for a year (an official's). The codes are in the answer only.
pub(super) async fn codes(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers, Some(id), Need::Official) {
        return r;
    }
    let asked: NewCodes = match read(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let year = asked.year;
    match s.with_programme(id, move |p| p.cycle(year).is_some()).await {
        Ok(true) => {}
        Ok(false) => return no_year(year),
        Err(e) => return failed(&e),
    }
    let ids: Vec<ResidentId> = asked.residents.iter().map(Resident::id).collect();
    let access = s.inner.access.clone();
    let made = tokio::task::spawn_blocking(move || {
        if asked.replace {
            access.replace_codes(id, year, asked.residents)
        } else {
            access.issue_codes(id, year, asked.residents)
        }
    });
    match made.await {
        Ok(Ok(codes)) => {
            let codes: Vec<_> = ids
                .iter()
                .zip(codes)
                .map(|(r, c)| json!({ "resident": r, "code": c }))
                .collect();
            (
                StatusCode::CREATED,
                Json(json!({ "year": year, "codes": codes })),
            )
                .into_response()
        }
        Ok(Err(e @ super::AccessError::DuplicateResident { .. })) => {
            problem(StatusCode::CONFLICT, "duplicate_resident", e.to_string())
        }
        Ok(Err(e @ super::AccessError::TooManyCodes { .. })) => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_codes",
            e.to_string(),
        ),
        Ok(Err(e)) => store_failed(e),
        Err(e) => store_failed(e),
    }
}

/// A resident's ballot.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResidentBallot {
    /// The voting code.
    pub code: String,
    /// The ballot's id, chosen by the client: a retry with the same id is
    /// answered as stored, never counted twice.
    pub id: BallotId,
    /// The choices.
    pub choices: Choices,
    /// The budget part, in a cycle of several.
    #[serde(default)]
    pub part: Option<PartId>,
}

/// A resident's idea.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResidentIdea {
    /// The voting code.
    pub code: String,
    /// The idea's id, chosen by the client.
    pub id: IdeaId,
    /// A short title.
    pub title: LocalText,
    /// What the idea is.
    pub description: LocalText,
    /// The resident's own estimate of the cost.
    #[serde(default)]
    pub estimated_cost: Option<Money>,
}

/// The ballot a resident casts, built from their record.
pub(super) fn ballot_command(
    id: BallotId,
    choices: Choices,
    part: Option<PartId>,
) -> impl FnOnce(Resident) -> Command + Send + 'static {
    move |voter| {
        Command::CastBallot(BallotSubmission {
            id,
            voter,
            cast_at: crate::store::now(),
            choices,
            part,
        })
    }
}

/// The idea a resident sends in, built from their record.
pub(super) fn idea_command(
    id: IdeaId,
    title: LocalText,
    description: LocalText,
    estimated_cost: Option<Money>,
) -> impl FnOnce(Resident) -> Command + Send + 'static {
    move |author| {
        Command::SubmitIdea(IdeaSubmission {
            id,
            author,
            co_authors: Vec::new(),
            title,
            description,
            submitted_at: crate::store::now(),
            estimated_cost,
        })
    }
}

/// What a resident's request came to.
#[derive(Debug)]
pub(super) enum ResidentOutcome {
    /// Stored now.
    Stored,
    /// Stored before: this is a retry of the same ballot or idea.
    StoredBefore,
    /// The code names no one (this programme, this year).
    UnknownCode,
    /// Too many wrong codes: wait.
    Wait(std::time::Duration),
    /// The programme's current year is not in the step that accepts it.
    NotNow(Option<Step>),
    /// The rules refuse it.
    Refused(ProgrammeError),
    /// The programme does not exist.
    NoProgramme,
    /// The writer's queue is full.
    Busy,
    /// The store failed.
    Failed(String),
}

/// The current year and its step, of `programme`.
async fn current(s: &Service, id: ProgrammeId) -> Result<Option<(i32, Step)>, ResidentOutcome> {
    match s
        .with_programme(id, |p| p.cycles().last().map(|c| (c.year(), c.step())))
        .await
    {
        Ok(now) => Ok(now),
        Err(RepositoryError::NotFound { .. }) => Err(ResidentOutcome::NoProgramme),
        Err(e) => Err(ResidentOutcome::Failed(crate::error_chain(&e))),
    }
}

/// Authenticates a resident and sends what they built from their record.
pub(super) async fn as_resident(
    s: &Service,
    client: std::net::IpAddr,
    id: ProgrammeId,
    code: &str,
    step: Step,
    build: impl FnOnce(Resident) -> Command,
) -> ResidentOutcome {
    let (year, now) = match current(s, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return ResidentOutcome::NotNow(None),
        Err(o) => return o,
    };
    if now != step {
        return ResidentOutcome::NotNow(Some(now));
    }
    if let Err(super::Wait(wait)) = s.inner.limiter.check(client) {
        return ResidentOutcome::Wait(wait);
    }
    let resident = match s.inner.authenticator.resident(id, year, code) {
        Ok(Some(r)) => r,
        Ok(None) => {
            s.inner.limiter.failed(client);
            return ResidentOutcome::UnknownCode;
        }
        Err(e) => return ResidentOutcome::Failed(e.to_string()),
    };
    let who = resident.id();
    let command = build(resident);
    let again = match &command {
        Command::CastBallot(b) => Again::Ballot(b.id, b.choices.clone()),
        Command::SubmitIdea(i) => Again::Idea(i.id, i.title.clone()),
        _ => Again::Never,
    };
    match s
        .execute(id, ProgrammeCommand::Cycle { year, command }, None)
        .await
    {
        Err(Busy) => ResidentOutcome::Busy,
        Ok(Outcome::Failed(m)) => ResidentOutcome::Failed(m),
        Ok(Outcome::NoProgramme) => ResidentOutcome::NoProgramme,
        Ok(Outcome::Decided(Ok(_)) | Outcome::Replayed(_)) => ResidentOutcome::Stored,
        // Sent without a key.
        Ok(Outcome::KeyReused) => ResidentOutcome::Failed("an idempotency key was reused".into()),
        Ok(Outcome::Decided(Err(e))) => {
            if again.matches_stored(s, id, year, who, &e).await {
                ResidentOutcome::StoredBefore
            } else {
                ResidentOutcome::Refused(e)
            }
        }
    }
}

/// What a resident sent, to tell a retry from a second ballot or idea.
enum Again {
    Ballot(BallotId, Choices),
    Idea(IdeaId, LocalText),
    Never,
}

impl Again {
    /// Whether refusal `e` is of a retry: the id is taken by this resident's
    /// own ballot with the same choices (or idea with the same title), stored
    /// by an earlier try whose answer was lost.
    async fn matches_stored(
        self,
        s: &Service,
        programme: ProgrammeId,
        year: i32,
        who: ResidentId,
        e: &ProgrammeError,
    ) -> bool {
        let ProgrammeError::Cycle {
            source: CycleError::DuplicateId { kind, .. },
            ..
        } = e
        else {
            return false;
        };
        let pseudonym = s.inner.key.pseudonym(who);
        match self {
            Again::Ballot(ballot, choices) if *kind == "ballot" => s
                .with_programme(programme, move |p| {
                    p.cycle(year).is_some_and(|c| {
                        c.ballots().iter().any(|b| {
                            b.id() == ballot && b.voter() == pseudonym && *b.choices() == choices
                        })
                    })
                })
                .await
                .unwrap_or(false),
            Again::Idea(idea, title) if *kind == "idea" => s
                .with_programme(programme, move |p| {
                    p.cycle(year).is_some_and(|c| {
                        c.ideas().iter().any(|i| {
                            i.id() == idea
                                && (i.author().id() == who || i.author().id() == pseudonym)
                                && i.submission().title == title
                        })
                    })
                })
                .await
                .unwrap_or(false),
            _ => false,
        }
    }
}

fn resident_response(outcome: ResidentOutcome) -> Response {
    match outcome {
        ResidentOutcome::Stored => {
            (StatusCode::CREATED, Json(json!({ "stored": true }))).into_response()
        }
        ResidentOutcome::StoredBefore => (
            StatusCode::OK,
            Json(json!({ "stored": true, "retry": true })),
        )
            .into_response(),
        ResidentOutcome::UnknownCode => problem(
            StatusCode::UNAUTHORIZED,
            "unknown_code",
            "the voting code is not valid for this programme and year",
        ),
        ResidentOutcome::Wait(wait) => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many wrong voting codes; wait before trying again",
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            r
        }
        ResidentOutcome::NotNow(step) => problem(
            StatusCode::CONFLICT,
            "not_in_this_step",
            match step {
                Some(step) => format!("the programme's current year is in step {step}"),
                None => "the programme has no year yet".to_owned(),
            },
        ),
        ResidentOutcome::Refused(e) => refused(Problem::of(&e)),
        ResidentOutcome::NoProgramme => {
            problem(StatusCode::NOT_FOUND, "not_found", "no such programme")
        }
        ResidentOutcome::Busy => busy(),
        ResidentOutcome::Failed(m) => store_failed(m),
    }
}

/// `POST /api/programmes/{programme}/ballots`: a resident's ballot, with
/// their voting code, in the current year's step 5.
pub(super) async fn ballot(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let ballot: ResidentBallot = match read(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let build = ballot_command(ballot.id, ballot.choices, ballot.part);
    resident_response(as_resident(&s, client.ip(), id, &ballot.code, Step::Voting, build).await)
}

/// `POST /api/programmes/{programme}/ideas`: a resident's idea, with their
/// voting code, in the current year's step 3.
pub(super) async fn idea(
    State(s): State<Service>,
    Path(id): Path<ProgrammeId>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let idea: ResidentIdea = match read(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let build = idea_command(idea.id, idea.title, idea.description, idea.estimated_cost);
    resident_response(
        as_resident(&s, client.ip(), id, &idea.code, Step::IdeaGeneration, build).await,
    )
}
