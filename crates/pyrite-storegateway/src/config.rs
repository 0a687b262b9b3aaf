//! The store gateways as queriers reach them (`store_gateway:` in YAML,
//! `--store-gateway.*` flags), with their defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreGatewayConfig {
    /// The gateways' gRPC addresses (`host:port`, comma-separated). Empty: queriers read
    /// blocks from the bucket themselves.
    pub addresses: String,
    /// Gateways each block is placed on: a read survives losing all but one of them.
    pub replication_factor: usize,
}

impl Default for StoreGatewayConfig {
    fn default() -> Self {
        Self {
            addresses: String::new(),
            replication_factor: 2,
        }
    }
}

impl StoreGatewayConfig {
    pub fn addresses(&self) -> Vec<String> {
        self.addresses
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.replication_factor == 0 {
            return Err("--store-gateway.replication-factor must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_listed_and_a_block_needs_a_gateway() {
        let c = StoreGatewayConfig {
            addresses: " a:1, ,b:2".into(),
            ..Default::default()
        };
        assert_eq!(c.addresses(), ["a:1", "b:2"]);
        assert!(c.validate().is_ok());
        let none = StoreGatewayConfig {
            replication_factor: 0,
            ..c
        };
        assert!(none.validate().unwrap_err().contains("replication-factor"));
    }
}
