//! The README's cluster recipe, run as written: three ingesters, a distributor and a
//! querier on one machine, with a short block range so that blocks are cut, uploaded
//! and flushed from the heads many times over. Every acknowledged sample must stay
//! readable through the querier before, during and after the cuts: the recipe's
//! processes share one bucket. Then the section's later blocks run in the same shell
//! session: a fourth ingester joins, replicas and the metadata group move onto it, and
//! every sample is still there once the moves settle.

use std::time::Duration;

use pyrite_cluster_tests::blocks::{blocks_of, check_all, head_samples_at, push_all, tail, BLOCK_ARGS, KEPT, TENANTS};
use pyrite_cluster_tests::readme::{sh_blocks, Recipe};
use pyrite_cluster_tests::wait_until;
use serde_json::{json, Value};

#[test]
fn the_readme_cluster_keeps_every_acknowledged_sample_readable_across_block_ranges() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let blocks = sh_blocks("A cluster")?;
    assert_eq!(
        blocks.len(),
        3,
        "the section's blocks: start, join and move, metadata voters"
    );
    let mut recipe = Recipe::run(dir.path(), &blocks[0], &BLOCK_ARGS)?;
    for port in [9001, 9002, 9003, 9010, 9020] {
        let url = format!("http://127.0.0.1:{port}/ready");
        wait_until(&format!("{url} to answer 200"), Duration::from_secs(60), || {
            Ok(reqwest::blocking::get(&url)?.status().is_success().then_some(()))
        })
        .map_err(|e| e.context(recipe.logs()))?;
    }

    // Ten one-minute ranges of two tenants, through the distributor.
    push_all("http://127.0.0.1:9010/api/v1/push")?;
    let querier = "http://127.0.0.1:9020";
    check_all(querier)?;

    // Nine ranges are cut into the recipe's one bucket, and every ingester lets go of
    // them; the querier still finds every sample, now in blocks.
    let bucket = dir.path().join("data/blocks");
    wait_until(
        "nine blocks per tenant and flushed heads",
        Duration::from_secs(120),
        || {
            // One block per shard holding the tenant's series, for each of nine ranges.
            let cut = TENANTS.iter().all(|t| {
                let ranges: std::collections::BTreeSet<i64> = blocks_of(&bucket, t)
                    .iter()
                    .filter_map(|b| b["min_time"].as_i64())
                    .collect();
                ranges.len() == 9
            });
            let mut flushed = true;
            for port in [9001, 9002, 9003] {
                flushed &= head_samples_at(&format!("http://127.0.0.1:{port}"))? == KEPT;
            }
            Ok((cut && flushed).then_some(()))
        },
    )
    .map_err(|e| e.context(tail(&recipe.logs(), 60)))?;
    check_all(querier)?;

    // The section's next block, in the same session: a fourth ingester joins, shard 0's
    // replicas move onto it and a fifth shard is added; each request answers the new ring.
    let replies = json_replies(&recipe.then(&blocks[1])?)?;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0]["shards"][0]["replicas"], json!([2, 3, 4]), "{}", replies[0]);
    assert_eq!(replies[1]["shards"].as_array().map(Vec::len), Some(5), "{}", replies[1]);
    // And the last: the metadata group moves off founder 1.
    let replies = json_replies(&recipe.then(&blocks[2])?)?;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["meta"], json!([2, 3, 4]), "{}", replies[0]);

    // Every move settles, ingester 1 lets go of shard 0, and nothing acknowledged is lost.
    wait_until("every move to settle", Duration::from_secs(120), || {
        let r: Value = reqwest::blocking::get("http://127.0.0.1:9004/ring")?.json()?;
        let shards = r["ring"]["shards"].as_array().cloned().unwrap_or_default();
        let settled = shards.len() == 5
            && shards.iter().all(|s| s.get("leaving").is_none())
            && r["ring"].get("meta_leaving").is_none();
        Ok(settled.then_some(()))
    })
    .map_err(|e| e.context(tail(&recipe.logs(), 60)))?;
    let shard0 = dir.path().join("data/ingester-1/shards/shard-0");
    wait_until(
        "ingester 1 to delete its replica of shard 0",
        Duration::from_secs(60),
        || Ok((!shard0.exists()).then_some(())),
    )?;
    check_all(querier)?;
    Ok(())
}

/// The JSON documents a block printed, one per `curl`.
fn json_replies(printed: &str) -> anyhow::Result<Vec<Value>> {
    serde_json::Deserializer::from_str(printed)
        .into_iter()
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| anyhow::anyhow!("{e}: the block printed {printed:?}"))
}
