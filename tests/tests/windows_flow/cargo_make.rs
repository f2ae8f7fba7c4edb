//! A model of what cargo-make does with Makefile.toml, as far as the Windows flow uses it: the
//! `[env]` table evaluated in order (plain values, `{ value, condition }`, `{ source, mapping,
//! default_value, condition }`, with `${NAME}` expanded and unknown names left as written, as
//! cargo-make's `expand_value` does), task conditions, dependencies, aliases, and command
//! arguments with `@@remove-empty(NAME)`. Anything else it meets is refused, so that a new
//! construct in the Makefile cannot be silently misread.

use std::collections::BTreeMap;
use toml::{Table, Value};

pub type Env = BTreeMap<String, String>;

pub struct Makefile {
    table: Table,
}

/// `${NAME}` replaced by its value; unknown names stay as written.
pub fn expand(text: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match env.get(name) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"))
}

fn names(value: &Value) -> Vec<String> {
    value.as_array().expect("a list of names").iter().map(|v| v.as_str().expect("a name").to_string()).collect()
}

/// A cargo-make condition on a Windows machine with this environment.
pub fn condition_holds(condition: &Table, env: &Env) -> bool {
    condition.iter().all(|(key, value)| match key.as_str() {
        "platforms" => names(value).iter().any(|p| p == "windows"),
        "env_set" => names(value).iter().all(|n| env.contains_key(n)),
        "env_not_set" => names(value).iter().all(|n| !env.contains_key(n)),
        "env_true" => names(value).iter().all(|n| truthy(env.get(n))),
        "env_false" => names(value).iter().all(|n| !truthy(env.get(n))),
        other => panic!("condition key {other} is not modelled"),
    })
}

impl Makefile {
    pub fn parse(text: &str) -> Self {
        Self { table: text.parse().expect("Makefile.toml parses") }
    }

    pub fn task(&self, name: &str) -> &Table {
        self.table
            .get("tasks")
            .and_then(|t| t.get(name))
            .and_then(Value::as_table)
            .unwrap_or_else(|| panic!("no task {name}"))
    }

    pub fn has_task(&self, name: &str) -> bool {
        self.table.get("tasks").and_then(|t| t.get(name)).is_some()
    }

    pub fn task_names(&self) -> Vec<String> {
        self.table.get("tasks").and_then(Value::as_table).map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    fn string(&self, task: &str, key: &str) -> Option<String> {
        self.task(task)
            .get(key)
            .map(|v| v.as_str().unwrap_or_else(|| panic!("{task}.{key} is not a string")).to_string())
    }

    pub fn script(&self, task: &str) -> Option<String> {
        self.string(task, "script")
    }

    pub fn script_runner(&self, task: &str) -> Option<String> {
        self.string(task, "script_runner")
    }

    pub fn list(&self, task: &str, key: &str) -> Vec<String> {
        self.task(task).get(key).map(names).unwrap_or_default()
    }

    /// The environment cargo-make sets up from `[env]`, starting from `initial`.
    pub fn env(&self, initial: &Env) -> Env {
        let mut env = initial.clone();
        let Some(table) = self.table.get("env").and_then(Value::as_table) else { return env };
        for (key, value) in table {
            let new = match value {
                Value::String(s) => Some(expand(s, &env)),
                Value::Boolean(b) => Some(b.to_string()),
                Value::Table(t) => {
                    let holds = t.get("condition").and_then(Value::as_table).is_none_or(|c| condition_holds(c, &env));
                    if !holds {
                        None
                    } else if let Some(v) = t.get("value") {
                        Some(expand(v.as_str().expect("value is a string"), &env))
                    } else if let Some(source) = t.get("source") {
                        let source = expand(source.as_str().expect("source is a string"), &env);
                        let mapping = t.get("mapping").and_then(Value::as_table).expect("a mapping");
                        let mapped = match mapping.get(&source) {
                            Some(v) => v.as_str().expect("a mapped string").to_string(),
                            None => t.get("default_value").and_then(Value::as_str).map_or(source, str::to_string),
                        };
                        Some(expand(&mapped, &env))
                    } else if t.get("unset").and_then(Value::as_bool) == Some(true) {
                        env.remove(key);
                        None
                    } else {
                        panic!("[env] {key}: this form is not modelled")
                    }
                }
                _ => panic!("[env] {key}: this form is not modelled"),
            };
            if let Some(new) = new {
                env.insert(key.clone(), new);
            }
        }
        env
    }

    /// Whether the task runs on Windows with this environment.
    pub fn runs(&self, task: &str, env: &Env) -> bool {
        self.task(task).get("condition").and_then(Value::as_table).is_none_or(|c| condition_holds(c, env))
    }

    /// The tasks `name` brings in (aliases followed, dependencies first), each once, whether or
    /// not their condition holds.
    pub fn flow(&self, name: &str) -> Vec<String> {
        let mut order = Vec::new();
        self.visit(name, &mut order, 0);
        order
    }

    fn visit(&self, name: &str, order: &mut Vec<String>, depth: usize) {
        assert!(depth < 64, "dependency cycle through {name}");
        if let Some(alias) = self.string(name, "alias") {
            return self.visit(&alias, order, depth + 1);
        }
        for dependency in self.list(name, "dependencies") {
            self.visit(&dependency, order, depth + 1);
        }
        if !order.iter().any(|t| t == name) {
            order.push(name.to_string());
        }
    }

    /// Whether `later`'s dependencies include `earlier`, directly or not.
    pub fn depends_on(&self, later: &str, earlier: &str) -> bool {
        let flow = self.flow(later);
        flow.iter().any(|t| t == earlier) && later != earlier
    }

    /// The command task's arguments, expanded as cargo-make expands them.
    pub fn args(&self, task: &str, env: &Env) -> Vec<String> {
        let mut out = Vec::new();
        for arg in self.list(task, "args") {
            if let Some(name) = arg.strip_prefix("@@remove-empty(").and_then(|a| a.strip_suffix(')')) {
                if let Some(value) = env.get(name).filter(|v| !v.is_empty()) {
                    out.push(value.clone());
                }
            } else {
                assert!(!arg.starts_with("@@"), "{task}: function {arg} is not modelled");
                out.push(expand(&arg, env));
            }
        }
        out
    }
}
