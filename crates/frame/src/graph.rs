//! Dependency graphs as a [`Topology`]: a charter file or the short
//! `components: [{ name, depends_on }]` YAML, and an adjacency-matrix CSV.

use crate::error::{Location, Problem, Problems, yaml_error};
use crate::table::{number, read_records};
use crate::{LoadError, read_file};
use charter_model::Topology;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The short graph file: `components: [{ name, depends_on }]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphConfig {
    components: Vec<GraphComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphComponent {
    name: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<String>,
}

/// A charter file's topology, or the short form's; a `.csv` file is read by
/// [`load_graph_csv`]. A dependency the short form does not list as a component is
/// added as one without dependencies.
pub fn load_graph(path: &Path) -> Result<Topology, LoadError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return load_graph_csv(path);
    }
    let (file, text) = read_file(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let charter_issues = match charter_model::parse_charter(&text, &file, base) {
        Ok((charter, _warnings)) => return Ok(charter.topology),
        Err(charter_model::ConfigError::Invalid(issues)) => issues,
        Err(e) => return Err(e.into()),
    };
    let raw: GraphConfig = match serde_saphyr::from_str(&text) {
        Ok(raw) => raw,
        Err(e) => {
            // A document with keys besides `components` was meant as a charter.
            let keys: Result<BTreeMap<String, serde::de::IgnoredAny>, _> =
                serde_saphyr::from_str(&text);
            if keys.is_ok_and(|k| k.keys().all(|k| k == "components")) {
                return Err(yaml_error(&file, &e));
            }
            return Err(LoadError::NotAGraph {
                file,
                errors: charter_issues
                    .iter()
                    .filter(|i| !i.warning)
                    .map(ToString::to_string)
                    .collect(),
            });
        }
    };
    let mut problems = Problems::default();
    let mut declared: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in &raw.components {
        let at = (
            c.name.referenced.line() as usize,
            c.name.referenced.column() as usize,
        );
        if let Some((first_line, first_column)) = declared.insert(c.name.value.as_str(), at) {
            problems.push(Problem::DuplicateComponent {
                at: Location::new(&file, at.0, at.1),
                name: c.name.value.clone(),
                first_line,
                first_column,
            });
        }
    }
    problems.into_result()?;
    let mut edges: Vec<(String, Vec<String>)> = raw
        .components
        .iter()
        .map(|c| (c.name.value.clone(), c.depends_on.clone()))
        .collect();
    let leaves: BTreeSet<String> = raw
        .components
        .iter()
        .flat_map(|c| c.depends_on.iter())
        .filter(|d| !declared.contains_key(d.as_str()))
        .cloned()
        .collect();
    edges.extend(leaves.into_iter().map(|d| (d, Vec::new())));
    Ok(Topology::new(
        edges.iter().map(|(n, d)| (n.as_str(), d.as_slice())),
    ))
}

/// Header names of an edge list's two columns, caller first.
const EDGE_HEADERS: &[(&str, &str)] = &[
    ("caller", "callee"),
    ("source", "target"),
    ("from", "to"),
    ("parent", "child"),
];

/// A graph CSV: an edge list when its header starts with a pair of
/// [`EDGE_HEADERS`] (`caller,callee[,...]`, one edge a line, the caller depending
/// on the callee; further columns are ignored), else an adjacency matrix
/// ([`load_adjacency_matrix`]).
pub fn load_graph_csv(path: &Path) -> Result<Topology, LoadError> {
    let (file, records) = read_records(path)?;
    let Some((header, rows)) = records.split_first() else {
        return Err(LoadError::Empty { file });
    };
    let head: Vec<String> = header
        .fields
        .iter()
        .take(2)
        .map(|f| f.text.trim().to_lowercase())
        .collect();
    let is_edge_list = head.len() == 2
        && EDGE_HEADERS
            .iter()
            .any(|(a, b)| head[0] == *a && head[1] == *b);
    if !is_edge_list {
        return adjacency_matrix(file, header, rows);
    }
    let mut problems = Problems::default();
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        let cells: Vec<&str> = r.fields.iter().map(|f| f.text.trim()).collect();
        match cells.as_slice() {
            [from, to, ..] if !from.is_empty() && !to.is_empty() => {
                edges.entry(to.to_string()).or_default();
                let deps = edges.entry(from.to_string()).or_default();
                if !deps.iter().any(|d| d == to) {
                    deps.push(to.to_string());
                }
            }
            _ => problems.push(Problem::FieldCount {
                at: Location::new(&file, r.line, 1),
                found: cells.iter().filter(|c| !c.is_empty()).count(),
                expected: 2,
            }),
        }
    }
    problems.into_result()?;
    Ok(Topology::new(
        edges.iter().map(|(a, d)| (a.as_str(), d.as_slice())),
    ))
}

/// An adjacency matrix (a `networkx.from_pandas_adjacency` CSV): the first row and
/// the first column name the nodes, and a non-zero cell at row A, column B is an
/// edge A → B, read as "A depends on B" (A calls B: in PetShop's matrices the row
/// of each `*_client` node has its 1 in the column of the service it is the client
/// of, and the front end's row has its 1s in the columns of the services it calls).
/// Nodes only named in the header are added without dependencies; every bad cell
/// is reported at once.
pub fn load_adjacency_matrix(path: &Path) -> Result<Topology, LoadError> {
    let (file, records) = read_records(path)?;
    let Some((header, rows)) = records.split_first() else {
        return Err(LoadError::Empty { file });
    };
    adjacency_matrix(file, header, rows)
}

fn adjacency_matrix(
    file: String,
    header: &charter_model::csv::Record,
    rows: &[charter_model::csv::Record],
) -> Result<Topology, LoadError> {
    let names: Vec<String> = header
        .fields
        .iter()
        .skip(1)
        .map(|f| f.text.trim().to_string())
        .collect();
    let mut problems = Problems::default();
    let mut edges: Vec<(String, Vec<String>)> = Vec::new();
    for r in rows {
        if r.fields.len() != names.len() + 1 {
            problems.push(Problem::FieldCount {
                at: Location::new(&file, r.line, 1),
                found: r.fields.len(),
                expected: names.len() + 1,
            });
            continue;
        }
        let from = r.fields[0].text.trim().to_string();
        let mut to = Vec::new();
        for (name, f) in names.iter().zip(&r.fields[1..]) {
            match number(f, &file, r.line, name) {
                Ok(v) if v.is_finite() && v != 0.0 => to.push(name.clone()),
                Ok(_) => {}
                Err(p) => problems.push(p),
            }
        }
        edges.push((from, to));
    }
    problems.into_result()?;
    for n in &names {
        if !edges.iter().any(|(a, _)| a == n) {
            edges.push((n.clone(), Vec::new()));
        }
    }
    Ok(Topology::new(
        edges.iter().map(|(a, d)| (a.as_str(), d.as_slice())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn undeclared_dependencies_are_leaves_and_duplicates_are_errors() {
        let (_dir, path) = write(
            "g.yaml",
            "components:\n  - { name: web, depends_on: [api] }\n  - { name: api, depends_on: [db] }\n",
        );
        let g = load_graph(&path).expect("valid graph");
        assert!(g.depends_on("web", "api"));
        assert!(g.contains("db"));
        let (_dir, path) = write(
            "g.yaml",
            "components:\n  - { name: web }\n  - { name: web }\n",
        );
        let err = load_graph(&path).expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3:13: duplicate component `web` (first at 2:13)",
                path.display()
            )
        );
    }

    #[test]
    fn matrix_rows_depend_on_their_columns() {
        let (_dir, path) = write("g.csv", ",a,b,c\na,0,1,0\nb,0,0,1.0\n");
        let g = load_adjacency_matrix(&path).expect("valid matrix");
        assert!(g.depends_on("a", "b"));
        assert!(g.depends_on("b", "c"));
        assert!(!g.depends_on("b", "a"));
        assert!(g.contains("c"), "a node only in the header");
        let (_dir, path) = write("g.csv", ",a,b\na,0,x\nb,0\n");
        let err = load_adjacency_matrix(&path).expect_err("bad cells");
        let file = path.display();
        assert_eq!(
            err.to_string(),
            format!(
                "{file}:2:5: column `b`: not a number: \"x\"\n{file}:3:1: 2 fields, the header has 3"
            )
        );
    }

    #[test]
    fn a_graph_csv_is_an_edge_list_or_a_matrix() {
        let (_dir, path) = write(
            "g.csv",
            "caller,callee,spans\nfront,cart,10\nfront,cart,3\ncart,db,1\n",
        );
        let g = load_graph(&path).expect("edge list");
        assert!(g.depends_on("front", "cart"));
        assert!(g.depends_on("cart", "db"));
        assert!(!g.depends_on("cart", "front"));
        assert!(g.contains("db"));
        let (_dir, path) = write("g.csv", ",a,b\na,0,1\nb,0,0\n");
        let g = load_graph(&path).expect("matrix");
        assert!(g.depends_on("a", "b"));
        let (_dir, path) = write("g.csv", "source,target\na,b\nc\n");
        let err = load_graph(&path).expect_err("short line");
        assert_eq!(
            err.to_string(),
            format!("{}:3:1: 1 fields, the header has 2", path.display())
        );
    }
}
