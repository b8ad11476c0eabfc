//! The fault model of `charter-bench inject`: which series a fault of each class
//! moves, how big it is, and how it reaches the root's callers. Every number here
//! is the same for every dataset; only what a column measures (its [`Signal`] and
//! harmful direction) decides what a fault touches.

use crate::generalize::topology::Draw;
use charter_analyze::{Baseline, Worse};
use charter_frame::{Column, Frame};
use charter_model::{Signal, Topology};
use serde::Serialize;
use std::collections::BTreeSet;
use std::ops::Range;

/// A fault's size, in robust standard deviations of each moved series' normal rows,
/// drawn log-uniformly from this range: from the smallest change the ranking calls
/// abnormal by default (5 robust sd) to ten times that, so small and large faults
/// are equally likely per decade.
pub const SIZE_SPREADS: (f64, f64) = (5.0, 50.0);
/// The share of a fault each call edge passes on to the caller (uniform), and the
/// share of a CPU hog that shows in the hogged component's own latency.
pub const HOP_SHARE: (f64, f64) = (0.3, 1.0);
/// The chance that a caller does not show its callee's fault at all (it does not
/// call it on the hot path, retries hide it, ...); nothing passes on through it.
pub const UNAFFECTED_CHANCE: f64 = 0.25;
/// The chance that a fault grows linearly over the window instead of shifting the
/// level at once.
pub const RAMP_CHANCE: f64 = 0.5;
/// The spread given to a series that is constant in its normal rows, as a share of
/// its level (an availability of exactly 100 % moves by 0.1 point per unit).
pub const CONSTANT_SPREAD: f64 = 0.001;

/// What kind of fault: the signal it moves at the root and what callers show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The component is slow: its latency rises, and its callers' latency.
    Latency,
    /// The component fails requests: its errors rise and its availability or
    /// success ratio falls, and its callers'.
    Errors,
    /// A CPU hog: its CPU use rises and, by a drawn share, its own latency, which
    /// its callers then show.
    Cpu,
    /// A memory hog: its memory rises; callers show nothing.
    Memory,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Latency, Class::Errors, Class::Cpu, Class::Memory];

    /// The root's own series the fault moves in full.
    pub fn primary(self, s: Signal) -> bool {
        matches!(
            (self, s),
            (Class::Latency, Signal::Latency)
                | (Class::Errors, Signal::Errors | Signal::Availability)
                | (Class::Cpu, Signal::Utilization)
                | (Class::Memory, Signal::Memory)
        )
    }

    /// The series a caller of the root shows the fault in.
    pub fn symptom(self, s: Signal) -> bool {
        match self {
            Class::Latency | Class::Cpu => s == Signal::Latency,
            Class::Errors => matches!(s, Signal::Errors | Signal::Availability),
            Class::Memory => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Latency => "latency",
            Class::Errors => "errors",
            Class::Cpu => "cpu",
            Class::Memory => "memory",
        }
    }
}

/// How the fault develops over the judged window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The full size from the first point.
    Shift,
    /// Growing linearly to the full size at the last point.
    Ramp,
}

/// One component the fault reaches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reach {
    pub component: String,
    /// Call edges from the root (0 for the root).
    pub hops: usize,
    /// The share of the size its symptom series move by (for the root: the share
    /// its symptom series that are not primary move by).
    pub share: f64,
}

/// A drawn fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub root: String,
    pub class: Class,
    /// In robust sd of each moved series.
    pub size: f64,
    pub shape: Shape,
    /// The root first, then its affected callers in the order reached.
    pub reach: Vec<Reach>,
}

impl Fault {
    /// Draw a fault of `class` at `root` and its spread along `graph`'s edges to the
    /// callers (edges point from a caller to its dependency). Without a graph the
    /// fault stays at the root.
    pub fn draw(draw: &mut Draw, graph: Option<&Topology>, root: &str, class: Class) -> Fault {
        let (lo, hi) = SIZE_SPREADS;
        let size = lo * (hi / lo).powf(draw.unit());
        let shape = if draw.chance(RAMP_CHANCE) {
            Shape::Ramp
        } else {
            Shape::Shift
        };
        let own = if class == Class::Cpu {
            draw.float(HOP_SHARE.0, HOP_SHARE.1)
        } else {
            1.0
        };
        let mut reach = vec![Reach {
            component: root.to_string(),
            hops: 0,
            share: own,
        }];
        if let Some(graph) = graph
            && class != Class::Memory
        {
            // Breadth first, so a caller reached by two paths takes the shorter one.
            let mut seen: BTreeSet<String> = BTreeSet::from([root.to_string()]);
            let mut next = 0;
            while next < reach.len() {
                let (from, hops, share) = {
                    let r = &reach[next];
                    (r.component.clone(), r.hops, r.share)
                };
                next += 1;
                for caller in graph.callers(&from) {
                    if !seen.insert(caller.to_string()) || draw.chance(UNAFFECTED_CHANCE) {
                        continue;
                    }
                    reach.push(Reach {
                        component: caller.to_string(),
                        hops: hops + 1,
                        share: share * draw.float(HOP_SHARE.0, HOP_SHARE.1),
                    });
                }
            }
        }
        Fault {
            root: root.to_string(),
            class,
            size,
            shape,
            reach,
        }
    }

    /// The same fault with another size (0: the no-fault control).
    pub fn sized(&self, size: f64) -> Fault {
        Fault {
            size,
            ..self.clone()
        }
    }

    /// How much of the size a column moves by: 1 for the root's primary series, the
    /// reach's share for symptom series, 0 for everything else.
    pub fn share_of(&self, column: &Column) -> f64 {
        let Some(r) = self.reach.iter().find(|r| r.component == column.component) else {
            return 0.0;
        };
        if r.hops == 0 && self.class.primary(column.signal) {
            1.0
        } else if self.class.symptom(column.signal) {
            r.share
        } else {
            0.0
        }
    }

    /// Add the fault to `frame`'s `window` rows; each moved series' unit is the
    /// robust sd of its `baseline` rows. Values of a series that is never negative
    /// in its baseline stay non-negative; missing values stay missing.
    pub fn apply(&self, frame: &mut Frame, baseline: Range<usize>, window: Range<usize>) {
        let len = window.len().max(1) as f64;
        for column in &mut frame.columns {
            let amount = self.size * self.share_of(column);
            if amount == 0.0 {
                continue;
            }
            let normal = &column.values[baseline.clone()];
            let Some(unit) = spread(normal) else {
                continue;
            };
            let floor = normal
                .iter()
                .filter(|v| v.is_finite())
                .all(|v| *v >= 0.0)
                .then_some(0.0);
            let delta = direction(column) * amount * unit;
            for (k, v) in column.values[window.clone()].iter_mut().enumerate() {
                let grown = match self.shape {
                    Shape::Shift => 1.0,
                    Shape::Ramp => (k + 1) as f64 / len,
                };
                *v += delta * grown;
                if let Some(f) = floor {
                    *v = v.max(f);
                }
            }
        }
    }
}

/// The robust sd of a series' normal values ([`Baseline`]'s, the ranking's own), or
/// [`CONSTANT_SPREAD`] of its level when it is constant; `None` when it has no finite
/// value or is constantly zero (no unit to size a fault in).
pub fn spread(normal: &[f64]) -> Option<f64> {
    let b = Baseline::of(normal)?;
    let s = b
        .spread
        .map_or(CONSTANT_SPREAD * b.median.abs(), |(s, _)| s);
    (s > 0.0 && s.is_finite()).then_some(s)
}

/// Which way a fault moves a column: its harmful direction, or for a column that
/// may move either way, down for availability and up for everything else.
fn direction(column: &Column) -> f64 {
    match column.worse {
        Worse::Up => 1.0,
        Worse::Down => -1.0,
        Worse::Either if column.signal == Signal::Availability => -1.0,
        Worse::Either => 1.0,
    }
}
