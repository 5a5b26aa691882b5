//! Tenant names, and the per-tenant state that capabilities keep beyond one request.

/// The longest tenant name, in bytes.
pub const MAX_TENANT_BYTES: usize = 128;

/// Checks a tenant name: 1 to [`MAX_TENANT_BYTES`] bytes of ASCII letters, digits and `.` `_` `:` `@` `-` (a UUID, an
/// e-mail address or `org:team` fit). Stateful capabilities key their data by tenant, so a name must never be able to
/// reach into another tenant's key space.
///
/// # Errors
/// The name is empty, too long, or has another character; the message says which.
pub fn check_tenant(tenant: &str) -> Result<(), String> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || b"._:@-".contains(&byte);
    if tenant.is_empty() || tenant.len() > MAX_TENANT_BYTES {
        return Err(format!("a tenant name is 1 to {MAX_TENANT_BYTES} bytes long, got {}", tenant.len()));
    }
    if let Some(bad) = tenant.chars().find(|&c| !c.is_ascii() || !allowed(c as u8)) {
        return Err(format!(
            "tenant {tenant:?} contains {bad:?}: a tenant name is made of ASCII letters, digits and . _ : @ -"
        ));
    }
    Ok(())
}

/// State a capability keeps per tenant beyond one request (such as `kv`'s data), for embedders that make tenants for
/// a while and end them: an MCP server makes one per session. The methods may block on the capability's storage; call
/// them where blocking is allowed (e.g. tokio's `spawn_blocking`).
pub trait TenantState: Send + Sync {
    /// `tenant` lasts until [`end`](Self::end). Should the process stop before that, its state expires once it has
    /// been idle for the period the capability is configured with.
    fn begin_temporary(&self, tenant: &str) -> Result<(), String>;
    /// Deletes everything kept for `tenant`.
    fn end(&self, tenant: &str) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_a_documented_charset_and_length() {
        for good in [
            "default",
            "a",
            "mcp-0b7e3f7c2d9a4e1f8c6b5a4d3e2f1a0b",
            "alice@example.com",
            "org:team.v1_x",
            &"x".repeat(128),
        ] {
            assert_eq!(check_tenant(good), Ok(()), "{good}");
        }
        for bad in ["", "a\0b", "a/b", "a b", "é", "a\nb", &"x".repeat(129)] {
            assert!(check_tenant(bad).is_err(), "{bad:?}");
        }
        assert!(check_tenant("a\0b").unwrap_err().contains("'\\0'"));
    }
}
