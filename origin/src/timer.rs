//! The timer hyper uses for the HTTP/1 header-read timeout: coarse, and cheap to arm.
//!
//! hyper arms a fresh timer each time a connection waits for a request's headers and drops it
//! when they arrive: once per request. With tokio's timer that is an allocation, an insert into
//! the timer wheel and a removal, on wheel slots shared by every connection of the worker
//! (measured: ~5 % of requests/s on the master playlist at 1000 connections). Here a waiting
//! timer is one entry in its worker's list of waiters (a slab: arming fills a free slot,
//! disarming frees it), and one ticker task per worker wakes the waiters whose deadline has
//! passed every [`TICK`]. A timeout fires up to one tick late, which a 10-second header
//! timeout does not notice. The ticker sleeps while no timer is armed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How often armed timers are checked.
pub const TICK: Duration = Duration::from_millis(200);

/// A [`hyper::rt::Timer`] whose sleeps wait in one shared list, checked every [`TICK`].
#[derive(Debug, Clone)]
pub struct CoarseTimer {
    waiters: Arc<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    slots: Mutex<Slots>,
    /// Wakes the ticker when the first timer is armed, and when the list is dropped (so the
    /// ticker ends).
    armed: Arc<Notify>,
}

impl Drop for Waiters {
    fn drop(&mut self) {
        self.armed.notify_one();
    }
}

#[derive(Debug, Default)]
struct Slots {
    /// Armed timers: deadline and the task to wake.
    entries: Vec<Option<(Instant, Waker)>>,
    /// Indices of empty entries.
    free: Vec<usize>,
}

impl Slots {
    fn armed(&self) -> usize {
        self.entries.len() - self.free.len()
    }
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding the lock cannot leave the slab inconsistent (every change is
        // one assignment), so a poisoned lock is used as it is.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CoarseTimer {
    /// A timer whose ticker is started on the current tokio runtime (it ends when the timer
    /// and every sleep made from it are dropped).
    pub fn start() -> Self {
        let waiters = Arc::new(Waiters::default());
        tokio::spawn(tick(Arc::downgrade(&waiters), waiters.armed.clone()));
        Self { waiters }
    }

    /// Timers armed now (for tests).
    pub fn armed(&self) -> usize {
        self.waiters.lock().armed()
    }
}

/// Wakes every waiter whose deadline has passed, every [`TICK`], while any is armed.
async fn tick(waiters: Weak<Waiters>, armed: Arc<Notify>) {
    loop {
        let Some(strong) = waiters.upgrade() else {
            return;
        };
        let idle = strong.lock().armed() == 0;
        drop(strong);
        if idle {
            // A timer armed (or the list dropped) since the count has stored a permit that
            // this wait consumes at once.
            armed.notified().await;
            continue;
        }
        tokio::time::sleep(TICK).await;
        let Some(strong) = waiters.upgrade() else {
            return;
        };
        let now = Instant::now();
        for (deadline, waker) in strong.lock().entries.iter().flatten() {
            if *deadline <= now {
                waker.wake_by_ref();
            }
        }
    }
}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoarseSleep {
            deadline,
            waiters: self.waiters.clone(),
            slot: None,
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoarseSleep>() {
            Some(mut coarse) => coarse.deadline = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// One armed timer: in its timer's list from its first poll until it is done or dropped.
#[derive(Debug)]
struct CoarseSleep {
    deadline: Instant,
    waiters: Arc<Waiters>,
    /// Its entry in the list, once polled.
    slot: Option<usize>,
}

impl CoarseSleep {
    fn disarm(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut slots = self.waiters.lock();
            slots.entries[slot] = None;
            slots.free.push(slot);
        }
    }
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.disarm();
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let mut slots = self.waiters.lock();
        match self.slot {
            Some(slot) => match &mut slots.entries[slot] {
                Some((armed, waker)) => {
                    *armed = deadline;
                    if !waker.will_wake(cx.waker()) {
                        waker.clone_from(cx.waker());
                    }
                }
                empty => *empty = Some((deadline, cx.waker().clone())),
            },
            None => {
                let first = slots.armed() == 0;
                let entry = Some((deadline, cx.waker().clone()));
                let slot = match slots.free.pop() {
                    Some(slot) => {
                        slots.entries[slot] = entry;
                        slot
                    }
                    None => {
                        slots.entries.push(entry);
                        slots.entries.len() - 1
                    }
                };
                drop(slots);
                self.slot = Some(slot);
                if first {
                    self.waiters.armed.notify_one();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl hyper::rt::Sleep for CoarseSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    #[tokio::test]
    async fn a_sleep_ends_at_its_deadline_and_soon_after() {
        let timer = CoarseTimer::start();
        let start = Instant::now();
        timer.sleep(Duration::from_millis(300)).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        // One tick late at most on an idle machine; the bound leaves room for a loaded one.
        assert!(took < Duration::from_millis(300) + TICK * 10, "{took:?}");
        assert_eq!(timer.armed(), 0, "done timers leave the list");
    }

    /// Polls `sleep` once (which arms it) and checks it is still pending.
    async fn arm(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) {
        let pending = tokio::time::timeout(Duration::from_millis(10), sleep.as_mut()).await;
        assert!(pending.is_err(), "not due yet");
    }

    #[tokio::test]
    async fn a_reset_moves_the_deadline_and_a_dropped_sleep_disarms() {
        let timer = CoarseTimer::start();
        let start = Instant::now();
        let mut sleep = timer.sleep(Duration::from_millis(100));
        // Armed by a first poll, then moved later.
        arm(&mut sleep).await;
        assert_eq!(timer.armed(), 1);
        timer.reset(&mut sleep, start + Duration::from_millis(500));
        sleep.await;
        assert!(start.elapsed() >= Duration::from_millis(500));
        let mut dropped = timer.sleep(Duration::from_secs(60));
        arm(&mut dropped).await;
        assert_eq!(timer.armed(), 1);
        drop(dropped);
        assert_eq!(timer.armed(), 0);
        // The ticker sleeps until the next timer is armed, and still wakes it.
        tokio::time::sleep(TICK * 2).await;
        let again = Instant::now();
        timer.sleep(Duration::from_millis(50)).await;
        assert!(again.elapsed() < Duration::from_millis(50) + TICK * 10);
    }
}
