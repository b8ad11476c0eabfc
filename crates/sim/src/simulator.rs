//! The world behind the loop's two boundaries: a [`MetricSource`] and an [`Actuator`].

use crate::world::World;
use async_trait::async_trait;
use charter_execute::{Actuator, ActuatorError, Applied, ComponentState};
use charter_model::{Action, Charter, ObjectiveSource, Sample, Timestamp};
use charter_monitor::{MetricSource, Observation, SourceError};
use std::sync::{Arc, Mutex, MutexGuard};

/// A shared handle on a [`World`] whose virtual zero is `epoch`.
///
/// A std `Mutex` is enough: every access is short and synchronous (no `.await`
/// while it is held), so an async mutex would only add overhead.
#[derive(Debug, Clone)]
pub struct Simulator {
    world: Arc<Mutex<World>>,
    epoch: Timestamp,
}

impl Simulator {
    /// Share `world`, stamping its changes from `epoch`.
    pub fn new(mut world: World, epoch: Timestamp) -> Self {
        world.set_epoch(epoch);
        Simulator {
            world: Arc::new(Mutex::new(world)),
            epoch,
        }
    }

    /// The time of virtual zero.
    pub fn epoch(&self) -> Timestamp {
        self.epoch
    }

    /// Run `f` with the world locked.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panic while stepping leaves the world consistent enough to keep reading.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl MetricSource for Simulator {
    async fn observe(&self, charter: &Charter, now: Timestamp) -> Result<Observation, SourceError> {
        let mut world = self.lock();
        world.advance_to(now.since(self.epoch));
        let mut obs = Observation {
            at: Some(now),
            ..Observation::default()
        };
        for o in &charter.objectives {
            let name = match &o.source {
                ObjectiveSource::Metric { name, .. } => Some(name.as_str()),
                ObjectiveSource::Expr(_) | ObjectiveSource::Absent(_) => {
                    obs.problems.push(format!(
                        "objective `{}`: the simulator cannot evaluate PromQL expressions",
                        o.name
                    ));
                    None
                }
            };
            let mut unknown = false;
            for c in &o.components {
                let value = name.and_then(|n| world.metric(n, c));
                if value.is_none() && world.unobserved(c) {
                    if !obs.problems.contains(&gap_problem(c)) {
                        obs.problems.push(gap_problem(c));
                    }
                    obs.samples.push(Sample {
                        objective: o.name.clone(),
                        component: c.clone(),
                        at: now,
                        value: None,
                    });
                    continue;
                }
                unknown |= name.is_some() && value.is_none();
                obs.samples.push(Sample {
                    objective: o.name.clone(),
                    component: c.clone(),
                    at: now,
                    value,
                });
            }
            if unknown && let Some(n) = name {
                obs.problems.push(format!(
                    "objective `{}`: the simulator has no metric `{n}` for some of its components",
                    o.name
                ));
            }
        }
        obs.changes = world.drain_changes();
        Ok(obs)
    }
}

/// The problem reported while a metric gap hides a component.
fn gap_problem(component: &str) -> String {
    format!("component `{component}`: its metrics are missing (a metric gap of the scenario)")
}

#[async_trait]
impl Actuator for Simulator {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        self.lock().apply(key, action)
    }

    async fn describe(&self, component: &str) -> Result<ComponentState, ActuatorError> {
        self.lock().describe(component)
    }

    /// The world remembers every key it was given, so the answer is always known.
    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        Ok(self.lock().recorded(key))
    }
}
