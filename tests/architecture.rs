//! The architecture invariants of ARCHITECTURE.md, checked. Each test here is named by an
//! "Architecture invariant:" line there; they read the source tree and Cargo.lock, run nothing, and
//! need no desktop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Every file under `folder` (relative to the root) whose name ends with one of `extensions`, as
/// paths relative to the root, sorted.
fn files(folder: &str, extensions: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root().join(folder)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "node_modules" {
                    stack.push(path);
                }
            } else if extensions.iter().any(|ext| name.ends_with(ext)) {
                found.push(path.strip_prefix(root()).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

/// The crates whose sources the code map and the size limit cover.
const SOURCE_FOLDERS: [&str; 5] = ["core/src", "plugin/src", "src-tauri/src", "cli/src", "broker/src"];

fn rust_sources() -> Vec<String> {
    SOURCE_FOLDERS.iter().filter(|folder| root().join(folder).is_dir()).flat_map(|folder| files(folder, &[".rs"])).collect()
}

fn page_sources() -> Vec<String> {
    files("ui", &[".js", ".html", ".css"])
}

/// A file that holds only tests (declared `#[cfg(test)] mod …;` beside the code it tests).
fn is_test_module(path: &str) -> bool {
    let name = Path::new(path).file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs") || name.ends_with("_props.rs") || path.contains("/tests/")
}

/// Architecture invariant: every source file has a line in ARCHITECTURE.md's code map.
#[test]
fn every_source_file_is_in_the_code_map() {
    let map = read("ARCHITECTURE.md");
    let missing: Vec<String> =
        rust_sources().into_iter().chain(page_sources()).filter(|path| !map.contains(&format!("`{path}`"))).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md's code map has no line for: {missing:?}");
}

/// Architecture invariant: no source file is over 400 lines (tests in their own files aside), no file
/// of the page over 300.
#[test]
fn files_stay_small_enough_to_read_at_once() {
    let count = |path: &str| read(path).lines().count();
    let mut over: Vec<String> = rust_sources()
        .into_iter()
        .filter(|path| !is_test_module(path))
        .filter(|path| count(path) > 400)
        .map(|path| format!("{path} ({} lines > 400)", count(&path)))
        .collect();
    over.extend(page_sources().into_iter().filter(|path| count(path) > 300).map(|path| format!("{path} ({} lines > 300)", count(&path))));
    assert!(over.is_empty(), "too long: {over:?}");
}

/// The packages of Cargo.lock and the names of their dependencies.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let lock = read("Cargo.lock");
    let mut graph = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let name = package.lines().find_map(|l| l.strip_prefix("name = \"")).map(|n| n.trim_end_matches('"').to_owned()).unwrap();
        let deps: Vec<String> = package
            .split("dependencies = [")
            .nth(1)
            .map(|list| {
                list.split(']')
                    .next()
                    .unwrap()
                    .lines()
                    .filter_map(|l| l.trim().trim_end_matches(',').strip_prefix('"'))
                    .map(|d| d.trim_end_matches('"').split(' ').next().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        graph.entry(name).or_insert_with(Vec::new).extend(deps);
    }
    graph
}

/// Everything `package` links, as Cargo.lock resolves it (dev-dependencies included: the strictest reading).
fn linked(graph: &BTreeMap<String, Vec<String>>, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![package.to_owned()];
    while let Some(next) = stack.pop() {
        for dep in graph.get(&next).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                stack.push(dep.clone());
            }
        }
    }
    seen
}

/// Architecture invariant: the core (and the broker) link no Tauri, no WebKit and no GTK.
#[test]
fn the_core_links_no_tauri() {
    let graph = lock_graph();
    for package in ["session-core", "session-broker"] {
        if !graph.contains_key(package) {
            continue;
        }
        let desktop: Vec<String> = linked(&graph, package)
            .into_iter()
            .filter(|dep| dep.starts_with("tauri") || dep.starts_with("wry") || dep.starts_with("webkit2gtk") || dep.starts_with("gtk"))
            .collect();
        assert!(desktop.is_empty(), "{package} links {desktop:?}");
    }
    assert!(graph.contains_key("session-core"), "Cargo.lock names session-core");
}

/// The `[dependencies]` table of a Cargo.toml, as dependency names.
fn direct_dependencies(manifest: &str) -> Vec<String> {
    let text = read(manifest);
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]" || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
            continue;
        }
        if in_dependencies
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// Architecture invariant: the shell makes no HTTP request to a provider: it has no HTTP or OpenID
/// Connect client of its own, and every provider call goes through session-core.
#[test]
fn the_shell_makes_no_http_request_to_a_provider() {
    const CLIENTS: [&str; 6] = ["reqwest", "openidconnect", "oauth2", "hyper", "ureq", "isahc"];
    for manifest in ["plugin/Cargo.toml", "src-tauri/Cargo.toml", "broker/Cargo.toml", "cli/Cargo.toml"] {
        if !root().join(manifest).exists() {
            continue;
        }
        let clients: Vec<String> = direct_dependencies(manifest).into_iter().filter(|d| CLIENTS.contains(&d.as_str())).collect();
        assert!(clients.is_empty(), "{manifest} depends on {clients:?}");
    }
    for path in rust_sources().into_iter().filter(|p| !p.starts_with("core/")) {
        let text = read(&path);
        for client in CLIENTS {
            assert!(!text.contains(&format!("{client}::")), "{path} calls {client}");
        }
    }
}

/// Architecture invariant: the page computes no session state: it reads no phase and no failure count,
/// and renders what the snapshot says (`shown`, `refreshing`, `endingSoon`, `who`, `endsAt`, …).
#[test]
fn the_page_computes_no_session_state() {
    for path in files("ui", &[".js"]) {
        let text = read(&path);
        // `ui/types.js` declares every field of the payload (pinned by core/tests/page_types.rs); reading
        // one is what counts.
        for derived in [".phase", ".consecutiveFailures", ".hasRefreshToken", ".sessionExpiresAt", ".refreshTokenExpiresAt", "[\"phase\"]"]
        {
            assert!(!text.contains(derived), "{path} reads `{derived}`: render the snapshot's answer instead");
        }
    }
}

/// Architecture invariant: every session decision is in `transition`: outside the machine
/// (`core/src/session/machine.rs` and `core/src/session/machine/`), no code changes a session's phase,
/// tokens, failure count, retry time, lifetime or error.
#[test]
fn every_session_decision_is_in_transition() {
    const DECIDED: [&str; 7] =
        [".phase =", ".tokens =", ".failures =", ".retry_at =", ".session_expires_at =", ".last_error =", ".keychain ="];
    let outside_the_machine =
        rust_sources().into_iter().filter(|path| !path.starts_with("core/src/session/machine") && !is_test_module(path));
    let mut found = Vec::new();
    for path in outside_the_machine {
        for (number, line) in read(&path).lines().enumerate() {
            let code = line.split("//").next().unwrap();
            if DECIDED.iter().any(|field| code.contains(field) && !code.contains(&format!("{field}="))) {
                found.push(format!("{path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "session state changed outside `transition`:\n{}", found.join("\n"));
}

/// The top-level modules of a crate's `src` (files and folders) and the modules each one names
/// through `crate::…`.
fn module_graph(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = std::fs::read_dir(root().join(src))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().into_owned();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|name| !["lib", "main"].contains(&name.as_str()))
        .collect();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut uses = BTreeSet::new();
        let sources: Vec<String> = if root().join(src).join(module).is_dir() {
            files(&format!("{src}/{module}"), &[".rs"])
        } else {
            vec![format!("{src}/{module}.rs")]
        };
        for path in sources.iter().filter(|p| !is_test_module(p)) {
            let text = read(path);
            // Code only: test modules inside a file may use anything.
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            for other in &modules {
                if other != module
                    && (code.contains(&format!("crate::{other}::"))
                        || code.contains(&format!("crate::{other}::{{"))
                        || code.contains(&format!("crate::{other};")))
                {
                    uses.insert(other.clone());
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Architecture invariant: no import circle between the modules of a crate, and the protocol module
/// (`core/src/oidc`) never imports from the session module above it.
#[test]
fn no_import_circle_and_the_protocol_stays_below_the_sessions() {
    for src in SOURCE_FOLDERS.iter().filter(|folder| root().join(folder).is_dir()) {
        let graph = module_graph(src);
        assert_eq!(circle(&graph), None, "an import circle in {src}: {graph:?}");
    }
    let core = module_graph("core/src");
    assert!(!core["oidc"].contains("session"), "core/src/oidc imports from core/src/session");
}

/// The checks above can fail: a circle is found when there is one.
#[test]
fn the_circle_check_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a")].into_iter().map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()]))).collect();
    assert_eq!(circle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}

/// Architecture invariant: the documents name only files that exist: every `path.rs` or `path.js` in
/// backticks in README.md, ARCHITECTURE.md and RELIABILITY.md is found (directly, or under one of the
/// source folders the text abbreviates).
#[test]
fn the_documents_name_only_files_that_exist() {
    const PREFIXES: [&str; 13] = [
        "",
        "core/src/",
        "plugin/src/",
        "plugin/",
        "core/",
        "core/tests/",
        "src-tauri/src/",
        "src-tauri/",
        "cli/src/",
        "broker/src/",
        "tests/",
        "tests/bench/",
        "ui/",
    ];
    let mut missing = Vec::new();
    for document in ["README.md", "ARCHITECTURE.md", "RELIABILITY.md"] {
        let text = read(document);
        for quoted in text.split('`').skip(1).step_by(2) {
            let path = quoted.split([' ', ':']).next().unwrap_or_default();
            let is_file = (path.ends_with(".rs") || path.ends_with(".js")) && !path.contains('*') && !path.contains('<');
            if is_file && !PREFIXES.iter().any(|prefix| root().join(format!("{prefix}{path}")).exists()) {
                missing.push(format!("{document}: {path}"));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "named but not found: {missing:?}");
}

/// Architecture invariant: every test the decision table names exists (a `fn` of that name in the core).
#[test]
fn every_decision_names_a_test_that_exists() {
    let document = read("ARCHITECTURE.md");
    let table = document.split("## The decision table").nth(1).expect("ARCHITECTURE.md has a decision table");
    let table = table.split("\n## ").next().unwrap();
    let core: String = files("core", &[".rs"]).iter().map(read).collect();
    let mut named = 0;
    let mut missing = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| decision") && !l.starts_with("| ---")) {
        let test_column = row.trim_end_matches('|').rsplit('|').next().unwrap();
        for name in test_column.split('`').skip(1).step_by(2) {
            named += 1;
            if !core.contains(&format!("fn {name}(")) {
                missing.push(name.to_owned());
            }
        }
    }
    assert!(named > 40, "the decision table names {named} tests");
    assert!(missing.is_empty(), "the decision table names tests that do not exist: {missing:?}");
}
