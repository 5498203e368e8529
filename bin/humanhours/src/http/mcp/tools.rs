//! The eight tools of `/mcp` (API.md §11). Each is its REST route by another door:
//!
//! - its input schema is the route's own parameters (or body) as the OpenAPI document states
//!   them, with their meanings and ranges, so the two cannot drift apart;
//! - it needs the route's scope, read from the route list (`routes::API_ROUTE_SCOPES`);
//! - it calls the route's use case (`app::…`) with the route's plan gate, and answers the
//!   route's JSON as structured content plus the same JSON as text;
//! - a refusal is a tool error whose structured content is the route's error envelope
//!   (`{"error": {"code", "message", …}}`), so an assistant sees the code and the message.
//!
//! Arguments of the read tools are the route's query parameters as a JSON object (strings,
//! numbers, booleans); `track_event`'s are the `POST /track` body plus an optional
//! `idempotency_key` (the `Idempotency-Key` header of REST).

use std::sync::{Arc, OnceLock};

use app::auth::Caller;
use app::read::params::Params;
use app::read::reports::{self, GroupedAnswer, GroupedRoute};
use app::track::KeyHeader;
use app::{clock, ApiError, App};
use ratelimit::Scope;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Map, Value};

/// One tool: its name, what it does for an assistant, and the REST route it is.
struct Def {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    method: &'static str,
    /// Under `/api/v1`.
    path: &'static str,
}

const DEFS: [Def; 8] = [
    Def {
        name: "track_event",
        title: "Record a finished task",
        description: "Record one task an AI agent finished and get it valued: the human baseline, the hourly rate, hours and money saved, the agent's cost and the net saving. Exactly POST /api/v1/track; pass idempotency_key to make a retry safe (a retry answers the first event again).",
        method: "post",
        path: "/track",
    },
    Def {
        name: "get_summary",
        title: "Summary",
        description: "Totals of a range (default the last 30 days): events, hours saved, cost saved, agent cost, net saved, by outcome, and a daily trend. Exactly GET /api/v1/summary.",
        method: "get",
        path: "/summary",
    },
    Def {
        name: "time_saved_report",
        title: "Time saved, grouped",
        description: "Events, hours saved and cost saved per group (group_by agent, task_type, model, outcome, client, metadata.<key>, day/week/month), with totals. Pro plans. Exactly GET /api/v1/reports/time-saved.",
        method: "get",
        path: "/reports/time-saved",
    },
    Def {
        name: "cost_saved_report",
        title: "Cost saved, grouped",
        description: "Events, cost saved, agent cost and net saved per group, with totals. Pro plans. Exactly GET /api/v1/reports/cost-saved.",
        method: "get",
        path: "/reports/cost-saved",
    },
    Def {
        name: "leaderboard",
        title: "Agent leaderboard",
        description: "Agents ranked by a metric (hours_saved by default) over a range. Pro plans. Exactly GET /api/v1/reports/leaderboard.",
        method: "get",
        path: "/reports/leaderboard",
    },
    Def {
        name: "get_usage",
        title: "Usage this month",
        description: "This billing month's event count, the plan and its limits. Exactly GET /api/v1/reports/usage.",
        method: "get",
        path: "/reports/usage",
    },
    Def {
        name: "list_agents",
        title: "Agents",
        description: "Every agent of the org with its own and effective hourly rate, first and last seen, and its last 30 days. Exactly GET /api/v1/agents.",
        method: "get",
        path: "/agents",
    },
    Def {
        name: "list_task_types",
        title: "Task types",
        description: "The built-in task types with their human baselines and sources, the org's overrides, and its custom types. Exactly GET /api/v1/task-types.",
        method: "get",
        path: "/task-types",
    },
];

/// The handler rmcp calls for every message; made per request (it only holds the state).
pub(crate) struct Tools {
    app: Arc<App>,
}

impl Tools {
    pub(crate) fn new(app: Arc<App>) -> Tools {
        Tools { app }
    }

    async fn run(
        &self,
        def: &Def,
        caller: &Arc<Caller>,
        mut args: Map<String, Value>,
    ) -> Result<Answer, ApiError> {
        let scope = scope_of(def)?;
        if !caller.scopes.allows(scope) {
            return Err(ApiError::InsufficientScope {
                scope: scope.as_str(),
            });
        }
        // `workspace` on a read tool, as on its route (API.md §12): the same rules.
        let caller = match (scope, args.remove("workspace")) {
            (_, None | Some(Value::Null)) => caller.clone(),
            (Scope::Read, Some(Value::String(w))) if !w.is_empty() => {
                app::auth::as_workspace(&self.app, caller, &w).await?
            }
            (Scope::Read, Some(_)) => {
                return Err(ApiError::field(
                    "workspace",
                    "must be the org id of one of your agency workspaces",
                ))
            }
            (_, Some(_)) => {
                return Err(ApiError::field(
                    "workspace",
                    "is taken by read tools only; a workspace's events are written with a key \
                     of the workspace",
                ))
            }
        };
        let (app, org) = (&self.app, &caller.org);
        let now = clock::now();
        let now_ms = clock::unix_ms(now);
        let json = |v: Result<Value, serde_json::Error>| {
            v.map(Answer::Json)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("tool answer: {e}")))
        };
        match def.name {
            "track_event" => {
                let key = args.remove("idempotency_key");
                let key = match &key {
                    None | Some(Value::Null) => KeyHeader::Absent,
                    Some(Value::String(s)) => KeyHeader::Text(s),
                    Some(_) => return Err(ApiError::field("idempotency_key", "must be a string")),
                };
                let body = serde_json::to_vec(&Value::Object(args))
                    .map_err(|e| ApiError::internal(anyhow::anyhow!("tool body: {e}")))?;
                let tracked = app::track::track(app, org, &body, key, now).await?;
                json(serde_json::from_str(&tracked.body))
            }
            "get_summary" => {
                let p = Params::from_json(&args)?;
                json(serde_json::to_value(
                    reports::summary(app, org, &p, now_ms).await?,
                ))
            }
            "time_saved_report" | "cost_saved_report" => {
                reports::require_pro(org, "reports other than usage")?;
                let p = Params::from_json(&args)?;
                let route = if def.name == "time_saved_report" {
                    GroupedRoute::TimeSaved
                } else {
                    GroupedRoute::CostSaved
                };
                match reports::grouped(app, org, &p, route, now_ms).await? {
                    GroupedAnswer::Json(r) => json(serde_json::to_value(r)),
                    GroupedAnswer::Csv(csv) => Ok(Answer::Text(
                        String::from_utf8_lossy(&csv.body).into_owned(),
                    )),
                }
            }
            "leaderboard" => {
                reports::require_pro(org, "reports other than usage")?;
                let p = Params::from_json(&args)?;
                json(serde_json::to_value(
                    reports::leaderboard(app, org, &p, now_ms).await?,
                ))
            }
            "get_usage" => json(serde_json::to_value(reports::usage(app, org, now).await?)),
            "list_agents" => json(serde_json::to_value(
                app::read::agents::list(app, org).await?,
            )),
            "list_task_types" => {
                let p = Params::from_json(&args)?;
                let category = p.get("category").map(str::to_owned);
                json(serde_json::to_value(
                    app::task_types::list(app, org, category).await?,
                ))
            }
            other => Err(ApiError::NotFound {
                message: format!("no tool '{other}'"),
            }),
        }
    }
}

/// A tool's answer: the route's JSON, or its CSV (`format=csv`).
enum Answer {
    Json(Value),
    Text(String),
}

/// The scope of the REST route a tool is, from the route list.
fn scope_of(def: &Def) -> Result<Scope, ApiError> {
    crate::http::routes::API_ROUTE_SCOPES
        .iter()
        .find(|(m, p, _)| *m == def.method && *p == def.path)
        .and_then(|(_, _, s)| Scope::ALL.into_iter().find(|x| x.as_str() == *s))
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "tool {} names no route of the route list",
                def.name
            ))
        })
}

/// The tools as `tools/list` shows them, built once from the OpenAPI document.
fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let doc: Value = serde_json::from_str(crate::http::openapi::json()).unwrap_or_default();
        DEFS.iter()
            .map(|def| {
                let read_only = def.method == "get";
                let mut tool = Tool::new(def.name, def.description, input_schema(&doc, def));
                tool.title = Some(def.title.to_owned());
                tool.annotations = Some(
                    ToolAnnotations::with_title(def.title)
                        .read_only(read_only)
                        .destructive(false)
                        .idempotent(read_only)
                        .open_world(false),
                );
                tool
            })
            .collect()
    })
}

/// The input schema of a tool: the route's query parameters as properties, or for
/// `track_event` the request body's schema plus `idempotency_key`; references to the
/// document's components written out, as MCP clients expect a self-contained schema.
fn input_schema(doc: &Value, def: &Def) -> Map<String, Value> {
    let op = &doc["paths"][format!("/api/v1{}", def.path)][def.method];
    let components = &doc["components"]["schemas"];
    let mut schema = if def.method == "post" {
        let body = &op["requestBody"]["content"]["application/json"]["schema"];
        match inline(body, components, 0) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    } else {
        let mut m = Map::new();
        m.insert("type".into(), json!("object"));
        m.insert("properties".into(), json!({}));
        m
    };
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    for p in params {
        let (name, place) = (p["name"].as_str().unwrap_or_default(), &p["in"]);
        let name = match (place.as_str(), name) {
            (Some("query"), n) => n.to_owned(),
            (Some("header"), "Idempotency-Key") => "idempotency_key".to_owned(),
            _ => continue,
        };
        let mut prop = inline(&p["schema"], components, 0);
        if let (Value::Object(o), Some(d)) = (&mut prop, p["description"].as_str()) {
            o.insert("description".into(), json!(d));
        }
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            props.insert(name, prop);
        }
    }
    schema
}

/// `v` with every `$ref` to a component schema replaced by that schema (10 levels at most).
fn inline(v: &Value, components: &Value, depth: usize) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap_or_default();
                if depth < 10 {
                    return inline(&components[name], components, depth + 1);
                }
                return json!({});
            }
            Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), inline(x, components, depth)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline(x, components, depth)).collect()),
        other => other.clone(),
    }
}

/// The answer of a tool call: the route's JSON (structured and as text), or its error.
fn result_of(answer: Result<Answer, ApiError>) -> CallToolResult {
    match answer {
        Ok(Answer::Json(v)) => CallToolResult::structured(v),
        Ok(Answer::Text(t)) => CallToolResult::success(vec![ContentBlock::text(t)]),
        Err(e) => CallToolResult::structured_error(json!({ "error": e.error_body() })),
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("humanhours", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "HumanHours measures what AI agents are worth. Record each finished task with \
                 track_event; read the savings with get_summary, the reports and the \
                 leaderboard. Money and hours are exact decimals; ranges default to the last \
                 30 days.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools().to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(def) = DEFS.iter().find(|d| d.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool '{}'; the tools are {}",
                    request.name,
                    DEFS.map(|d| d.name).join(", ")
                ),
                None,
            ));
        };
        // The caller the key middleware verified, carried on the HTTP request's parts.
        let caller = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Caller>>())
            .cloned();
        let answer = match caller {
            Some(caller) => {
                self.run(def, &caller, request.arguments.unwrap_or_default())
                    .await
            }
            None => Err(ApiError::internal(anyhow::anyhow!(
                "an MCP tool ran without its caller"
            ))),
        };
        Ok(result_of(answer).into())
    }
}
