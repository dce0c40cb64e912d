//! Static checks run when a policy set is loaded, for what regorus reports
//! late or not at all: calls to unknown functions (OPA rejects them at
//! compile time, regorus only when the call runs) and recursion between
//! rules (OPA rejects it; regorus would overflow its stack and abort the
//! process). Both become load errors with file and line.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use regorus::unstable::{Expr, Literal, Module, Query, Ref, Rule, RuleHead};

/// One rule definition: its full path (`p.q.rule`), where it is, what it uses.
struct RuleNode {
    path: String,
    file: String,
    line: u32,
    refs: Vec<Vec<String>>,
    calls: Vec<(Vec<String>, String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// Collects reference chains (`data.x.y`, `lib.f`, `name`) and calls.
#[derive(Default)]
struct Collector {
    refs: Vec<Vec<String>>,
    calls: Vec<(Vec<String>, String, u32)>,
    locals: HashSet<String>,
}

fn chain(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Var { span, .. } => Some(vec![span.text().to_owned()]),
        Expr::RefDot { refr, field, .. } => {
            let mut c = chain(refr)?;
            c.push(field.0.text().to_owned());
            Some(c)
        }
        Expr::RefBrack { refr, index, .. } => {
            let mut c = chain(refr)?;
            if let Expr::String { value, .. } | Expr::RawString { value, .. } = index.as_ref()
                && let Ok(s) = value.as_string()
            {
                c.push(s.to_string());
            }
            Some(c)
        }
        _ => None,
    }
}

impl Collector {
    fn expr(&mut self, e: &Ref<Expr>) {
        match e.as_ref() {
            Expr::String { .. }
            | Expr::RawString { .. }
            | Expr::Number { .. }
            | Expr::Bool { .. }
            | Expr::Null { .. } => {}
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => {
                if let Some(c) = chain(e) {
                    self.refs.push(c);
                }
                if let Expr::RefBrack { index, refr, .. } = e.as_ref() {
                    self.expr(index);
                    if chain(refr).is_none() {
                        self.expr(refr);
                    }
                } else if let Expr::RefDot { refr, .. } = e.as_ref()
                    && chain(refr).is_none()
                {
                    self.expr(refr);
                }
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| self.expr(i))
            }
            Expr::Object { fields, .. } => {
                for (_, k, v) in fields {
                    self.expr(k);
                    self.expr(v);
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.query(query);
                self.expr(term);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.query(query);
                self.expr(key);
                self.expr(value);
            }
            Expr::Call {
                fcn, params, span, ..
            } => {
                if let Some(c) = chain(fcn) {
                    self.calls
                        .push((c.clone(), span.source.get_path().clone(), span.line));
                    self.refs.push(c);
                }
                params.iter().for_each(|p| self.expr(p));
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr),
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::AssignExpr { lhs, rhs, op, .. } => {
                if matches!(op, regorus::unstable::AssignOp::ColEq) {
                    self.declare(lhs);
                }
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    self.expr(k);
                }
                self.expr(value);
                self.expr(collection);
            }
        }
    }

    /// Variables introduced by `:=`, `some`, `every` and function arguments
    /// shadow rules of the same name.
    fn declare(&mut self, e: &Ref<Expr>) {
        match e.as_ref() {
            Expr::Var { span, .. } => {
                self.locals.insert(span.text().to_owned());
            }
            Expr::Array { items, .. } => items.iter().for_each(|i| self.declare(i)),
            Expr::Object { fields, .. } => fields.iter().for_each(|(_, _, v)| self.declare(v)),
            _ => {}
        }
    }

    fn query(&mut self, q: &Ref<Query>) {
        for stmt in &q.stmts {
            match &stmt.literal {
                Literal::SomeVars { vars, .. } => {
                    for v in vars {
                        self.locals.insert(v.text().to_owned());
                    }
                }
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    if let Some(k) = key {
                        self.declare(k);
                    }
                    self.declare(value);
                    self.expr(collection);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => self.expr(expr),
                Literal::Every {
                    key,
                    value,
                    domain,
                    query,
                    ..
                } => {
                    if let Some(k) = key {
                        self.locals.insert(k.text().to_owned());
                    }
                    self.locals.insert(value.text().to_owned());
                    self.expr(domain);
                    self.query(query);
                }
            }
            for w in &stmt.with_mods {
                self.expr(&w.r#as);
            }
        }
    }
}

fn package_path(m: &Module) -> String {
    regorus::unstable::Parser::get_path_ref_components(&m.package.refr)
        .map(|c| {
            c.iter()
                .map(|s| s.text().to_owned())
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default()
}

/// The name a rule head defines, as path components (`deny`, `a.b`).
fn head_path(head: &RuleHead) -> Vec<String> {
    let refr = match head {
        RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } | RuleHead::Func { refr, .. } => {
            refr
        }
    };
    chain(refr).unwrap_or_default()
}

/// Every `test_*` (and skipped `todo_test_*`) rule: (package, name, file, line).
pub fn test_rules(modules: &[Ref<Module>]) -> Vec<(String, String, String, u32)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for m in modules {
        let pkg = package_path(m);
        for r in &m.policy {
            let Rule::Spec { head, span, .. } = r.as_ref() else {
                continue;
            };
            if matches!(head, RuleHead::Func { .. }) {
                continue;
            }
            let path = head_path(head);
            let [name] = path.as_slice() else { continue };
            if (name.starts_with("test_") || name.starts_with("todo_test_"))
                && seen.insert(format!("{pkg}.{name}"))
            {
                out.push((
                    pkg.clone(),
                    name.clone(),
                    span.source.get_path().clone(),
                    span.line,
                ));
            }
        }
    }
    out
}

/// Packages that declare `rule` (e.g. `deny`), in load order.
pub fn packages_declaring(modules: &[Ref<Module>], rule: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in modules {
        let pkg = package_path(m);
        let declares = m.policy.iter().any(|r| {
            let path = match r.as_ref() {
                Rule::Spec { head, .. } => head_path(head),
                Rule::Default { refr, .. } => chain(refr).unwrap_or_default(),
            };
            path.first().map(String::as_str) == Some(rule)
        });
        if declares && !out.contains(&pkg) {
            out.push(pkg);
        }
    }
    out
}

/// Which parts of `input` a policy set reads, and whether its answers can
/// depend on anything but its input and data (clock, randomness, network).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputUse {
    /// `input` is used as a whole (or indexed dynamically).
    pub whole: bool,
    /// The top-level keys read: `image`, `attestations`, `container`, ...
    pub roots: BTreeSet<String>,
    pub deterministic: bool,
}

impl InputUse {
    pub fn reads(&self, root: &str) -> bool {
        self.whole || self.roots.contains(root)
    }
}

const NONDETERMINISTIC: &[&str] = &[
    "time.now_ns",
    "rand.intn",
    "uuid.rfc4122",
    "opa.runtime",
    "http.send",
    "net.lookup_ip_addr",
];

/// Runs the load-time checks. `known` holds builtin and extension names.
pub fn check(modules: &[Ref<Module>], known: &HashSet<String>) -> Result<InputUse, Finding> {
    let mut nodes: Vec<RuleNode> = Vec::new();
    let mut functions: HashSet<String> = HashSet::new();
    let mut input_use = InputUse {
        deterministic: true,
        ..InputUse::default()
    };
    let note_input = |chain: &[String], input_use: &mut InputUse| {
        if chain.first().map(String::as_str) == Some("input") {
            match chain.get(1) {
                Some(root) => {
                    input_use.roots.insert(root.clone());
                }
                None => input_use.whole = true,
            }
        }
    };
    for m in modules {
        let pkg = package_path(m);
        let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
        for imp in &m.imports {
            if let Some(c) = chain(&imp.refr) {
                note_input(&c, &mut input_use);
                let alias = imp
                    .r#as
                    .as_ref()
                    .map(|s| s.text().to_owned())
                    .or_else(|| c.last().cloned());
                if let Some(a) = alias {
                    aliases.insert(a, c);
                }
            }
        }
        let local_rules: HashSet<String> = m
            .policy
            .iter()
            .filter_map(|r| match r.as_ref() {
                Rule::Spec { head, .. } => head_path(head).first().cloned(),
                Rule::Default { refr, .. } => chain(refr).and_then(|c| c.first().cloned()),
            })
            .collect();
        for r in &m.policy {
            let mut c = Collector::default();
            let (path, span) = match r.as_ref() {
                Rule::Spec { head, bodies, span } => {
                    match head {
                        RuleHead::Compr { assign, .. } => {
                            if let Some(a) = assign {
                                c.expr(&a.value);
                            }
                        }
                        RuleHead::Set { key, .. } => {
                            if let Some(k) = key {
                                c.expr(k);
                            }
                        }
                        RuleHead::Func { args, assign, .. } => {
                            args.iter().for_each(|a| c.declare(a));
                            if let Some(a) = assign {
                                c.expr(&a.value);
                            }
                            if let Some(name) = head_path(head).last() {
                                functions.insert(name.clone());
                            }
                        }
                    }
                    for b in bodies {
                        c.query(&b.query);
                        if let Some(a) = &b.assign {
                            c.expr(&a.value);
                        }
                    }
                    (head_path(head), span)
                }
                Rule::Default {
                    refr, value, span, ..
                } => {
                    c.expr(value);
                    (chain(refr).unwrap_or_default(), span)
                }
            };
            // Resolve reference chains to absolute paths under `data`.
            let mut refs = Vec::new();
            for (call, _, _) in &c.calls {
                if NONDETERMINISTIC.contains(&call.join(".").as_str()) {
                    input_use.deterministic = false;
                }
            }
            for r in c.refs {
                note_input(&r, &mut input_use);
                if let Some(target) = r.first().and_then(|f| aliases.get(f)) {
                    let mut full = target.clone();
                    full.extend(r[1..].iter().cloned());
                    note_input(&full, &mut input_use);
                }
                let Some(first) = r.first() else { continue };
                let abs: Vec<String> = if first == "data" {
                    r[1..].to_vec()
                } else if let Some(target) = aliases.get(first) {
                    let mut t = target.clone();
                    if t.first().map(String::as_str) == Some("data") {
                        t.remove(0);
                    } else {
                        continue; // input.* and future.keywords
                    }
                    t.extend(r[1..].iter().cloned());
                    t
                } else if local_rules.contains(first) && !c.locals.contains(first) {
                    pkg.split('.')
                        .map(str::to_owned)
                        .chain(r.iter().cloned())
                        .collect()
                } else {
                    continue;
                };
                refs.push(abs);
            }
            nodes.push(RuleNode {
                path: if pkg.is_empty() {
                    path.join(".")
                } else {
                    format!("{pkg}.{}", path.join("."))
                },
                file: span.source.get_path().clone(),
                line: span.line,
                refs,
                calls: c.calls,
            });
        }
    }

    // Unknown functions: neither builtin/extension nor a user function.
    for n in &nodes {
        for (call, file, line) in &n.calls {
            let name = call.join(".");
            let last = call.last().cloned().unwrap_or_default();
            if known.contains(&name)
                || functions.contains(&last)
                || name.starts_with("data.") && functions.contains(&last)
            {
                continue;
            }
            return Err(Finding {
                file: file.clone(),
                line: *line,
                message: format!(
                    "unknown function {name} (not an OPA builtin available here, nor a function defined in the policies)"
                ),
            });
        }
    }

    // Recursion: a cycle in the rule dependency graph.
    let mut by_path: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        by_path.entry(n.path.as_str()).or_default().push(i);
    }
    let edges: Vec<BTreeSet<usize>> = nodes
        .iter()
        .map(|n| {
            let mut out = BTreeSet::new();
            for r in &n.refs {
                let joined = r.join(".");
                // A reference to a rule, to a part of a rule's value, or to a whole package.
                for (path, idx) in &by_path {
                    let is_prefix_of_ref =
                        joined == *path || joined.starts_with(&format!("{path}."));
                    let ref_is_prefix = path.starts_with(&format!("{joined}."));
                    if is_prefix_of_ref || ref_is_prefix {
                        out.extend(idx.iter().copied());
                    }
                }
            }
            out
        })
        .collect();
    // Iterative DFS with colours.
    let mut colour = vec![0u8; nodes.len()];
    for start in 0..nodes.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, Vec<usize>)> =
            vec![(start, edges[start].iter().copied().collect())];
        let mut trail = vec![start];
        colour[start] = 1;
        while let Some((node, pending)) = stack.last_mut() {
            match pending.pop() {
                Some(next) if colour[next] == 1 => {
                    let pos = trail.iter().position(|t| *t == next).unwrap_or(0);
                    let cycle: Vec<&str> = trail[pos..]
                        .iter()
                        .chain(std::iter::once(&next))
                        .map(|i| nodes[*i].path.as_str())
                        .collect();
                    let n = &nodes[next];
                    return Err(Finding {
                        file: n.file.clone(),
                        line: n.line,
                        message: format!(
                            "recursion between rules is not allowed: {}",
                            cycle.join(" -> ")
                        ),
                    });
                }
                Some(next) if colour[next] == 0 => {
                    colour[next] = 1;
                    trail.push(next);
                    stack.push((next, edges[next].iter().copied().collect()));
                }
                Some(_) => {}
                None => {
                    colour[*node] = 2;
                    trail.pop();
                    stack.pop();
                }
            }
        }
    }
    Ok(input_use)
}

/// Deepest bracket nesting outside strings and comments: very deep nesting
/// would exhaust the parser's stack, so it is refused before parsing.
pub fn max_nesting(source: &str) -> (usize, u32) {
    let (mut depth, mut max, mut max_line, mut line) = (0usize, 0usize, 1u32, 1u32);
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => {
                            if c == '\n' {
                                line += 1;
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if c == '`' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > max {
                    max = depth;
                    max_line = line;
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (max, max_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input_use(rego: &str) -> InputUse {
        let mut e = regorus::Engine::new();
        e.add_policy("t.rego".into(), rego.into()).unwrap();
        let modules = e.get_modules().clone();
        let known: HashSet<String> = regorus::unstable::BUILTINS
            .keys()
            .map(|k| (*k).to_owned())
            .collect();
        check(&modules, &known).unwrap()
    }

    #[test]
    fn finds_the_input_roots_a_policy_reads() {
        let u = input_use(
            "package p\nimport input.container as c\ndeny contains m if { some a in input.attestations; m := sprintf(\"%s %s\", [a.predicateType, c.name]) }\n",
        );
        assert_eq!(
            u.roots.iter().map(String::as_str).collect::<Vec<_>>(),
            ["attestations", "container"]
        );
        assert!(!u.whole && u.deterministic);
        assert!(u.reads("container") && !u.reads("request"));
        let u = input_use("package p\ndeny contains k if { some k, _ in input }\n");
        assert!(u.whole);
        let u = input_use(
            "package p\ndeny contains \"late\" if time.now_ns() > input.image.deadline\n",
        );
        assert!(!u.deterministic);
    }
}
