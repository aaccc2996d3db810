//! The typed view: every reader decodes what the writers encoded, and a record that does not
//! decode is an error naming its LSN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "bincode")]

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use wal_api::{BincodeCodec, Error, Lsn, LsnRange, TypedWal, WalOptions};
use wal_memory::MemoryStore;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    term: u64,
    index: Lsn,
    span: LsnRange,
}

fn entry(i: u64) -> Entry {
    Entry {
        term: i * 10,
        index: Lsn(i),
        span: LsnRange {
            first: Lsn(i),
            last: Lsn(i + 1),
        },
    }
}

async fn log() -> TypedWal<Entry, MemoryStore> {
    TypedWal::open(MemoryStore::new(), WalOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn typed_values_round_trip_through_every_reader() {
    let log = log().await;
    assert_eq!(log.append(&entry(1)).await.unwrap(), Lsn(1));
    let r = log.append_batch(&[entry(2), entry(3)]).await.unwrap();
    assert_eq!((r.first, r.last), (Lsn(2), Lsn(3)));
    let t = log.enqueue(&entry(4)).await.unwrap();
    log.wal().wait_durable(t).await.unwrap();

    let read: Vec<_> = log.read(..).map(|r| r.unwrap()).collect().await;
    let want: Vec<_> = (1..=4).map(|i| (Lsn(i), entry(i))).collect();
    assert_eq!(read, want);

    let mut replayed = Vec::new();
    let n = log
        .replay(Lsn(2)..=Lsn(3), |l, v| replayed.push((l, v)))
        .await;
    assert_eq!(n.unwrap(), 2);
    assert_eq!(replayed, want[1..3]);

    assert_eq!(log.get(Lsn(3)).await.unwrap(), Some(entry(3)));
    assert_eq!(log.get(Lsn(5)).await.unwrap(), None);
    assert_eq!(log.last().await.unwrap(), Some((Lsn(4), entry(4))));

    let mut tail = log.tail(Lsn(4));
    assert_eq!(tail.next().await.unwrap().unwrap(), (Lsn(4), entry(4)));
    log.append(&entry(5)).await.unwrap();
    assert_eq!(tail.next().await.unwrap().unwrap(), (Lsn(5), entry(5)));
}

#[tokio::test]
async fn undecodable_record_ends_the_stream_with_its_lsn() {
    let log = log().await;
    log.append(&entry(1)).await.unwrap();
    log.wal().append(b"\xff\xff not an entry").await.unwrap();
    log.append(&entry(3)).await.unwrap();

    let items: Vec<_> = log.read(..).collect().await;
    assert_eq!(items.len(), 2, "the stream ends at the bad record");
    assert!(items[0].is_ok());
    match &items[1] {
        Err(e @ Error::Codec { lsn, source }) => {
            assert_eq!(*lsn, Some(Lsn(2)));
            let text = e.to_string();
            assert!(
                text.starts_with("codec error in the record at LSN 2: "),
                "{text}"
            );
            // The codec's own error is kept as the source, and the message ends with it.
            let inner = std::error::Error::source(e).expect("codec errors keep their source");
            assert_eq!(inner.to_string(), source.to_string());
            assert!(text.ends_with(&inner.to_string()), "{text}");
            assert!(
                source
                    .downcast_ref::<bincode::error::DecodeError>()
                    .is_some(),
                "the source is bincode's own error: {source:?}"
            );
        }
        other => panic!("expected a codec error, got {other:?}"),
    }
    let mut applied = 0;
    let err = log.replay(.., |_, _| applied += 1).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Codec {
            lsn: Some(Lsn(2)),
            ..
        }
    ));
    assert_eq!(applied, 1);
    assert!(matches!(log.get(Lsn(2)).await, Err(Error::Codec { .. })));
}

#[tokio::test]
async fn try_replay_stops_at_the_first_apply_error() {
    let log = log().await;
    for i in 1..=3 {
        log.append(&entry(i)).await.unwrap();
    }
    let mut seen = Vec::new();
    let err = log
        .try_replay(.., |l, _| {
            seen.push(l);
            if l == Lsn(2) {
                Err(Error::InvalidArgument("stop".into()))
            } else {
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert_eq!(seen, [Lsn(1), Lsn(2)]);
}

#[tokio::test]
async fn open_replay_decodes_each_value_once_after_a_crash() {
    let store = MemoryStore::new();
    let log: TypedWal<Entry, MemoryStore> = TypedWal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    for i in 1..=4 {
        log.append(&entry(i)).await.unwrap();
    }
    drop(log); // no close: the segment stays unsealed
    let mut seen = Vec::new();
    let (log, applied) = TypedWal::<Entry, MemoryStore>::open_replay(
        store.crash(7),
        WalOptions::default(),
        Lsn(2),
        |l, v| {
            seen.push((l, v));
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(applied, 3);
    let want: Vec<_> = (2..=4).map(|i| (Lsn(i), entry(i))).collect();
    assert_eq!(seen, want);
    assert_eq!(
        log.wal().recovery_report().replayed,
        3,
        "recovery handed the values out as it checked them"
    );
    assert_eq!(log.append(&entry(5)).await.unwrap(), Lsn(5));

    // A record that does not decode ends the open with an error naming its LSN.
    let store = MemoryStore::new();
    let log: TypedWal<Entry, MemoryStore> = TypedWal::open(store.clone(), WalOptions::default())
        .await
        .unwrap();
    log.append(&entry(1)).await.unwrap();
    log.wal().append(b"\xff\xff not an entry").await.unwrap();
    log.append(&entry(3)).await.unwrap();
    drop(log);
    let mut seen = Vec::new();
    let err = TypedWal::<Entry, MemoryStore>::open_replay(
        store.crash(7),
        WalOptions::default(),
        Lsn(1),
        |l, _| {
            seen.push(l);
            Ok(())
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Codec {
                lsn: Some(Lsn(2)),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(seen, [Lsn(1)]);
}

#[tokio::test]
async fn empty_log_has_no_last_and_trimmed_get_is_an_error() {
    let store = MemoryStore::new();
    let opts = WalOptions::default().first_lsn(Lsn(50));
    let log: TypedWal<Entry, _, BincodeCodec> = TypedWal::open(store, opts).await.unwrap();
    assert_eq!(log.last().await.unwrap(), None);
    assert!(matches!(
        log.get(Lsn(49)).await,
        Err(Error::Trimmed {
            requested: Lsn(49),
            first: Lsn(50)
        })
    ));
    assert_eq!(log.append(&entry(50)).await.unwrap(), Lsn(50));
    assert_eq!(log.last().await.unwrap(), Some((Lsn(50), entry(50))));
}

#[cfg(feature = "postcard")]
#[tokio::test]
async fn postcard_codec_is_a_drop_in() {
    let wal = wal_api::Wal::open(MemoryStore::new(), WalOptions::default())
        .await
        .unwrap();
    let log = TypedWal::with_codec(wal, wal_api::PostcardCodec);
    log.append(&entry(1)).await.unwrap();
    assert_eq!(log.get(Lsn(1)).await.unwrap(), Some(entry(1)));
}
