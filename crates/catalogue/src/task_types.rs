//! The built-in task types and the rule that keeps custom keys apart from them.

use std::collections::HashMap;
use std::sync::OnceLock;

use roi_engine::{BaselineMinutes, ValueError};

use crate::key::{Category, KeyError, TaskTypeKey};
use crate::table::{self, CsvError};

/// The embedded seed catalogue (see fixtures/task-types.csv and shared/data/README.md).
const BUILTIN_CSV: &str = include_str!("../../../fixtures/task-types.csv");

const COLUMNS: &[&str] = &[
    "key",
    "category",
    "display_name",
    "baseline_minutes",
    "source",
];

/// One built-in task type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinTaskType {
    pub key: TaskTypeKey,
    pub category: Category,
    pub display_name: String,
    /// Minutes a person needs for one unit of the task.
    pub baseline: BaselineMinutes,
    /// Where the baseline comes from (a citation or a derivation), shown to users.
    pub source: String,
}

/// A row of the catalogue CSV that cannot be used. `line` is the 1-based line in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("line {line}: key '{value}' {source}")]
    Key {
        line: u64,
        value: String,
        source: KeyError,
    },
    #[error("line {line}: category '{value}' {source}")]
    Category {
        line: u64,
        value: String,
        source: KeyError,
    },
    #[error("line {line}: display_name must not be empty")]
    DisplayName { line: u64 },
    #[error("line {line}: baseline_minutes '{value}' {source}")]
    Baseline {
        line: u64,
        value: String,
        source: ValueError,
    },
    #[error("line {line}: key '{key}' is already defined on line {first_line}")]
    DuplicateKey {
        line: u64,
        key: String,
        first_line: u64,
    },
}

/// A custom task-type key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomKeyError {
    #[error(transparent)]
    Invalid(#[from] KeyError),
    #[error("collides with the built-in task type {0}")]
    CollidesWithBuiltin(TaskTypeKey),
}

/// An immutable set of task types, in file order, with lookup by key.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    types: Vec<BuiltinTaskType>,
    index: HashMap<TaskTypeKey, usize>,
    categories: Vec<Category>,
}

impl Catalogue {
    /// The catalogue shipped in the binary, parsed on first use.
    pub fn builtin() -> &'static Catalogue {
        static BUILTIN: OnceLock<Catalogue> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            #[expect(
                clippy::expect_used,
                reason = "the embedded file is fixed at build time and a unit test parses it"
            )]
            Catalogue::parse_csv(BUILTIN_CSV).expect("embedded fixtures/task-types.csv is invalid")
        })
    }

    /// Parses `key,category,display_name,baseline_minutes,source` rows.
    pub fn parse_csv(text: &str) -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue::default();
        let mut lines: HashMap<TaskTypeKey, u64> = HashMap::new();
        for row in table::read(text, COLUMNS, false)? {
            let line = row.line;
            let key = TaskTypeKey::parse(row.get(0)).map_err(|source| CatalogueError::Key {
                line,
                value: row.get(0).to_owned(),
                source,
            })?;
            let category =
                Category::parse(row.get(1)).map_err(|source| CatalogueError::Category {
                    line,
                    value: row.get(1).to_owned(),
                    source,
                })?;
            let display_name = row.get(2);
            if display_name.is_empty() {
                return Err(CatalogueError::DisplayName { line });
            }
            let baseline =
                BaselineMinutes::parse(row.get(3)).map_err(|source| CatalogueError::Baseline {
                    line,
                    value: row.get(3).to_owned(),
                    source,
                })?;
            if let Some(&first_line) = lines.get(&key) {
                return Err(CatalogueError::DuplicateKey {
                    line,
                    key: key.into_string(),
                    first_line,
                });
            }
            lines.insert(key.clone(), line);
            if !catalogue.categories.contains(&category) {
                catalogue.categories.push(category.clone());
            }
            catalogue.index.insert(key.clone(), catalogue.types.len());
            catalogue.types.push(BuiltinTaskType {
                key,
                category,
                display_name: display_name.to_owned(),
                baseline,
                source: row.get(4).to_owned(),
            });
        }
        Ok(catalogue)
    }

    /// The task type with this exact key.
    pub fn get(&self, key: &str) -> Option<&BuiltinTaskType> {
        self.index.get(key).and_then(|&i| self.types.get(i))
    }

    /// Whether `key` names a task type here.
    pub fn is_builtin(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Every task type, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, BuiltinTaskType> {
        self.types.iter()
    }

    /// The distinct categories, in order of first appearance.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The task types of one category, in file order (none for an unknown category).
    pub fn by_category<'a>(
        &'a self,
        category: &'a str,
    ) -> impl Iterator<Item = &'a BuiltinTaskType> + 'a {
        self.types
            .iter()
            .filter(move |t| t.category.as_str() == category)
    }

    /// Number of task types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether there are no task types.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// A key for an org's custom task type: valid, and not the key of a task type here (a custom
    /// type may never shadow a built-in, or the baseline order of API.md §5 would hide it).
    pub fn validate_custom_key(&self, key: &str) -> Result<TaskTypeKey, CustomKeyError> {
        let key = TaskTypeKey::parse(key)?;
        if self.is_builtin(key.as_str()) {
            return Err(CustomKeyError::CollidesWithBuiltin(key));
        }
        Ok(key)
    }
}

impl<'a> IntoIterator for &'a Catalogue {
    type Item = &'a BuiltinTaskType;
    type IntoIter = std::slice::Iter<'a, BuiltinTaskType>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// [`Catalogue::validate_custom_key`] against the built-in catalogue.
pub fn validate_custom_key(key: &str) -> Result<TaskTypeKey, CustomKeyError> {
    Catalogue::builtin().validate_custom_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roi_engine::rust_decimal::Decimal;
    use std::str::FromStr;

    const HEADER: &str = "key,category,display_name,baseline_minutes,source\n";

    #[test]
    fn embedded_catalogue_parses() {
        let parsed = Catalogue::parse_csv(BUILTIN_CSV).unwrap();
        assert_eq!(parsed.len(), 50);
        assert_eq!(Catalogue::builtin().len(), 50);
    }

    #[test]
    fn embedded_catalogue_has_fifty_types_in_eight_categories() {
        let c = Catalogue::builtin();
        let counts: Vec<(&str, usize)> = c
            .categories()
            .iter()
            .map(|cat| (cat.as_str(), c.by_category(cat.as_str()).count()))
            .collect();
        assert_eq!(
            counts,
            [
                ("support", 7),
                ("ops", 6),
                ("sales", 6),
                ("legal", 6),
                ("content", 7),
                ("research", 6),
                ("data", 6),
                ("dev", 6),
            ]
        );
        assert_eq!(c.iter().count(), 50);
        assert_eq!(c.by_category("unknown").count(), 0);
        assert!(c.iter().all(|t| !t.source.is_empty()));
    }

    #[test]
    fn confirmed_baselines() {
        let c = Catalogue::builtin();
        for (key, minutes) in [
            ("email_classification", "4"),
            ("ticket_routing", "2"),
            ("customer_email_draft", "8"),
            ("duplicate_detection", "3"),
            ("blog_long_draft", "90"),
            ("blog_short_draft", "35"),
        ] {
            let t = c.get(key).unwrap();
            assert_eq!(
                t.baseline.get(),
                Decimal::from_str(minutes).unwrap(),
                "{key}"
            );
            assert!(t.source.starts_with("CONFIRMED"), "{key}");
            assert!(c.is_builtin(key));
        }
        assert!(c.get("Email_classification").is_none());
        assert!(!c.is_builtin("invoice_triage"));
    }

    #[test]
    fn file_order_and_fields() {
        let first = Catalogue::builtin().iter().next().unwrap();
        assert_eq!(first.key.as_str(), "email_classification");
        assert_eq!(first.category.as_str(), "support");
        assert_eq!(first.display_name, "Email classification");
    }

    #[test]
    fn custom_keys() {
        let cases: &[(&str, Result<&str, CustomKeyError>)] = &[
            ("invoice_triage", Ok("invoice_triage")),
            (
                "ticket_routing",
                Err(CustomKeyError::CollidesWithBuiltin(
                    TaskTypeKey::parse("ticket_routing").unwrap(),
                )),
            ),
            (
                "Ticket_Routing",
                Err(CustomKeyError::Invalid(KeyError::NotSnakeCase)),
            ),
            ("", Err(CustomKeyError::Invalid(KeyError::Empty))),
        ];
        for (key, want) in cases {
            let got = validate_custom_key(key);
            assert_eq!(
                got.as_ref().map(TaskTypeKey::as_str),
                want.as_ref().map(|s| *s),
                "{key}"
            );
        }
        assert_eq!(
            validate_custom_key("ticket_routing")
                .unwrap_err()
                .to_string(),
            "collides with the built-in task type ticket_routing"
        );
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let cases: &[(&str, &str)] = &[
            ("key,category,display_name\n", "line 1: header must be `key,category,display_name,baseline_minutes,source`, found `key,category,display_name`"),
            ("a,support,A,4,s\nB,support,B,4,s\n", "line 3: key 'B' must be lowercase snake_case (a-z, 0-9 and single underscores, starting with a letter), e.g. invoice_triage"),
            ("a,Support,A,4,s\n", "line 2: category 'Support' must be lowercase snake_case (a-z, 0-9 and single underscores, starting with a letter), e.g. invoice_triage"),
            ("a,support,,4,s\n", "line 2: display_name must not be empty"),
            ("a,support,A,0,s\n", "line 2: baseline_minutes '0' must be greater than 0"),
            ("a,support,A,four,s\n", "line 2: baseline_minutes 'four' must be a number"),
            ("a,support,A,10081,s\n", "line 2: baseline_minutes '10081' must be at most 10080"),
            ("a,support,A,4,s\nb,ops,B,4,s\na,ops,A,5,s\n", "line 4: key 'a' is already defined on line 2"),
            ("a,support,A,4\n", "line 2: expected 5 fields, found 4"),
            ("a,support,\"multi\nline\",4,s\nb,support,B,x,s\n", "line 4: baseline_minutes 'x' must be a number"),
        ];
        for (body, want) in cases {
            let text = if body.starts_with("key,") {
                (*body).to_owned()
            } else {
                format!("{HEADER}{body}")
            };
            let err = Catalogue::parse_csv(&text).unwrap_err();
            assert_eq!(err.to_string(), *want, "{body:?}");
        }
    }

    #[test]
    fn small_catalogue_keeps_order() {
        let c = Catalogue::parse_csv(&format!(
            "{HEADER}b,ops,B,1.5,x\na,support,A,4,\"y, z\"\nc,ops,C,2,w\n"
        ))
        .unwrap();
        let keys: Vec<&str> = c.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let cats: Vec<&str> = c.categories().iter().map(Category::as_str).collect();
        assert_eq!(cats, ["ops", "support"]);
        assert_eq!(c.get("a").unwrap().source, "y, z");
        assert!(c.validate_custom_key("ticket_routing").is_ok());
        assert!(c.validate_custom_key("a").is_err());
    }
}
