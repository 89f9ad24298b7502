//! Each HTTP worker thread's own shelf of recent answers to "which cached object does this
//! path name": the hot path's way around the shared catalog and memory caches.
//!
//! A request that went the whole way (catalog, memory cache) leaves its object on its thread's
//! shelf under the raw request path it came with (for `/play`, the part after the token: the
//! token is never part of the key, it is checked on every request). The next request for the
//! same path on that thread finds the object with one hash lookup in memory no other thread
//! touches, instead of two shared moka lookups (hashing, epoch pinning, the read-recording
//! channel, clock reads). Only paths the full route accepted are ever on a shelf, so a hit
//! skips nothing that could refuse the request but the token check, which the caller still runs.
//!
//! An answer is used until its catalog answer is due for a refresh (so a changed video shows
//! as soon as it would without the shelf), and [`HotShelves::forget_all`] (after a video
//! changes or is deleted) empties every shelf: a generation counter every lookup compares.
//! Each shelf holds at most a byte budget of bodies and is emptied when it would go over, so
//! shelves never keep more than that alive beyond what the memory cache holds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use thread_local::ThreadLocal;

use crate::object::CachedObject;

/// Longest key kept: longer paths always go the whole way.
const MAX_KEY_LEN: usize = 256;

/// One shelf per thread, and the generation that empties them all.
#[derive(Debug)]
pub struct HotShelves {
    generation: AtomicU64,
    shelves: ThreadLocal<RefCell<Shelf>>,
    /// Bytes of bodies one shelf may keep alive.
    budget: usize,
}

#[derive(Debug, Default)]
struct Shelf {
    /// The generation the answers were made in.
    generation: u64,
    answers: HashMap<Box<str>, Answer>,
    /// Bytes of the bodies on this shelf.
    bytes: usize,
}

#[derive(Debug)]
struct Answer {
    /// This thread's own copy (see [`CachedObject::private_copy`]).
    object: CachedObject,
    /// When the catalog answer behind it is due for a refresh.
    until: Instant,
}

impl HotShelves {
    /// Shelves that keep at most `budget` bytes of bodies each.
    pub fn new(budget: usize) -> Self {
        Self {
            generation: AtomicU64::new(0),
            shelves: ThreadLocal::new(),
            budget,
        }
    }

    /// The current generation: read it before the lookups whose result [`HotShelves::put`]
    /// is given, so an answer made across a [`HotShelves::forget_all`] is not kept.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// `answer` applied to this thread's object for `key`, if it has a current one.
    pub fn answer<R>(
        &self,
        key: &str,
        now: Instant,
        answer: impl FnOnce(&CachedObject) -> Option<R>,
    ) -> Option<R> {
        let shelf = self.shelves.get()?;
        let shelf = shelf.borrow();
        if shelf.generation != self.generation() {
            return None;
        }
        let found = shelf.answers.get(key).filter(|found| now < found.until)?;
        answer(&found.object)
    }

    /// Whether this thread has a current answer for `key`.
    #[cfg(test)]
    fn has(&self, key: &str, now: Instant) -> bool {
        self.answer(key, now, |_| Some(())).is_some()
    }

    /// Keeps `object` as this thread's answer for `key` until `until`, if nothing was
    /// forgotten since `generation` was read.
    pub fn put(&self, key: &str, object: &CachedObject, until: Instant, generation: u64) {
        if key.len() > MAX_KEY_LEN || generation != self.generation() {
            return;
        }
        let weight = object.body.len();
        if weight > self.budget / 4 {
            return;
        }
        let mut shelf = self.shelves.get_or_default().borrow_mut();
        if shelf.generation != generation || shelf.bytes + weight > self.budget {
            shelf.answers.clear();
            shelf.bytes = 0;
            shelf.generation = generation;
        }
        let answer = Answer {
            object: object.private_copy(),
            until,
        };
        if let Some(old) = shelf.answers.insert(key.into(), answer) {
            shelf.bytes -= old.object.body.len();
        }
        shelf.bytes += weight;
    }

    /// Empties every thread's shelf (lazily: each notices at its next lookup).
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::CacheStatus;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    fn object(len: usize) -> CachedObject {
        CachedObject::new(
            "media/v/r/master.m3u8",
            Bytes::from(vec![b'#'; len]),
            "\"t\"".to_string(),
            SystemTime::UNIX_EPOCH,
            CacheStatus::Miss,
        )
    }

    #[test]
    fn an_answer_lives_until_its_time_and_its_generation() {
        let shelves = HotShelves::new(1 << 20);
        let now = Instant::now();
        let until = now + Duration::from_secs(2);
        let generation = shelves.generation();
        shelves.put("v/master.m3u8", &object(10), until, generation);
        assert!(shelves.has("v/master.m3u8", now));
        assert!(!shelves.has("v/other.m3u8", now));
        assert!(!shelves.has("v/master.m3u8", until), "expired");
        shelves.forget_all();
        assert!(!shelves.has("v/master.m3u8", now), "forgotten");
        // An answer looked up before a forget is not kept after it.
        shelves.put("v/master.m3u8", &object(10), until, generation);
        assert!(!shelves.has("v/master.m3u8", now));
    }

    #[test]
    fn shelves_are_per_thread_and_within_budget() {
        let shelves = Arc::new(HotShelves::new(100));
        let until = Instant::now() + Duration::from_secs(60);
        shelves.put("a", &object(20), until, shelves.generation());
        let other = shelves.clone();
        let seen = std::thread::spawn(move || other.has("a", Instant::now()))
            .join()
            .unwrap();
        assert!(!seen, "another thread's shelf");
        shelves.put("too-big", &object(26), until, shelves.generation());
        assert!(!shelves.has("too-big", Instant::now()));
        for key in ["b", "c", "d", "e"] {
            shelves.put(key, &object(20), until, shelves.generation());
        }
        // 5 × 20 bytes fit; the sixth empties the shelf first.
        assert!(shelves.has("a", Instant::now()));
        shelves.put("f", &object(20), until, shelves.generation());
        assert!(!shelves.has("a", Instant::now()));
        assert!(shelves.has("f", Instant::now()));
    }
}
