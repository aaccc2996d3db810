//! Cases for the [`SegmentStore`] contract itself, below the engine: create, append, read, cut,
//! delete, quarantine, seal.

use std::sync::Arc;

use wal_api::{Error, SegmentId, SegmentStore, SegmentStoreExt};

use super::header;
use crate::{Outcome, StoreFactory};

/// A created segment is listed with its header length.
pub async fn store_create_then_list<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let h = header(1, 1);
    let _w = s.create(SegmentId(1), &h).await.expect("create");
    let list = s.list().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, SegmentId(1));
    assert_eq!(list[0].len, h.len() as u64);
    Outcome::Passed
}

/// Creating an existing segment fails with `AlreadyExists`.
pub async fn store_create_existing_fails<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let _w = s.create(SegmentId(3), &header(3, 1)).await.expect("create");
    let again = s.create(SegmentId(3), &header(3, 1)).await;
    assert!(
        matches!(again, Err(Error::AlreadyExists { segment }) if segment == SegmentId(3)),
        "got {again:?}"
    );
    Outcome::Passed
}

/// Appended bytes are readable when `append` returns, and its result is the new length.
pub async fn store_append_is_readable<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    let len = w.append(b"abc").await.expect("append");
    assert_eq!(len, h.len() as u64 + 3);
    let len = w.append(b"defg").await.expect("append");
    assert_eq!(len, h.len() as u64 + 7);
    let all = s.read_all(SegmentId(1)).await.expect("read");
    assert_eq!(&all[..h.len()], &h[..]);
    assert_eq!(&all[h.len()..], b"abcdefg");
    Outcome::Passed
}

/// Reads are clipped to the segment's length; past the end they are empty.
pub async fn store_read_clips_to_length<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    w.append(b"xyz").await.expect("append");
    let n = h.len() as u64;
    let part = s.read(SegmentId(1), n + 1..n + 100).await.expect("read");
    assert_eq!(&part[..], b"yz");
    let none = s.read(SegmentId(1), 1000..2000).await.expect("read");
    assert!(none.is_empty());
    Outcome::Passed
}

/// `open_tail` cuts the segment and appends after the cut.
pub async fn store_open_tail_cuts<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    w.append(&[7u8; 100]).await.expect("append");
    w.sync().await.expect("sync");
    drop(w);
    let n = h.len() as u64;
    let w = s.open_tail(SegmentId(1), n + 10).await.expect("open_tail");
    assert_eq!(w.append(b"z").await.expect("append"), n + 11);
    w.sync().await.expect("sync");
    drop(w);
    drop(s);
    let s = f.reopen(&g).await;
    let all = s.read_all(SegmentId(1)).await.expect("read");
    assert_eq!(all.len() as u64, n + 11);
    assert_eq!(all[n as usize + 10], b'z');
    Outcome::Passed
}

/// A deleted segment is gone, also after reopening.
pub async fn store_delete_is_gone<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    drop(s.create(SegmentId(1), &header(1, 1)).await.expect("create"));
    drop(s.create(SegmentId(2), &header(2, 1)).await.expect("create"));
    s.delete(SegmentId(1)).await.expect("delete");
    let ids: Vec<_> = s.list().await.expect("list").iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![SegmentId(2)]);
    drop(s);
    let s = f.reopen(&g).await;
    let ids: Vec<_> = s.list().await.expect("list").iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![SegmentId(2)]);
    Outcome::Passed
}

/// A quarantined segment leaves the list for good.
pub async fn store_quarantine_leaves_list<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    if !s.capabilities().quarantine {
        return Outcome::Skipped("backend has no quarantine".into());
    }
    drop(s.create(SegmentId(1), &header(1, 1)).await.expect("create"));
    s.quarantine(SegmentId(1), "test")
        .await
        .expect("quarantine");
    assert!(s.list().await.expect("list").is_empty());
    drop(s);
    let s = f.reopen(&g).await;
    assert!(s.list().await.expect("list").is_empty());
    Outcome::Passed
}

/// `sync` after `seal` succeeds and changes nothing.
pub async fn store_sync_after_seal_is_ok<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (g, s) = f.build().await;
    let h = header(1, 1);
    let w = s.create(SegmentId(1), &h).await.expect("create");
    w.append(b"payload").await.expect("append");
    let meta = w.seal().await.expect("seal");
    assert_eq!(meta.len, h.len() as u64 + 7);
    w.sync().await.expect("sync after seal");
    drop(w);
    drop(s);
    let s = f.reopen(&g).await;
    assert_eq!(
        s.read_all(SegmentId(1)).await.expect("read").len(),
        h.len() + 7
    );
    Outcome::Passed
}

/// Reading a segment that does not exist is `NotFound`.
pub async fn store_read_missing_is_not_found<F: StoreFactory>(f: Arc<F>) -> Outcome {
    let (_g, s) = f.build().await;
    let r = s.read(SegmentId(99), 0..10).await;
    assert!(matches!(r, Err(Error::NotFound { .. })), "got {r:?}");
    Outcome::Passed
}
