//! Tenant identifiers, carried in the `X-Scope-OrgID` header.

/// Header naming the tenant of a request.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// Tenant used when a request carries no tenant header.
pub const DEFAULT_TENANT: &str = "anonymous";

const MAX_TENANT_LEN: usize = 150;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantError {
    #[error("tenant ID is empty")]
    Empty,
    #[error("tenant ID is {0} characters long, longer than the maximum of {MAX_TENANT_LEN}")]
    TooLong(usize),
    #[error("tenant ID {0:?} contains an unsupported character {1:?}")]
    BadChar(String, char),
    #[error("tenant ID {0:?} is not allowed")]
    Reserved(String),
}

/// Checks a tenant ID against the same rules Mimir applies: letters, digits and
/// `!-_.*'()`, at most 150 bytes, never `.` or `..` (tenants become directory names).
pub fn validate_tenant(id: &str) -> Result<(), TenantError> {
    if id.is_empty() {
        return Err(TenantError::Empty);
    }
    if id.len() > MAX_TENANT_LEN {
        return Err(TenantError::TooLong(id.len()));
    }
    if id == "." || id == ".." {
        return Err(TenantError::Reserved(id.to_string()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(*c)))
    {
        return Err(TenantError::BadChar(id.to_string(), c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_rules() {
        assert!(validate_tenant("team-a_1").is_ok());
        assert!(validate_tenant(DEFAULT_TENANT).is_ok());
        assert_eq!(validate_tenant(""), Err(TenantError::Empty));
        assert_eq!(validate_tenant(".."), Err(TenantError::Reserved("..".into())));
        assert!(matches!(validate_tenant("a/b"), Err(TenantError::BadChar(_, '/'))));
        assert!(matches!(
            validate_tenant(&"x".repeat(151)),
            Err(TenantError::TooLong(151))
        ));
    }
}
