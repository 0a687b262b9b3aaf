//! The configuration form of a per-tenant override: `tenant=value` pairs,
//! comma-separated (`team-a=30d,team-b=0s`), as one flag or YAML string, or a YAML
//! mapping (`{team-a: 30d}`). Parsed when the configuration is read, printed back in the
//! string form.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Values of one limit for the tenants that override it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerTenant<T>(BTreeMap<String, T>);

impl<T> Default for PerTenant<T> {
    fn default() -> Self {
        PerTenant(BTreeMap::new())
    }
}

impl<T> PerTenant<T> {
    pub fn get(&self, tenant: &str) -> Option<&T> {
        self.0.get(tenant)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(t, v)| (t.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> FromIterator<(String, T)> for PerTenant<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(iter: I) -> Self {
        PerTenant(iter.into_iter().collect())
    }
}

impl<T: FromStr> FromStr for PerTenant<T>
where
    T::Err: fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (tenant, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not tenant=value"))?;
            let v = v.trim().parse().map_err(|e| format!("{pair:?}: {e}"))?;
            out.insert(tenant.trim().to_string(), v);
        }
        Ok(PerTenant(out))
    }
}

impl<T: fmt::Display> fmt::Display for PerTenant<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (t, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}={v}")?;
        }
        Ok(())
    }
}

impl<T: fmt::Display> Serialize for PerTenant<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, T> Deserialize<'de> for PerTenant<T>
where
    T: FromStr + Deserialize<'de>,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            Text(String),
            Map(BTreeMap<String, T>),
        }
        match Form::<T>::deserialize(d)? {
            Form::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Form::Map(m) => Ok(PerTenant(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use pyrite_config::Duration;

    use super::*;

    #[test]
    fn the_string_form_parses_and_prints_back() {
        let p: PerTenant<Duration> = " team-a=30d , team-b=0s ".parse().unwrap();
        assert_eq!(p.get("team-a"), Some(&Duration::from_secs(30 * 86_400)));
        assert_eq!(p.get("team-b"), Some(&Duration::ZERO));
        assert_eq!(p.to_string(), "team-a=720h,team-b=0s");
        assert_eq!(p.to_string().parse::<PerTenant<Duration>>().unwrap(), p);
        assert!("".parse::<PerTenant<usize>>().unwrap().is_empty());
    }

    #[test]
    fn mistakes_name_the_pair() {
        let e = "team-a".parse::<PerTenant<usize>>().unwrap_err();
        assert_eq!(e, "\"team-a\" is not tenant=value");
        let e = "team-a=many".parse::<PerTenant<usize>>().unwrap_err();
        assert!(e.starts_with("\"team-a=many\": "), "{e}");
        let e = "t=soon".parse::<PerTenant<Duration>>().unwrap_err();
        assert!(e.contains("cannot parse \"soon\""), "{e}");
    }

    #[test]
    fn yaml_takes_the_string_or_a_mapping() {
        let p: PerTenant<usize> = serde_yaml::from_str("\"a=1,b=2\"").unwrap();
        assert_eq!(p.get("b"), Some(&2));
        let p: PerTenant<Duration> = serde_yaml::from_str("{a: 7d, b: 1h}").unwrap();
        assert_eq!(p.get("b"), Some(&Duration::from_secs(3600)));
        assert_eq!(serde_yaml::to_string(&p).unwrap().trim(), "a=168h,b=1h");
        assert!(serde_yaml::from_str::<PerTenant<usize>>("\"a\"").is_err());
    }
}
