//! Test fixtures for Charter's crates, so that a test says what is special about its
//! case and nothing else (STYLE.md, "Tests"). A dev-dependency only; never published.
//!
//! - [`builders`]: [`violation`], [`incident`], [`hypothesis`], [`diagnosis`] and
//!   [`policy`] start from sensible defaults and take chainable setters;
//!   [`topology`] builds a graph from `(component, dependencies)` pairs.
//! - [`charters`]: [`westworld`], the example charter (`examples/westworld.yaml`,
//!   text in [`WESTWORLD`]), and [`charter_from`] for a charter written in a test.
//! - [`rng`]: [`Rng`], the one seeded generator (SplitMix64) for test and benchmark
//!   data that must be the same on every run.
//! - [`strategies`]: `proptest` strategies for the vocabulary (action kinds,
//!   severities, violation states, causes, violations, component and guard states).
//! - [`fuzz`]: [`Fuzz`], the structure-aware fuzz driver of the crates' `tests/fuzz.rs`
//!   (seed corpus, mutations, a watchdog per case, run length from the environment).
//! - [`sim`]: [`EPOCH`], a simulator over a scenario and a charter's actuators all
//!   pointed at one actuator.
//!
//! The kit depends on `charter-model`, `charter-plan` and `charter-sim` (and so on
//! `charter-execute` and `charter-monitor`). Integration tests and benches of any
//! crate may use all of it. A unit test inside one of those crates is compiled as a
//! second copy of its crate, whose types are not the kit's: there, take from the kit
//! only values of the other crates' types (`charter-model`'s own unit tests keep
//! their fixtures).

pub mod builders;
pub mod charters;
pub mod fuzz;
pub mod rng;
pub mod sim;
pub mod strategies;

pub use builders::{
    IncidentBuilder, PolicyBuilder, ViolationBuilder, diagnosis, hypothesis, incident, policy,
    topology, violation,
};
pub use charters::{WESTWORLD, WESTWORLD_COMPONENTS, charter_from, westworld};
pub use fuzz::Fuzz;
pub use rng::Rng;
pub use sim::{EPOCH, actuators, simulator};
