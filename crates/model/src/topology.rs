//! The dependency graph of components.
//!
//! Edges point from a caller to what it depends on (`api -> db`): a failure of
//! `db` shows up as symptoms on `api` and everything that calls `api`.

use std::collections::{HashMap, HashSet, VecDeque};

/// Components and their `depends_on` edges, indexed for fast reachability queries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    names: Vec<String>,
    index: HashMap<String, usize>,
    deps: Vec<Vec<usize>>,
    callers: Vec<Vec<usize>>,
}

impl Topology {
    /// Build from `(component, depends_on)` pairs. Unknown dependency names are ignored
    /// (validation reports them before a topology is built).
    pub fn new<'a>(edges: impl IntoIterator<Item = (&'a str, &'a [String])> + Clone) -> Self {
        let mut t = Topology::default();
        for (name, _) in edges.clone() {
            if !t.index.contains_key(name) {
                t.index.insert(name.to_string(), t.names.len());
                t.names.push(name.to_string());
            }
        }
        t.deps = vec![Vec::new(); t.names.len()];
        t.callers = vec![Vec::new(); t.names.len()];
        for (name, deps) in edges {
            let a = t.index[name];
            for d in deps {
                if let Some(&b) = t.index.get(d.as_str())
                    && !t.deps[a].contains(&b)
                {
                    t.deps[a].push(b);
                    t.callers[b].push(a);
                }
            }
        }
        t
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when there are no components.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether a component is declared.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Where a component is in declaration order.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Component names in declaration order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Direct dependencies of a component.
    pub fn dependencies(&self, name: &str) -> impl Iterator<Item = &str> {
        self.index
            .get(name)
            .into_iter()
            .flat_map(|&i| self.deps[i].iter().map(|&j| self.names[j].as_str()))
    }

    /// Direct callers of a component.
    pub fn callers(&self, name: &str) -> impl Iterator<Item = &str> {
        self.index
            .get(name)
            .into_iter()
            .flat_map(|&i| self.callers[i].iter().map(|&j| self.names[j].as_str()))
    }

    /// True if `from` depends on `to`, directly or transitively. O(V + E).
    pub fn depends_on(&self, from: &str, to: &str) -> bool {
        let (Some(&a), Some(&b)) = (self.index.get(from), self.index.get(to)) else {
            return false;
        };
        if a == b {
            return false;
        }
        let mut seen = vec![false; self.names.len()];
        let mut queue = VecDeque::from([a]);
        while let Some(x) = queue.pop_front() {
            for &y in &self.deps[x] {
                if y == b {
                    return true;
                }
                if !seen[y] {
                    seen[y] = true;
                    queue.push_back(y);
                }
            }
        }
        false
    }

    /// Everything `name` depends on, directly or transitively (not `name` itself).
    /// O(V + E).
    pub fn all_dependencies(&self, name: &str) -> HashSet<&str> {
        self.reach(name, &self.deps)
    }

    /// `name`, everything it depends on and everything that depends on it,
    /// directly or transitively: the components a failure of `name` can be related
    /// to along the graph. O(V + E).
    pub fn related<'a>(&'a self, name: &'a str) -> HashSet<&'a str> {
        let mut out = self.reach(name, &self.deps);
        out.extend(self.reach(name, &self.callers));
        out.insert(name);
        out
    }

    /// What `name` reaches along `edges` (dependencies or callers), without itself
    /// unless a cycle leads back to it.
    fn reach(&self, name: &str, edges: &[Vec<usize>]) -> HashSet<&str> {
        let mut out = HashSet::new();
        let Some(&start) = self.index.get(name) else {
            return out;
        };
        let mut seen = vec![false; self.names.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(x) = queue.pop_front() {
            for &y in &edges[x] {
                if !seen[y] {
                    seen[y] = true;
                    out.insert(self.names[y].as_str());
                    queue.push_back(y);
                }
            }
        }
        out
    }

    /// Hop distance from `from` down to `to` along dependencies, if reachable.
    pub fn distance(&self, from: &str, to: &str) -> Option<usize> {
        let (&a, &b) = (self.index.get(from)?, self.index.get(to)?);
        let mut dist = vec![usize::MAX; self.names.len()];
        dist[a] = 0;
        let mut queue = VecDeque::from([a]);
        while let Some(x) = queue.pop_front() {
            if x == b {
                return Some(dist[x]);
            }
            for &y in &self.deps[x] {
                if dist[y] == usize::MAX {
                    dist[y] = dist[x] + 1;
                    queue.push_back(y);
                }
            }
        }
        None
    }

    /// One dependency cycle, as a path of names whose last element depends on the
    /// first, or `None` if the graph is acyclic. Iterative DFS, O(V + E).
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            White,
            Grey,
            Black,
        }
        let n = self.names.len();
        let mut mark = vec![Mark::White; n];
        let mut parent = vec![usize::MAX; n];
        for start in 0..n {
            if mark[start] != Mark::White {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            mark[start] = Mark::Grey;
            while let Some(&mut (x, ref mut next)) = stack.last_mut() {
                if *next < self.deps[x].len() {
                    let y = self.deps[x][*next];
                    *next += 1;
                    match mark[y] {
                        Mark::White => {
                            mark[y] = Mark::Grey;
                            parent[y] = x;
                            stack.push((y, 0));
                        }
                        Mark::Grey => {
                            let mut path = vec![x];
                            let mut c = x;
                            while c != y {
                                c = parent[c];
                                path.push(c);
                            }
                            path.reverse();
                            return Some(path.into_iter().map(|i| self.names[i].clone()).collect());
                        }
                        Mark::Black => {}
                    }
                } else {
                    mark[x] = Mark::Black;
                    stack.pop();
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(edges: &[(&str, &[&str])]) -> Topology {
        let owned: Vec<(String, Vec<String>)> = edges
            .iter()
            .map(|(a, ds)| (a.to_string(), ds.iter().map(|d| d.to_string()).collect()))
            .collect();
        Topology::new(owned.iter().map(|(a, d)| (a.as_str(), d.as_slice())))
    }

    #[test]
    fn transitive_dependencies_are_found() {
        let t = topo(&[("frontend", &["api"]), ("api", &["db"]), ("db", &[])]);
        assert!(t.depends_on("frontend", "db"));
        assert!(!t.depends_on("db", "frontend"));
        assert_eq!(t.distance("frontend", "db"), Some(2));
        assert_eq!(t.callers("db").collect::<Vec<_>>(), vec!["api"]);
        assert!(t.find_cycle().is_none());
    }

    #[test]
    fn cycles_are_reported_as_a_path() {
        let t = topo(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        let cycle = t.find_cycle().expect("cycle");
        assert_eq!(cycle.len(), 3);
        for n in ["a", "b", "c"] {
            assert!(cycle.contains(&n.to_string()));
        }
    }
}
