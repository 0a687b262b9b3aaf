//! The README's cluster recipe, run as written: three ingesters, a distributor and a
//! querier on one machine, with a short block range so that blocks are cut, uploaded
//! and flushed from the heads many times over. Every acknowledged sample must stay
//! readable through the querier before, during and after the cuts: the recipe's
//! processes share one bucket.

use std::time::Duration;

use pyrite_cluster_tests::blocks::{blocks_of, check_all, head_samples_at, push_all, tail, BLOCK_ARGS, KEPT, TENANTS};
use pyrite_cluster_tests::readme::{sh_block, Recipe};
use pyrite_cluster_tests::wait_until;

#[test]
fn the_readme_cluster_keeps_every_acknowledged_sample_readable_across_block_ranges() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let script = sh_block("A cluster")?;
    let recipe = Recipe::run(dir.path(), &script, &BLOCK_ARGS)?;
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
    Ok(())
}
