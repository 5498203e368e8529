//! The query parameters of the read routes (API.md §8), parsed into checked values. Every bad
//! value is a 422 `validation_error` whose `field` is the parameter's name. Unknown parameters
//! are ignored, like unknown body fields; a parameter given twice is an error.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use store::Dim;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::buckets::Unit;
use crate::clock;
use crate::error::ApiError;

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The query string as name → value.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses a request's query string (without the `?`).
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        if !decodes_to_utf8(query) {
            return Err(ApiError::invalid(
                "the query string is not valid UTF-8 once percent-decoded",
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::invalid(format!("the query string is malformed: {e}")))?;
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.contains_key(&k) {
                return Err(ApiError::field(k, "is given more than once"));
            }
            map.insert(k, v);
        }
        Ok(Params(map))
    }

    /// The arguments of an MCP tool call (API.md §11) as the same parameters: a string as it
    /// is, a number or boolean as its JSON text, `null` as absent; anything else is a 422 on
    /// that name. The rules after this are the query string's.
    pub fn from_json(args: &serde_json::Map<String, serde_json::Value>) -> Result<Self, ApiError> {
        use serde_json::Value;
        let mut map = HashMap::new();
        for (k, v) in args {
            let text =
                match v {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Array(_) | Value::Object(_) => return Err(ApiError::field(
                        k.clone(),
                        "must be a string or a number, as in the query string of the REST route",
                    )),
                };
            map.insert(k.clone(), text);
        }
        Ok(Params(map))
    }

    /// The names given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A parameter's value; an empty value is the same as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }
}

/// Whether percent-decoding `raw` (a path or query string) gives valid UTF-8. actix and
/// serde_urlencoded decode lossily, turning invalid bytes into U+FFFD: an id sent as `%FF`
/// would silently become another id. Callers refuse such input instead.
pub fn decodes_to_utf8(raw: &str) -> bool {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&out).is_ok()
}

/// `period` presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    H24,
    D7,
    D30,
    D90,
    Ytd,
    All,
}

impl Preset {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "24h" => Self::H24,
            "7d" => Self::D7,
            "30d" => Self::D30,
            "90d" => Self::D90,
            "ytd" => Self::Ytd,
            "all" => Self::All,
            _ => return None,
        })
    }

    /// The name as given.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::H24 => "24h",
            Self::D7 => "7d",
            Self::D30 => "30d",
            Self::D90 => "90d",
            Self::Ytd => "ytd",
            Self::All => "all",
        }
    }
}

/// The time range asked for, before `all` is resolved against the org's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    Preset(Preset),
    /// Explicit `from`/`to`, Unix ms, half-open.
    Explicit {
        from: i64,
        to: i64,
    },
}

/// The range, zone and filters every read route takes.
#[derive(Debug, Clone)]
pub struct Scope {
    pub range: RangeSpec,
    pub tz: TimeZone,
    pub tz_name: String,
    pub agent_id: Option<String>,
    pub task_type: Option<String>,
}

/// A resolved range: `[from, to)` in Unix ms, and the name to print for it.
#[derive(Debug, Clone)]
pub struct Range {
    pub period: &'static str,
    pub from: i64,
    pub to: i64,
}

/// An RFC 3339 parameter as Unix ms.
pub(crate) fn rfc3339(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    p.get(name)
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map(clock::unix_ms)
                .map_err(|_| {
                    ApiError::field(
                        name,
                        format!(
                            "must be an RFC 3339 date-time such as 2026-11-01T00:00:00Z, got '{s}'"
                        ),
                    )
                })
        })
        .transpose()
}

/// Parses `period`, `from`, `to`, `tz`, `agent_id` and `task_type`.
pub fn scope(p: &Params) -> Result<Scope, ApiError> {
    let from = rfc3339(p, "from")?;
    let to = rfc3339(p, "to")?;
    let range = match (p.get("period"), from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::field(
                "period",
                "give either period or from/to, not both",
            ))
        }
        (Some(s), None, None) => RangeSpec::Preset(Preset::parse(s).ok_or_else(|| {
            ApiError::field(
                "period",
                format!("must be one of 24h, 7d, 30d, 90d, ytd, all; got '{s}'"),
            )
        })?),
        (None, None, None) => RangeSpec::Preset(Preset::D30),
        (None, f, t) => {
            let now = clock::unix_ms(clock::now());
            let to = t.unwrap_or(now + 1);
            let from = f.unwrap_or(to - 30 * DAY_MS);
            if from > to {
                return Err(ApiError::field("from", "must not be after to"));
            }
            RangeSpec::Explicit { from, to }
        }
    };
    let (tz, tz_name) = match p.get("tz") {
        None => (TimeZone::UTC, "UTC".to_owned()),
        Some(name) => (
            TimeZone::get(name).map_err(|_| {
                ApiError::field(
                    "tz",
                    format!("must be an IANA time zone name such as Europe/Berlin, got '{name}'"),
                )
            })?,
            name.to_owned(),
        ),
    };
    let agent_id = text_filter(p, "agent_id", catalogue::AGENT_ID_MAX_CHARS)?;
    let task_type = text_filter(p, "task_type", 64)?;
    Ok(Scope {
        range,
        tz,
        tz_name,
        agent_id,
        task_type,
    })
}

/// Refuses a parameter not in `known` (a 422 naming it), for the routes whose parameters are
/// a closed list.
pub fn only(p: &Params, known: &[&str]) -> Result<(), ApiError> {
    match p.names().find(|k| !known.contains(k)) {
        Some(k) => Err(ApiError::field(
            k.chars().take(64).collect::<String>(),
            format!(
                "is not a parameter here; the parameters are {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Takes `workspace` (API.md §12) out of a query string: its value, and the query without it
/// (every other pair kept as it was written), or `None` when it is absent. Given twice or
/// empty, it is a 422 on `workspace`. A pair that does not decode is left for the route, whose
/// own parsing answers it.
pub fn take_workspace(query: &str) -> Result<Option<(String, String)>, ApiError> {
    // Every keyed request passes here, POST /track's (which has no query) first among them.
    if query.is_empty() {
        return Ok(None);
    }
    let mut found: Option<String> = None;
    let mut rest: Vec<&str> = Vec::new();
    for piece in query.split('&') {
        let decoded: Option<Vec<(String, String)>> = serde_urlencoded::from_str(piece).ok();
        match decoded.as_deref() {
            Some([(name, value)]) if name == "workspace" => {
                if found.is_some() {
                    return Err(ApiError::field("workspace", "is given more than once"));
                }
                if value.is_empty() {
                    return Err(ApiError::field(
                        "workspace",
                        "must be the org id of one of your agency workspaces",
                    ));
                }
                found = Some(value.clone());
            }
            _ => rest.push(piece),
        }
    }
    Ok(found.map(|w| (w, rest.join("&"))))
}

/// A page size: `limit`, 1 to `max`, or `default` when absent.
pub(crate) fn page_limit(p: &Params, default: i64, max: i64) -> Result<i64, ApiError> {
    match p.get("limit") {
        None => Ok(default),
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                "limit",
                format!("must be a whole number from 1 to {max}"),
            )),
        },
    }
}

/// A filter on a stored text (`agent_id`, `task_type`). No stored one holds a control
/// character (both are refused on the way in), and PostgreSQL cannot even be asked about a
/// NUL: such a filter is a 422.
pub(crate) fn text_filter(p: &Params, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    match p.get(name) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(ApiError::field(
                name,
                format!("must be 1 to {max} characters without control characters"),
            ))
        }
        v => Ok(v.map(str::to_owned)),
    }
}

impl Scope {
    /// The range in Unix ms. Presets end now (the current millisecond included); `ytd` starts at
    /// January 1st, 00:00 in `tz`; `all` runs from the org's first event (or the first hour
    /// the rollups hold, when retention deleted older events) to its last (or now).
    pub fn resolve(
        &self,
        now_ms: i64,
        span: impl FnOnce() -> Result<Option<(i64, i64)>, ApiError>,
    ) -> Result<Range, ApiError> {
        let end = now_ms + 1;
        let (period, from, to) = match self.range {
            RangeSpec::Explicit { from, to } => ("custom", from, to),
            RangeSpec::Preset(p) => {
                let days = |n: i64| end - n * DAY_MS;
                let (from, to) = match p {
                    Preset::H24 => (days(1), end),
                    Preset::D7 => (days(7), end),
                    Preset::D30 => (days(30), end),
                    Preset::D90 => (days(90), end),
                    Preset::Ytd => (
                        super::buckets::start_of_year(now_ms, &self.tz)
                            .map_err(|e| ApiError::field("period", e.to_string()))?,
                        end,
                    ),
                    Preset::All => match span()? {
                        Some((first, last)) => (first.min(end), (last + 1).max(end)),
                        None => (end, end),
                    },
                };
                (p.as_str(), from, to)
            }
        };
        Ok(Range { period, from, to })
    }
}

/// One `group_by` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    Dim(Dim),
    Time(Unit),
}

/// `group_by`: its entries and their names as given (the row fields).
#[derive(Debug, Clone, Default)]
pub struct Grouping {
    pub groups: Vec<Group>,
    pub names: Vec<String>,
}

impl Grouping {
    /// The non-time dimensions, in order.
    pub fn dims(&self) -> Vec<Dim> {
        self.groups
            .iter()
            .filter_map(|g| match g {
                Group::Dim(d) => Some(d.clone()),
                Group::Time(_) => None,
            })
            .collect()
    }

    /// The time unit, if one is asked for.
    pub fn time(&self) -> Option<Unit> {
        self.groups.iter().find_map(|g| match g {
            Group::Time(u) => Some(*u),
            Group::Dim(_) => None,
        })
    }
}

/// Parses a `group_by` comma list (absent: `default`).
pub fn grouping(p: &Params, default: &str) -> Result<Grouping, ApiError> {
    let raw = p.get("group_by").unwrap_or(default);
    let mut g = Grouping::default();
    if raw.is_empty() {
        return Ok(g);
    }
    let bad = |m: String| {
        ApiError::Validation {
        message: m,
        field: Some("group_by".into()),
        hint: Some(
            "a comma list of agent, task_type, model, outcome, client, metadata.<key>, day, week, month"
                .into(),
        ),
    }
    };
    for item in raw.split(',').map(str::trim) {
        let group = match item {
            "agent" => Group::Dim(Dim::Agent),
            "task_type" => Group::Dim(Dim::TaskType),
            "model" => Group::Dim(Dim::Model),
            "outcome" => Group::Dim(Dim::Outcome),
            "client" => Group::Dim(Dim::Client),
            "day" => Group::Time(Unit::Day),
            "week" => Group::Time(Unit::Week),
            "month" => Group::Time(Unit::Month),
            other => match other.strip_prefix("metadata.") {
                Some(key) if Dim::valid_metadata_key(key) => {
                    Group::Dim(Dim::Metadata(key.to_owned()))
                }
                Some(key) => {
                    return Err(bad(format!(
                        "metadata key '{key}' must be 1 to 64 letters, digits, '_' or '-'"
                    )))
                }
                None => return Err(bad(format!("unknown dimension '{other}'"))),
            },
        };
        if g.names.iter().any(|n| n == item) {
            return Err(bad(format!("'{item}' is given twice")));
        }
        if matches!(group, Group::Time(_)) && g.time().is_some() {
            return Err(bad("at most one of day, week, month".into()));
        }
        g.names.push(item.to_owned());
        g.groups.push(group);
    }
    if g.dims().len() > store::MAX_DIMS {
        return Err(bad(format!(
            "at most {} dimensions besides the time bucket",
            store::MAX_DIMS
        )));
    }
    Ok(g)
}

/// A metric rows can be sorted or ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    HoursSaved,
    CostSaved,
    NetSaved,
    AgentCost,
    Events,
}

impl Metric {
    /// The name as given and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::HoursSaved => "hours_saved",
            Metric::CostSaved => "cost_saved",
            Metric::NetSaved => "net_saved",
            Metric::AgentCost => "agent_cost",
            Metric::Events => "events",
        }
    }

    /// The metric's value in a group's sums (fixed point; comparable within one metric).
    pub fn of(self, s: &store::Sums) -> i128 {
        match self {
            Metric::HoursSaved => i128::from(s.hours_saved_milli),
            Metric::CostSaved => s.cost_saved_cents,
            Metric::NetSaved => s.net_saved_micros(),
            Metric::AgentCost => s.agent_cost_micros,
            Metric::Events => i128::from(s.events),
        }
    }
}

/// Parses a metric parameter (`sort` or `metric`).
pub fn metric(p: &Params, name: &str) -> Result<Option<Metric>, ApiError> {
    p.get(name)
        .map(|s| match s {
            "hours_saved" => Ok(Metric::HoursSaved),
            "cost_saved" => Ok(Metric::CostSaved),
            "net_saved" => Ok(Metric::NetSaved),
            "agent_cost" => Ok(Metric::AgentCost),
            "events" => Ok(Metric::Events),
            other => Err(ApiError::field(
                name,
                format!(
                    "must be one of hours_saved, cost_saved, net_saved, agent_cost, events; got '{other}'"
                ),
            )),
        })
        .transpose()
}

/// Largest accepted `top`.
pub const MAX_TOP: u32 = 10_000;

/// Parses `top`: a whole number from 1 to 10,000.
pub fn top(p: &Params) -> Result<Option<usize>, ApiError> {
    p.get("top")
        .map(|s| match s.parse::<u32>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => Ok(n as usize),
            _ => Err(ApiError::field(
                "top",
                format!("must be a whole number from 1 to {MAX_TOP}, got '{s}'"),
            )),
        })
        .transpose()
}

/// The answer format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// Parses `format` (`json` default, `csv`).
pub fn format(p: &Params) -> Result<Format, ApiError> {
    match p.get("format") {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::field(
            "format",
            format!("must be json or csv, got '{other}'"),
        )),
    }
}

/// Documentation of the parameters parsed above, for the OpenAPI document. The parsers are
/// the rules; these types only describe them.
pub mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    /// A range preset; each ends now.
    #[derive(Serialize, ToSchema)]
    pub enum Period {
        #[serde(rename = "24h")]
        H24,
        #[serde(rename = "7d")]
        D7,
        #[serde(rename = "30d")]
        D30,
        #[serde(rename = "90d")]
        D90,
        #[serde(rename = "ytd")]
        Ytd,
        #[serde(rename = "all")]
        All,
    }

    /// A metric to sort or rank by.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Metric {
        HoursSaved,
        CostSaved,
        NetSaved,
        AgentCost,
        Events,
    }

    /// The answer format of a report.
    #[derive(Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Format {
        Json,
        Csv,
    }

    /// The range and filters of every read route. Empty values are the same as absent; a
    /// parameter given twice is a 422.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct ScopeQuery {
        /// A preset ending now (default `30d`); not together with `from`/`to`.
        #[param(inline)]
        pub period: Option<Period>,
        /// Start of an explicit range (RFC 3339, inclusive); alone, it ends now.
        #[param(format = DateTime)]
        pub from: Option<String>,
        /// End of an explicit range (RFC 3339, exclusive); alone, it starts 30 days earlier.
        #[param(format = DateTime)]
        pub to: Option<String>,
        /// Only this agent's events (no control characters).
        #[param(max_length = 128, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
        pub agent_id: Option<String>,
        /// Only this task type's events (no control characters).
        #[param(max_length = 64, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
        pub task_type: Option<String>,
        /// IANA zone of the day, week and month buckets (default UTC), e.g. `Europe/Berlin`.
        pub tz: Option<String>,
    }

    /// Grouping, sorting and format of `time-saved`, `cost-saved` and `export`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct GroupQuery {
        /// A comma list of `agent`, `task_type`, `model`, `outcome`, `client`,
        /// `metadata.<key>`, and at most one of `day`, `week`, `month`; at most four
        /// dimensions besides the time bucket.
        pub group_by: Option<String>,
        /// Largest first by this metric (default: `hours_saved`, or time order with a time
        /// bucket).
        #[param(inline)]
        pub sort: Option<Metric>,
        /// Only the first rows (1 to 10,000); totals still cover every row.
        #[param(minimum = 1, maximum = 10_000)]
        pub top: Option<u32>,
        /// `json` (default) or `csv`; the export is always CSV.
        #[param(inline)]
        pub format: Option<Format>,
    }

    /// Ranking of the leaderboard.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct LeaderboardQuery {
        /// The metric to rank by (default `hours_saved`).
        #[param(inline)]
        pub metric: Option<Metric>,
        /// How many agents (1 to 10,000; default 10).
        #[param(minimum = 1, maximum = 10_000)]
        pub top: Option<u32>,
    }
}

#[cfg(test)]
mod tests {
    use super::take_workspace;

    #[test]
    fn workspace_is_taken_out_of_the_query() {
        assert_eq!(take_workspace("").unwrap(), None);
        assert_eq!(take_workspace("period=7d").unwrap(), None);
        assert_eq!(
            take_workspace("period=7d&workspace=org_1&group_by=agent").unwrap(),
            Some(("org_1".into(), "period=7d&group_by=agent".into()))
        );
        assert_eq!(
            take_workspace("workspace=org%5F1").unwrap(),
            Some(("org_1".into(), String::new()))
        );
        // Other pairs are kept byte for byte, undecodable ones included.
        assert_eq!(
            take_workspace("tz=Asia%2FKathmandu&workspace=w&x=%ZZ").unwrap(),
            Some(("w".into(), "tz=Asia%2FKathmandu&x=%ZZ".into()))
        );
        for bad in ["workspace=a&workspace=b", "workspace=", "workspace"] {
            let e = take_workspace(bad).unwrap_err();
            assert_eq!(e.error_body().field.as_deref(), Some("workspace"), "{bad}");
        }
    }

    use super::decodes_to_utf8;

    #[test]
    fn percent_decoding_must_give_utf8() {
        for ok in [
            "",
            "a=b",
            "x=%C3%A9",
            "%e2%82%ac",
            "100%",
            "%zz",
            "a%2",
            "caf%C3%A9",
        ] {
            assert!(decodes_to_utf8(ok), "{ok}");
        }
        for bad in ["%FF", "a=%C3", "%C3%28", "x=%ED%A0%80", "%F5%80%80%80"] {
            assert!(!decodes_to_utf8(bad), "{bad}");
        }
    }
}
