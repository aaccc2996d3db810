//! Writes seed inputs for the fuzz targets into `seeds/`: real segments written by the engine (records,
//! an atomic batch, a sealed segment and an unsealed tail).

use wal_api::format::SEGMENT_HEADER_LEN;
use wal_api::{SegmentStore, Wal, WalOptions};
use wal_memory::MemoryStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = MemoryStore::new();
    rt.block_on(async {
        let wal = Wal::open(store.clone(), WalOptions::default().segment_size(300)).await?;
        for i in 0..12u32 {
            wal.append(format!("record {i}").as_bytes()).await?;
        }
        wal.append_batch(&[&b"batch a"[..], b"batch b", b""])
            .await?;
        wal.append(b"tail").await?;
        Ok::<(), wal_api::Error>(())
    })?;
    let decode = std::path::Path::new("seeds/segment_decode");
    let recovery = std::path::Path::new("seeds/recovery");
    std::fs::create_dir_all(decode)?;
    std::fs::create_dir_all(recovery)?;
    for m in rt.block_on(store.list())? {
        let Some(bytes) = store.segment_bytes(m.id) else {
            continue;
        };
        std::fs::write(decode.join(format!("segment-{}", m.id.0)), &bytes)?;
        for mode in 0..4u8 {
            let mut input = vec![mode];
            input.extend_from_slice(bytes.get(SEGMENT_HEADER_LEN..).unwrap_or_default());
            std::fs::write(
                recovery.join(format!("segment-{}-mode-{mode}", m.id.0)),
                input,
            )?;
        }
    }
    Ok(())
}
