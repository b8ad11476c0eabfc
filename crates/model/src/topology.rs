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
    /// Longest dependency path below each component (0: depends on nothing);
    /// components on or above a cycle come after every other.
    height: Vec<usize>,
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
        t.height = t.heights();
        t
    }

    /// Heights by peeling leaves (Kahn's order on the dependency edges): O(V + E).
    fn heights(&self) -> Vec<usize> {
        let n = self.names.len();
        let mut left: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut height = vec![0; n];
        let mut done = vec![false; n];
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| left[i] == 0).collect();
        while let Some(x) = queue.pop_front() {
            done[x] = true;
            for &c in &self.callers[x] {
                height[c] = height[c].max(height[x] + 1);
                left[c] -= 1;
                if left[c] == 0 {
                    queue.push_back(c);
                }
            }
        }
        let top = height.iter().copied().max().unwrap_or(0) + 1;
        for (h, d) in height.iter_mut().zip(done) {
            if !d {
                *h = top;
            }
        }
        height
    }

    /// The longest chain of dependencies below a component (0 for one that depends
    /// on nothing, `None` when undeclared). In an acyclic graph a dependency is
    /// always lower than its callers: sorting by height puts dependencies first.
    pub fn height(&self, name: &str) -> Option<usize> {
        self.index.get(name).map(|&i| self.height[i])
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
        // Visited sets are sized by what is reached, not by the graph: a query near
        // a leaf costs little in a system of thousands of components.
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([a]);
        while let Some(x) = queue.pop_front() {
            for &y in &self.deps[x] {
                if y == b {
                    return true;
                }
                if seen.insert(y) {
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
        let Some(&start) = self.index.get(name) else {
            return HashSet::new();
        };
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([start]);
        while let Some(x) = queue.pop_front() {
            for &y in &edges[x] {
                if seen.insert(y) {
                    queue.push_back(y);
                }
            }
        }
        seen.into_iter().map(|y| self.names[y].as_str()).collect()
    }

    /// Hop distance from `from` down to `to` along dependencies, if reachable.
    pub fn distance(&self, from: &str, to: &str) -> Option<usize> {
        let (&a, &b) = (self.index.get(from)?, self.index.get(to)?);
        let mut seen = HashSet::from([a]);
        let mut queue = VecDeque::from([(a, 0)]);
        while let Some((x, d)) = queue.pop_front() {
            if x == b {
                return Some(d);
            }
            for &y in &self.deps[x] {
                if seen.insert(y) {
                    queue.push_back((y, d + 1));
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
        assert_eq!(t.distance("frontend", "frontend"), Some(0));
        assert_eq!(t.distance("db", "api"), None);
        let reached = t.all_dependencies("frontend");
        assert_eq!(reached.len(), 2);
        assert!(reached.contains("api") && reached.contains("db"));
    }

    #[test]
    fn heights_put_dependencies_below_their_callers() {
        // A diamond with a long side: edge -> {api, cache}, api -> db, cache -> api.
        let t = topo(&[
            ("edge", &["api", "cache"]),
            ("cache", &["api"]),
            ("api", &["db"]),
            ("db", &[]),
            ("batch", &[]),
        ]);
        let h = |n| t.height(n).expect("declared");
        assert_eq!((h("db"), h("batch")), (0, 0));
        assert_eq!(h("api"), 1);
        assert_eq!(h("cache"), 2);
        // The longest path decides: edge sits above cache, not only above api.
        assert_eq!(h("edge"), 3);
        assert_eq!(t.height("nope"), None);
        // On or above a cycle: after every acyclic component.
        let c = topo(&[("a", &["b"]), ("b", &["a"]), ("top", &["a"]), ("leaf", &[])]);
        let top = c.height("leaf").expect("leaf") + 1;
        for n in ["a", "b", "top"] {
            assert!(c.height(n).expect("declared") >= top, "{n}");
        }
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
