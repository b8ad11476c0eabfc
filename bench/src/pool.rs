//! A pool of worker threads for independent simulated runs.

use anyhow::Result;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Run `task` on every item of `work` with `jobs` threads, each with its own
/// current-thread Tokio runtime, each taking the next item. `done(n, &result)` is
/// called after each success (`n`: how many have finished). The first error stops
/// new items from starting and is returned. Results come in completion order.
pub fn run_pool<W, R, F, Fut>(
    work: &[W],
    jobs: usize,
    task: F,
    done: impl Fn(usize, &R) + Sync,
) -> Result<Vec<R>>
where
    W: Sync,
    R: Send,
    F: Fn(&W) -> Fut + Sync,
    Fut: Future<Output = Result<R>>,
{
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<R>> = Mutex::new(Vec::with_capacity(work.len()));
    let errors: Mutex<Vec<anyhow::Error>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, work.len().max(1)) {
            scope.spawn(|| {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        lock(&errors).push(anyhow::Error::new(e).context("starting a runtime"));
                        return;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    let Some(item) = work.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    match rt.block_on(task(item)) {
                        Ok(r) => {
                            let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                            done(n, &r);
                            lock(&results).push(r);
                        }
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            lock(&errors).push(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = lock(&errors).drain(..).next() {
        return Err(e);
    }
    Ok(std::mem::take(&mut *lock(&results)))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking run has already failed the evaluation; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_and_the_first_error_stops_the_rest() {
        let work: Vec<u32> = (0..50).collect();
        let seen = AtomicUsize::new(0);
        let mut out = run_pool(
            &work,
            3,
            |&x| async move { Ok(x * 2) },
            |_, _| {
                seen.fetch_add(1, Ordering::Relaxed);
            },
        )
        .expect("no error");
        out.sort_unstable();
        assert_eq!(out, (0..50).map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(seen.load(Ordering::Relaxed), 50);

        let ran = AtomicUsize::new(0);
        let err = run_pool(
            &work,
            1,
            |&x| {
                ran.fetch_add(1, Ordering::Relaxed);
                async move {
                    if x == 3 {
                        anyhow::bail!("item {x} failed")
                    }
                    Ok(x)
                }
            },
            |_, _| {},
        )
        .expect_err("item 3 fails");
        assert_eq!(err.to_string(), "item 3 failed");
        // One worker: nothing after the failing item starts.
        assert_eq!(ran.load(Ordering::Relaxed), 4);
        assert!(
            run_pool(&[] as &[u32], 4, |&x| async move { Ok(x) }, |_, _| {})
                .expect("empty")
                .is_empty()
        );
    }
}
