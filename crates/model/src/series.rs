//! Series — an objective on a component: [`SeriesKey`] names one, [`SeriesMap`] keeps
//! per-series state keyed by `(objective, component)`, read in the order the samples
//! come.
//!
//! A source returns the samples of every cycle in the same order, so the slot of the
//! k-th sample is remembered from the cycle before: [`SeriesMap::at`] checks it with
//! two string comparisons and falls back to two hash lookups only when the order
//! changed. 15,000 series a cycle then cost no hashing and no allocation.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// One series: an objective measured on a component. Its text form,
/// `objective@component`, is what incidents, policies and the API show; it is never
/// parsed back, since names may contain `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub objective: String,
    pub component: String,
}

impl SeriesKey {
    /// The series of `objective` on `component`.
    pub fn new(objective: impl Into<String>, component: impl Into<String>) -> Self {
        SeriesKey {
            objective: objective.into(),
            component: component.into(),
        }
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.objective, self.component)
    }
}

/// State of type `T` per `(objective, component)` series.
#[derive(Debug, Clone)]
pub struct SeriesMap<T> {
    slots: Vec<(String, String, T)>,
    /// objective → component → slot. Nested so that a lookup by `&str` allocates
    /// nothing.
    index: HashMap<String, HashMap<String, usize>>,
    /// The slot of the k-th series of the last batch.
    order: Vec<usize>,
}

impl<T> Default for SeriesMap<T> {
    fn default() -> Self {
        SeriesMap {
            slots: Vec::new(),
            index: HashMap::new(),
            order: Vec::new(),
        }
    }
}

impl<T: Default> SeriesMap<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of a series, if it has one.
    pub fn get(&self, objective: &str, component: &str) -> Option<&T> {
        let &i = self.index.get(objective)?.get(component)?;
        Some(&self.slots[i].2)
    }

    /// The state of a series, mutable, if it has one.
    pub fn get_mut(&mut self, objective: &str, component: &str) -> Option<&mut T> {
        let &i = self.index.get(objective)?.get(component)?;
        Some(&mut self.slots[i].2)
    }

    /// The state of the `position`-th series of a batch given in the same order
    /// every time (created on first sight): O(1) without hashing while the order
    /// holds.
    pub fn at(&mut self, position: usize, objective: &str, component: &str) -> &mut T {
        let i = self.slot_at(position, objective, component);
        &mut self.slots[i].2
    }

    /// [`SeriesMap::at`], as the series' slot (see [`SeriesMap::slot_mut`]).
    pub fn slot_at(&mut self, position: usize, objective: &str, component: &str) -> usize {
        if let Some(&i) = self.order.get(position) {
            let (o, c, _) = &self.slots[i];
            if o == objective && c == component {
                return i;
            }
        }
        let i = self.slot(objective, component);
        if position < self.order.len() {
            self.order[position] = i;
        } else if position == self.order.len() {
            self.order.push(i);
        }
        i
    }

    /// The series in slot `i` (slots are numbered in the order first seen and
    /// never move).
    pub fn slot_ref(&self, i: usize) -> Option<(&str, &str, &T)> {
        self.slots
            .get(i)
            .map(|(o, c, t)| (o.as_str(), c.as_str(), t))
    }

    /// The state in slot `i`, mutable.
    pub fn slot_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i).map(|(_, _, t)| t)
    }

    /// The slot of a series, created with `T::default()` on first sight.
    pub fn slot(&mut self, objective: &str, component: &str) -> usize {
        if let Some(&i) = self.index.get(objective).and_then(|m| m.get(component)) {
            return i;
        }
        let i = self.slots.len();
        self.slots
            .push((objective.to_string(), component.to_string(), T::default()));
        self.index
            .entry(objective.to_string())
            .or_default()
            .insert(component.to_string(), i);
        i
    }

    /// Every series and its state, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &T)> {
        self.slots
            .iter()
            .map(|(o, c, t)| (o.as_str(), c.as_str(), t))
    }

    /// Every series' state, mutable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().map(|(_, _, t)| t)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_batch_order_and_survive_a_reorder() {
        let mut m: SeriesMap<u32> = SeriesMap::new();
        let batch = [("lat", "api"), ("lat", "db"), ("err", "api")];
        for round in 1..=3u32 {
            for (k, (o, c)) in batch.iter().enumerate() {
                *m.at(k, o, c) += round;
            }
        }
        assert_eq!(m.get("lat", "db"), Some(&6));
        // Another order, and a new series: the same state is found.
        for (k, (o, c)) in [("err", "api"), ("lat", "api"), ("new", "x")]
            .iter()
            .enumerate()
        {
            *m.at(k, o, c) += 10;
        }
        assert_eq!(m.get("err", "api"), Some(&16));
        assert_eq!(m.get("lat", "api"), Some(&16));
        assert_eq!(m.get("new", "x"), Some(&10));
        assert_eq!(m.get("lat", "db"), Some(&6));
        assert_eq!(m.len(), 4);
        assert_eq!(m.get("none", "x"), None);
        let i = m.slot("lat", "db");
        assert_eq!(m.slot_at(1, "lat", "api"), m.slot("lat", "api"));
        assert_eq!(m.slot_ref(i), Some(("lat", "db", &6)));
        *m.slot_mut(i).expect("slot") += 1;
        assert_eq!(m.get("lat", "db"), Some(&7));
        *m.get_mut("lat", "db").expect("seen") += 1;
        assert_eq!(m.get("lat", "db"), Some(&8));
        assert_eq!(m.get_mut("none", "x"), None);
        assert_eq!(m.slot_ref(99), None);
        // A series first seen through `slot` starts from the default.
        let j = m.slot("fresh", "x");
        assert_eq!(m.slot_ref(j), Some(("fresh", "x", &0)));
    }
}
