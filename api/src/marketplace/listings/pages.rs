//! The pages of listings the service has answered, kept as their JSON
//! bodies until the next listing is created.
//!
//! The service is the only writer of its table, so it knows when a page
//! goes stale: every insert bumps a generation, and a page kept under an
//! older one is a miss. A page read while an insert commits is kept under
//! the generation read before the query, so it is never served after the
//! insert's answer. That holds only where this process is the table's only
//! writer: on PostgreSQL, behind several replicas, the cache is off (see
//! `startup`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;

use crate::marketplace::users::UserId;
use crate::web::paging::PageRequest;

/// What a page is asked for by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub page: PageRequest,
    pub user_id: Option<UserId>,
}

/// See the module documentation. Holds at most `capacity` pages and
/// starts over when full; a capacity of zero keeps nothing.
#[derive(Debug)]
pub struct PageCache {
    capacity: usize,
    /// Bumped after every insert.
    generation: AtomicU64,
    /// Each page with the generation it was read under.
    pages: Mutex<HashMap<PageKey, (u64, Bytes)>>,
}

impl PageCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            generation: AtomicU64::new(0),
            pages: Mutex::new(HashMap::new()),
        }
    }

    /// To read before querying a page that [`PageCache::get`] missed, and
    /// to hand to [`PageCache::put`] with it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The page's body, if it was kept since the last insert.
    pub fn get(&self, key: &PageKey) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let current = self.generation();
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .get(key)
            .filter(|(generation, _)| *generation == current)
            .map(|(_, body)| body.clone())
    }

    /// Keeps a page queried after reading `generation`; a page an insert
    /// may have overtaken is not kept.
    pub fn put(&self, key: PageKey, generation: u64, body: Bytes) {
        if self.capacity == 0 || generation != self.generation() {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pages.len() >= self.capacity && !pages.contains_key(&key) {
            pages.clear();
        }
        pages.insert(key, (generation, body));
    }

    /// Every page kept so far is stale: a listing was created (or may have
    /// been, when an insert failed after its commit). The listing inserts'
    /// task calls it after each write, before answering its callers, so a
    /// caller that goes away mid-insert cannot leave a stale page.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.pages.lock().expect("not poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(num: &str) -> PageKey {
        PageKey {
            page: PageRequest::parse(Some(num), None).expect("a page"),
            user_id: None,
        }
    }

    #[test]
    fn a_kept_page_is_served_until_the_next_insert() {
        let cache = PageCache::new(10);
        let generation = cache.generation();
        cache.put(key("1"), generation, Bytes::from_static(b"page one"));
        assert_eq!(cache.get(&key("1")).as_deref(), Some(&b"page one"[..]));
        assert_eq!(cache.get(&key("2")), None);

        cache.invalidate();
        assert_eq!(cache.get(&key("1")), None);
    }

    #[test]
    fn a_page_read_before_an_insert_is_not_kept() {
        let cache = PageCache::new(10);
        let generation = cache.generation();
        cache.invalidate(); // an insert committed while the page was read
        cache.put(key("1"), generation, Bytes::from_static(b"without it"));
        assert_eq!(cache.get(&key("1")), None);
    }

    #[test]
    fn pages_asked_with_another_user_or_size_are_other_pages() {
        let cache = PageCache::new(10);
        let mine = PageKey {
            user_id: Some(UserId::parse("7").expect("an id")),
            ..key("1")
        };
        let larger = PageKey {
            page: PageRequest::parse(Some("1"), Some("20")).expect("a page"),
            user_id: None,
        };
        cache.put(key("1"), 0, Bytes::from_static(b"everyone's"));
        assert_eq!(cache.get(&mine), None);
        assert_eq!(cache.get(&larger), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = PageCache::new(3);
        for num in ["1", "2", "3"] {
            cache.put(key(num), 0, Bytes::from_static(b"page"));
        }
        assert_eq!(cache.len(), 3);
        cache.put(key("3"), 0, Bytes::from_static(b"again")); // already kept: no room needed
        assert_eq!(cache.len(), 3);
        cache.put(key("4"), 0, Bytes::from_static(b"page four"));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&key("4")).as_deref(), Some(&b"page four"[..]));
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let cache = PageCache::new(0);
        cache.put(key("1"), 0, Bytes::from_static(b"page"));
        assert_eq!(cache.get(&key("1")), None);
    }
}
