//! Watching the API server: one list-and-watch stream per resource kind and namespace
//! (kube's runtime watcher, which lists again after `410 Gone` and backs off on errors),
//! merged into one loop that keeps every object in a [`Store`] and rebuilds the groups an
//! event can change.
//!
//! The invariant: nothing is sent until every stream has listed once; after that each
//! message holds exactly the groups that differ from what was last sent, and a group
//! whose object is gone is sent once with no targets. The loop owns all state and only
//! awaits the streams and the sender, so aborting it at any await is safe.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::{endpoints, endpointslice, ingress, meta, node, pod, service, Role};
use crate::{TargetGroup, Updates};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Node,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

#[derive(Clone, Debug)]
pub(crate) enum Obj {
    Node(Box<Node>),
    Pod(Box<Pod>),
    Service(Box<Service>),
    Endpoints(Box<Endpoints>),
    EndpointSlice(Box<EndpointSlice>),
    Ingress(Box<Ingress>),
}

impl Obj {
    fn kind(&self) -> Kind {
        match self {
            Obj::Node(_) => Kind::Node,
            Obj::Pod(_) => Kind::Pod,
            Obj::Service(_) => Kind::Service,
            Obj::Endpoints(_) => Kind::Endpoints,
            Obj::EndpointSlice(_) => Kind::EndpointSlice,
            Obj::Ingress(_) => Kind::Ingress,
        }
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Obj::Node(o) => &o.metadata,
            Obj::Pod(o) => &o.metadata,
            Obj::Service(o) => &o.metadata,
            Obj::Endpoints(o) => &o.metadata,
            Obj::EndpointSlice(o) => &o.metadata,
            Obj::Ingress(o) => &o.metadata,
        }
    }

    /// `<namespace>/<name>`, or the name alone for a node.
    fn key(&self) -> String {
        match self {
            Obj::Node(n) => meta::name(&n.metadata).to_string(),
            o => meta::key(o.meta()),
        }
    }
}

/// Every object the streams have shown, by kind and key.
#[derive(Default)]
pub(crate) struct Store {
    objects: BTreeMap<(Kind, String), Obj>,
}

impl Store {
    fn get(&self, kind: Kind, key: &str) -> Option<&Obj> {
        self.objects.get(&(kind, key.to_string()))
    }

    pub(crate) fn pod(&self, key: &str) -> Option<&Pod> {
        match self.get(Kind::Pod, key) {
            Some(Obj::Pod(p)) => Some(p),
            _ => None,
        }
    }

    pub(crate) fn service(&self, key: &str) -> Option<&Service> {
        match self.get(Kind::Service, key) {
            Some(Obj::Service(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        match self.get(Kind::Node, name) {
            Some(Obj::Node(n)) => Some(n),
            _ => None,
        }
    }

    fn keys(&self, kind: Kind) -> impl Iterator<Item = &String> {
        self.objects
            .range((kind, String::new())..)
            .take_while(move |((k, _), _)| *k == kind)
            .map(|((_, key), _)| key)
    }

    /// Replaces the objects one stream covers (a kind, in one namespace or all).
    fn replace(&mut self, kind: Kind, namespace: Option<&str>, fresh: BTreeMap<String, Obj>) {
        let covered = |key: &str| namespace.is_none_or(|ns| key.split_once('/').is_some_and(|(n, _)| n == ns));
        self.objects.retain(|(k, key), _| *k != kind || !covered(key));
        self.objects.extend(fresh.into_iter().map(|(key, o)| ((kind, key), o)));
    }
}

/// One list-and-watch: a kind, a namespace (`None`: all, or cluster-scoped nodes) and
/// the selectors to pass on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamSpec {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub label: String,
    pub field: String,
}

type Stream = BoxStream<'static, (usize, Result<Event<Obj>, watcher::Error>)>;

fn open(client: &Client, spec: &StreamSpec, i: usize) -> Stream {
    let mut cfg = watcher::Config::default();
    if !spec.label.is_empty() {
        cfg = cfg.labels(&spec.label);
    }
    if !spec.field.is_empty() {
        cfg = cfg.fields(&spec.field);
    }
    let ns = spec.namespace.as_deref();
    let s = match spec.kind {
        Kind::Node => typed(Api::<Node>::all(client.clone()), cfg, |o| Obj::Node(Box::new(o))),
        Kind::Pod => typed(namespaced(client, ns), cfg, |o| Obj::Pod(Box::new(o))),
        Kind::Service => typed(namespaced(client, ns), cfg, |o| Obj::Service(Box::new(o))),
        Kind::Endpoints => typed(namespaced(client, ns), cfg, |o| Obj::Endpoints(Box::new(o))),
        Kind::EndpointSlice => typed(namespaced(client, ns), cfg, |o| Obj::EndpointSlice(Box::new(o))),
        Kind::Ingress => typed(namespaced(client, ns), cfg, |o| Obj::Ingress(Box::new(o))),
    };
    s.map(move |e| (i, e)).boxed()
}

fn namespaced<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn typed<K>(
    api: Api<K>,
    cfg: watcher::Config,
    wrap: fn(K) -> Obj,
) -> BoxStream<'static, Result<Event<Obj>, watcher::Error>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, cfg)
        .default_backoff()
        .map(move |r| {
            r.map(|e| match e {
                Event::Apply(o) => Event::Apply(wrap(o)),
                Event::Delete(o) => Event::Delete(wrap(o)),
                Event::Init => Event::Init,
                Event::InitApply(o) => Event::InitApply(wrap(o)),
                Event::InitDone => Event::InitDone,
            })
        })
        .boxed()
}

/// Which primary objects an event may have changed.
enum Touched {
    All,
    Key(String),
    Namespace(String),
}

pub(crate) struct Engine {
    pub role: Role,
    pub attach_node: bool,
    pub streams: Vec<StreamSpec>,
}

impl Engine {
    pub(crate) async fn run(self, client: Client, updates: Updates) {
        let primary = self.role.kind();
        let mut merged = stream::select_all(self.streams.iter().enumerate().map(|(i, s)| open(&client, s, i)));
        let mut store = Store::default();
        let mut listing: Vec<Option<BTreeMap<String, Obj>>> = vec![None; self.streams.len()];
        let mut synced = vec![false; self.streams.len()];
        let mut sent: BTreeMap<String, TargetGroup> = BTreeMap::new();
        let mut started = false;
        while let Some((i, event)) = merged.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(role = self.role.as_str(), stream = ?self.streams[i], error = %e, "kubernetes watch failed; retrying");
                    continue;
                }
            };
            let touched = match event {
                Event::Init => {
                    listing[i] = Some(BTreeMap::new());
                    continue;
                }
                Event::InitApply(o) => {
                    listing[i].get_or_insert_with(BTreeMap::new).insert(o.key(), o);
                    continue;
                }
                Event::InitDone => {
                    let spec = &self.streams[i];
                    let fresh = listing[i].take().unwrap_or_default();
                    store.replace(spec.kind, spec.namespace.as_deref(), fresh);
                    synced[i] = true;
                    Touched::All
                }
                Event::Apply(o) => {
                    let t = self.touched(primary, &o);
                    store.objects.insert((o.kind(), o.key()), o);
                    t
                }
                Event::Delete(o) => {
                    let t = self.touched(primary, &o);
                    store.objects.remove(&(o.kind(), o.key()));
                    t
                }
            };
            if !synced.iter().all(|s| *s) {
                continue;
            }
            let keys: BTreeSet<String> = match touched {
                _ if !started => store.keys(primary).cloned().collect(),
                Touched::All => store.keys(primary).chain(sent.keys()).cloned().collect(),
                Touched::Key(k) => BTreeSet::from([k]),
                Touched::Namespace(ns) => {
                    let prefix = format!("{ns}/");
                    store
                        .keys(primary)
                        .chain(sent.keys())
                        .filter(|k| k.starts_with(&prefix))
                        .cloned()
                        .collect()
                }
            };
            let mut out = Vec::new();
            for key in keys {
                match self.build(&store, primary, &key) {
                    Some(g) => {
                        if sent.get(&key) != Some(&g) {
                            sent.insert(key, g.clone());
                            out.push(g);
                        }
                    }
                    None => {
                        if sent.remove(&key).is_some() {
                            out.push(TargetGroup {
                                source: self.role.source(&key),
                                ..TargetGroup::default()
                            });
                        }
                    }
                }
            }
            if (!started || !out.is_empty()) && updates.send(out).await.is_err() {
                return;
            }
            started = true;
        }
    }

    fn touched(&self, primary: Kind, o: &Obj) -> Touched {
        let kind = o.kind();
        if kind == primary {
            return Touched::Key(o.key());
        }
        match kind {
            Kind::Node => Touched::All,
            Kind::Service if primary == Kind::Endpoints => Touched::Key(o.key()),
            _ => Touched::Namespace(meta::namespace(o.meta()).to_string()),
        }
    }

    fn build(&self, store: &Store, primary: Kind, key: &str) -> Option<TargetGroup> {
        Some(match store.get(primary, key)? {
            Obj::Node(n) => node::build(n),
            Obj::Pod(p) => {
                let node_name = p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("");
                let node = self.attach_node.then(|| store.node(node_name));
                pod::build(p, node)
            }
            Obj::Service(s) => service::build(s),
            Obj::Endpoints(e) => endpoints::build(e, store, self.attach_node),
            Obj::EndpointSlice(e) => endpointslice::build(e, store, self.attach_node),
            Obj::Ingress(i) => ingress::build(i),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str) -> Obj {
        Obj::Pod(Box::new(
            serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": ns}})).unwrap(),
        ))
    }

    #[test]
    fn a_new_listing_replaces_only_what_its_stream_covers() {
        let mut store = Store::default();
        for o in [pod("a", "p1"), pod("a", "p2"), pod("b", "p1")] {
            store.objects.insert((o.kind(), o.key()), o);
        }
        let fresh = BTreeMap::from([("a/p3".to_string(), pod("a", "p3"))]);
        store.replace(Kind::Pod, Some("a"), fresh);
        let keys: Vec<&String> = store.keys(Kind::Pod).collect();
        assert_eq!(keys, ["a/p3", "b/p1"]);
        store.replace(Kind::Pod, None, BTreeMap::new());
        assert_eq!(store.keys(Kind::Pod).count(), 0);
    }
}
