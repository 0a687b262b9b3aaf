use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

use super::*;

fn group(name: &str) -> RuleGroup {
    let yaml = format!("name: {name}\ninterval: 10s\nrules:\n- record: job:up:sum\n  expr: sum by (job) (up)\n");
    RuleGroup::parse(yaml.as_bytes(), &crate::template::check).unwrap()
}

#[test]
fn base64_is_the_url_safe_alphabet_with_padding() {
    assert_eq!(base64_url(b"foo"), "Zm9v");
    assert_eq!(base64_url(b"fo"), "Zm8=");
    assert_eq!(base64_url(b"f"), "Zg==");
    assert_eq!(base64_url(b""), "");
    assert_eq!(base64_url(&[0x3f, 0x3e, 0x3f]), "Pz4_");
    assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
    for s in ["", "a", "ab", "abc", "abcd", "team/api rules?", "ünïcödé"] {
        assert_eq!(unbase64_url(&base64_url(s.as_bytes())).as_deref(), Some(s.as_bytes()));
    }
    for bad in ["Zm9", "Zm9v=", "Z===", "Zm=v", "Zm9+", "Zm9/", "Zh=="] {
        assert_eq!(unbase64_url(bad), None, "{bad}");
    }
}

#[test]
fn objects_are_named_as_the_layout_says() {
    assert_eq!(
        RuleStore::object("team-a", "api", "slo").as_ref(),
        "rules/team-a/YXBp/c2xv"
    );
    let key = parse_key(&RuleStore::object("team-a", "a/b c", "g?")).unwrap();
    assert_eq!(
        (key.tenant.as_str(), key.namespace.as_str(), key.group.as_str()),
        ("team-a", "a/b c", "g?")
    );
    for other in [
        "rules/bucket-index.json",
        "rules/t/YXBp",
        "rules/t/chunks/000001",
        "blocks/t/YXBp/c2xv",
    ] {
        assert_eq!(parse_key(&Path::from(other)), None, "{other}");
    }
}

async fn round_trip(store: RuleStore) {
    assert!(store.list("team-a", None).await.unwrap().is_empty());
    store.put("team-a", "api", &group("b")).await.unwrap();
    store.put("team-a", "api", &group("a")).await.unwrap();
    store.put("team-a", "web/front", &group("c")).await.unwrap();
    store.put("team-b", "api", &group("a")).await.unwrap();

    let all = store.list("team-a", None).await.unwrap();
    let names: Vec<(&str, Vec<&str>)> = all
        .iter()
        .map(|(ns, gs)| (ns.as_str(), gs.iter().map(|g| g.name.as_str()).collect()))
        .collect();
    assert_eq!(names, [("api", vec!["a", "b"]), ("web/front", vec!["c"])]);
    assert_eq!(store.list("team-a", Some("api")).await.unwrap().len(), 1);
    assert_eq!(store.count("team-a").await.unwrap(), 3);
    assert_eq!(store.get("team-a", "api", "a").await.unwrap(), Some(group("a")));
    assert_eq!(store.get("team-a", "api", "zzz").await.unwrap(), None);
    // A prefix of a tenant's name is another tenant.
    assert!(store.list("team", None).await.unwrap().is_empty());

    // Replacing a group keeps one object.
    let mut changed = group("a");
    changed.interval_ms = Some(30_000);
    store.put("team-a", "api", &changed).await.unwrap();
    assert_eq!(store.get("team-a", "api", "a").await.unwrap(), Some(changed));
    assert_eq!(store.count("team-a").await.unwrap(), 3);

    let loaded = store.load_all().await.unwrap();
    let found: Vec<(&str, &str, &str)> = loaded
        .iter()
        .map(|g| (g.tenant.as_str(), g.file.as_str(), g.group.name.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("team-a", "api", "a"),
            ("team-a", "api", "b"),
            ("team-a", "web/front", "c"),
            ("team-b", "api", "a")
        ]
    );

    assert!(store.delete("team-a", "api", "b").await.unwrap());
    assert!(!store.delete("team-a", "api", "b").await.unwrap());
    assert!(store.delete_namespace("team-a", "api").await.unwrap());
    assert!(!store.delete_namespace("team-a", "api").await.unwrap());
    assert_eq!(store.count("team-a").await.unwrap(), 1);
    assert_eq!(store.count("team-b").await.unwrap(), 1, "other tenants keep theirs");
}

#[tokio::test]
async fn groups_round_trip_in_memory() {
    round_trip(RuleStore::new(Arc::new(InMemory::new()))).await;
}

#[tokio::test]
async fn groups_round_trip_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    round_trip(RuleStore::new(Arc::new(bucket))).await;
    // The objects are where the layout says, each one group's YAML.
    let bucket = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = RuleStore::new(bucket);
    store.put("t", "ns", &group("g")).await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("rules/t/bnM=/Zw==")).unwrap();
    assert_eq!(
        RuleGroup::parse(text.as_bytes(), &crate::template::check).unwrap(),
        group("g")
    );
}

#[tokio::test]
async fn an_object_that_no_longer_parses_is_skipped() {
    let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = RuleStore::new(bucket.clone());
    store.put("t", "ns", &group("good")).await.unwrap();
    bucket
        .put(
            &RuleStore::object("t", "ns", "bad"),
            PutPayload::from("name: bad\nrules: [{record: 'x y', expr: up}]\n"),
        )
        .await
        .unwrap();
    bucket
        .put(
            &RuleStore::object("t", "ns", "renamed"),
            PutPayload::from(group("other").to_yaml()),
        )
        .await
        .unwrap();
    let names: Vec<String> = store
        .load_all()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group.name)
        .collect();
    assert_eq!(names, ["good"]);
}
