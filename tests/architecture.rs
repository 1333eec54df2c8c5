//! The layers stay layers: no import circle between the top-level modules,
//! nor among the files of any folder (`src/domain/`, `src/graphql/types/`
//! and every other; docs/ARCHITECTURE.md draws them). A folder's own
//! `mod.rs` is not one of its files here: what it shares with them and
//! re-exports of them is one module split in two. Every `crate::`,
//! `super::` and `self::` path of the source is read from its tokens (uses,
//! expressions, types and macro bodies alike), so a new circle fails here
//! whatever form it takes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The folders the issue that drew the layers named; every other is checked too.
const NAMED_SCOPES: &[&[&str]] = &[&[], &["domain"], &["graphql", "types"]];

#[test]
fn no_import_circles_between_modules() {
    let crate_graph = CrateGraph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let folders = crate_graph.folders();
    for named in NAMED_SCOPES {
        assert!(folders.iter().any(|f| f == named), "src/{} is not a folder any more", named.join("/"));
    }
    let mut failures = Vec::new();
    for scope in &folders {
        let scope: Vec<&str> = scope.iter().map(String::as_str).collect();
        let scope = scope.as_slice();
        let edges = crate_graph.edges_within(scope);
        for circle in circles(&edges) {
            let mut via = Vec::new();
            for from in &circle {
                for (to, files) in &edges[from] {
                    if circle.contains(to) {
                        let files: Vec<&str> = files.iter().map(String::as_str).collect();
                        via.push(format!("{from} -> {to} ({})", files.join(", ")));
                    }
                }
            }
            failures.push(format!("in {}: {}\n    {}", scope_name(scope), circle.join(", "), via.join("\n    ")));
        }
    }
    assert!(failures.is_empty(), "import circles:\n{}", failures.join("\n"));
}

/// The layers below GraphQL know no GraphQL: the schema maps their types in
/// `src/graphql/` (enums in `graphql/enums.rs`), so the domain, the
/// database and auth name nothing of async-graphql, in code or macros.
#[test]
fn layers_below_graphql_name_no_graphql_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut naming = Vec::new();
    for layer in ["domain", "db", "auth"] {
        for file in rust_files(&src.join(layer)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let tokens = TokenStream::from_str(&text).unwrap();
            if names_ident(tokens, "async_graphql") {
                naming.push(file.strip_prefix(&src).unwrap().display().to_string());
            }
        }
    }
    assert!(naming.is_empty(), "async_graphql named below the GraphQL layer in: {}", naming.join(", "));
}

fn names_ident(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(word) => word == name,
        TokenTree::Group(group) => names_ident(group.stream(), name),
        _ => false,
    })
}

/// The check itself: a circle written three ways is found.
#[test]
fn the_circle_check_sees_uses_paths_and_groups() {
    let mut graph = CrateGraph::default();
    graph.add_file(vec!["domain".into(), "case".into()], "use crate::domain::{tag, other::Thing};");
    graph.add_file(vec!["domain".into(), "tag".into()], "fn f() { super::task::g(); }");
    graph.add_file(vec!["domain".into(), "task".into()], "fn g() { crate::domain::case::h() }");
    graph.add_file(vec!["domain".into(), "other".into()], "mod tests { use super::*; }");
    graph.modules.extend(["case", "tag", "task", "other"].map(|m| vec!["domain".to_owned(), m.to_owned()]));
    let found = circles(&graph.edges_within(&["domain"]));
    assert_eq!(found, vec![vec!["case", "tag", "task"]]);
}

fn scope_name(scope: &[&str]) -> String {
    if scope.is_empty() { "src/".to_owned() } else { format!("src/{}/", scope.join("/")) }
}

/// The node of a folder's own file (`mod.rs`).
const OWN_FILE: &str = "(mod)";

type Edges = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[derive(Default)]
struct CrateGraph {
    /// Every module that is a file or a directory.
    modules: BTreeSet<Vec<String>>,
    /// (the module a reference is written in, the path it names, the file).
    references: Vec<(Vec<String>, Vec<String>, String)>,
}

impl CrateGraph {
    fn read(src: &Path) -> Self {
        let mut graph = CrateGraph::default();
        for file in rust_files(src) {
            let relative = file.strip_prefix(src).unwrap();
            let mut module: Vec<String> =
                relative.with_extension("").iter().map(|part| part.to_string_lossy().into_owned()).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                module.pop();
            }
            graph.modules.insert(module.clone());
            let text = std::fs::read_to_string(&file).unwrap();
            graph.add_file(module, &text);
        }
        graph
    }

    fn add_file(&mut self, module: Vec<String>, text: &str) {
        let name = if module.is_empty() { "lib".to_owned() } else { module.join("/") };
        let tokens = TokenStream::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut found = Vec::new();
        scan(&module, tokens, &mut found);
        self.references.extend(found.into_iter().map(|(from, path)| (from, path, name.clone())));
    }

    /// Every module that has modules inside it (the crate root included).
    fn folders(&self) -> Vec<Vec<String>> {
        let mut folders: BTreeSet<Vec<String>> = BTreeSet::new();
        for module in &self.modules {
            for len in 0..module.len() {
                folders.insert(module[..len].to_vec());
            }
        }
        folders.into_iter().collect()
    }

    /// Edges between the children of `scope`: a reference written inside one
    /// child to another child (the scope's own file is left out).
    fn edges_within(&self, scope: &[&str]) -> Edges {
        let node = |path: &[String]| -> Option<String> {
            if path.len() < scope.len() || path.iter().zip(scope).any(|(a, b)| a != b) {
                return None;
            }
            match path.get(scope.len()) {
                Some(child) if self.modules.contains(&[&path[..scope.len()], std::slice::from_ref(child)].concat()) => {
                    Some(child.clone())
                }
                _ => Some(OWN_FILE.to_owned()),
            }
        };
        let mut edges = Edges::new();
        for (from, path, file) in &self.references {
            let (Some(a), Some(b)) = (node(from), node(path)) else { continue };
            if a != b && a != OWN_FILE && b != OWN_FILE {
                edges.entry(a).or_default().entry(b).or_default().insert(file.clone());
            }
        }
        edges
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Finds every path that starts with `crate`, `super` or `self` in `tokens`,
/// written inside `module`; `mod name { .. }` blocks are modules of their own.
fn scan(module: &[String], tokens: TokenStream, found: &mut Vec<(Vec<String>, Vec<String>)>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Ident(word) if word == "mod" => {
                if let (Some(TokenTree::Ident(name)), Some(TokenTree::Group(body))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                    && body.delimiter() == Delimiter::Brace
                {
                    let inner: Vec<String> = module.iter().cloned().chain([name.to_string()]).collect();
                    scan(&inner, body.stream(), found);
                    i += 3;
                    continue;
                }
            }
            TokenTree::Ident(word) if word == "crate" || word == "super" || word == "self" => {
                let preceded_by_colons = i >= 1 && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == ':');
                if !preceded_by_colons {
                    let mut base: Vec<String> = if word == "crate" { Vec::new() } else { module.to_vec() };
                    if word == "super" {
                        base.pop();
                    }
                    i = path_tail(module, &tokens, i + 1, base, found);
                    continue;
                }
            }
            TokenTree::Group(group) => scan(module, group.stream(), found),
            _ => {}
        }
        i += 1;
    }
}

/// Reads `::segment` after `base` from `tokens[at..]`, expanding `{a, b::c}`
/// groups; returns the index after the path.
fn path_tail(
    module: &[String],
    tokens: &[TokenTree],
    mut at: usize,
    mut base: Vec<String>,
    found: &mut Vec<(Vec<String>, Vec<String>)>,
) -> usize {
    loop {
        let colons = matches!((tokens.get(at), tokens.get(at + 1)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':');
        if !colons {
            break;
        }
        match tokens.get(at + 2) {
            Some(TokenTree::Ident(segment)) if segment == "super" => {
                base.pop();
                at += 3;
            }
            Some(TokenTree::Ident(segment)) => {
                base.push(segment.to_string());
                at += 3;
            }
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                for item in inner.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
                    let item = item.to_vec();
                    match item.first() {
                        Some(TokenTree::Ident(first)) if first != "self" => {
                            let mut with = base.clone();
                            with.push(first.to_string());
                            path_tail(module, &item, 1, with, found);
                        }
                        _ => found.push((module.to_vec(), base.clone())),
                    }
                }
                return at + 3;
            }
            _ => break,
        }
    }
    found.push((module.to_vec(), base));
    at
}

/// The strongly connected components of more than one node: each is one or
/// more circles (Tarjan's algorithm; a few dozen nodes).
fn circles(edges: &Edges) -> Vec<Vec<String>> {
    struct Search<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, node: &'a str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            for next in self.edges.get(node).into_iter().flat_map(|n| n.keys()) {
                if !self.index.contains_key(next.as_str()) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next.as_str()]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next.as_str()) {
                    let low = self.low[node].min(self.index[next.as_str()]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let at = self.stack.iter().rposition(|n| *n == node).unwrap();
                let mut component: Vec<String> = self.stack.drain(at..).map(str::to_owned).collect();
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut search =
        Search { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for node in edges.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.found
}
