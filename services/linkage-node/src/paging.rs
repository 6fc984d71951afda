//! Paging of every list call (AIP-158): `page_size` and one format of
//! `page_token` for the event log and the four views alike.
//!
//! The token's format is `linkage_core::paging`'s; here it meets gRPC.

use crate::convert;
use linkage_core::limits::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use tonic::Status;

/// The page size a request asks for: 0 means [`PAGE_SIZE_DEFAULT`].
pub fn page_size(requested: i32) -> Result<usize, Status> {
    match requested {
        0 => Ok(PAGE_SIZE_DEFAULT),
        n if n < 0 || n as usize > PAGE_SIZE_MAX => {
            Err(convert::invalid("page_size", format!("must be 0..={PAGE_SIZE_MAX}")))
        }
        n => Ok(n as usize),
    }
}

/// The token of the page after the one that ended at `cursor`.
pub fn token(cursor: &str, scope: &str) -> String {
    linkage_core::paging::token(cursor, scope)
}

/// The cursor a token names, `None` for the first page (no token); a token
/// made for another scope, or not made here, is `INVALID_ARGUMENT` naming
/// `page_token`.
pub fn cursor(token: &str, scope: &str) -> Result<Option<String>, Status> {
    linkage_core::paging::cursor(token, scope).map_err(|_| bad_token())
}

/// The number a token's cursor names (a position, a seq, an offset).
pub fn numeric_cursor(token: &str, scope: &str) -> Result<Option<u64>, Status> {
    linkage_core::paging::numeric_cursor(token, scope).map_err(|_| bad_token())
}

/// The refusal of a token this request did not get.
pub fn bad_token() -> Status {
    convert::invalid("page_token", "is not a token from a previous response to this same request")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_cursor_for_its_own_scope_only() {
        let t = token("42", "p1");
        assert_eq!(cursor(&t, "p1").unwrap().as_deref(), Some("42"));
        assert_eq!(numeric_cursor(&t, "p1").unwrap(), Some(42));
        assert_eq!(cursor("", "p1").unwrap(), None);
        for (token, scope) in [(t.as_str(), "p2"), ("zz", "p1"), ("", "p1")] {
            if !token.is_empty() {
                let refused = cursor(token, scope).unwrap_err();
                assert_eq!(refused.code(), tonic::Code::InvalidArgument);
            }
        }
        // A scope with a line break in it (a keyword) still finds its cursor.
        let t = token("r0001", "results/a\nb");
        assert_eq!(cursor(&t, "results/a\nb").unwrap().as_deref(), Some("r0001"));
        assert_eq!(numeric_cursor(&token("x", "s"), "s").unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
